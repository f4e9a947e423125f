"""What a search shows while it runs: the live panel, plain log lines, and Keras bars only with --verbose."""

from __future__ import annotations

import io
import time

from helpers import run_vautoml
from rich.console import Console

from vertical_automl.search_engine.progress import LiveProgress, LogProgress
from vertical_automl.search_engine.records import TrialRecord


def record(trial_id, status="COMPLETED", score=None, error=None):
    return TrialRecord(trial_id, status, score, 3 if score else None, 4, 1.5, {}, error)


def test_live_panel_shows_trial_count_epoch_best_score_time_left_and_finished_trials():
    console = Console(file=io.StringIO(), width=120, force_terminal=True, color_system=None)
    live = LiveProgress(console)
    live.search_started(5, "val_accuracy", "max", time.monotonic() + 100, finished=[record("0", score=0.5)])
    live.trial_ended(record("1", score=0.9))
    live.trial_ended(record("2", status="FAILED", error="non-finite loss"))
    live.trial_started("3", {})
    live.epoch_ended("3", 2, 10, {"loss": 0.3})
    live.search_ended()
    snapshot = Console(file=io.StringIO(), width=160, color_system=None)
    snapshot.print(live)
    text = snapshot.file.getvalue()
    assert "trial 4 of 5" in text and "s of the time budget left" in text
    assert "trial 3: epoch 2/10" in text and "best val_accuracy 0.9000 (trial 1)" in text
    assert all(row in " ".join(text.split()) for row in ("0 COMPLETED 0.5000", "1 COMPLETED 0.9000", "2 FAILED -"))
    log = console.file.getvalue()  # finished trials are also printed above the panel, for the scroll-back
    assert "trial 1 (2/5)  COMPLETED val_accuracy=0.9000" in log and "FAILED" in log and "non-finite loss" in log


def test_log_progress_prints_one_line_per_trial():
    stream = io.StringIO()
    progress = LogProgress(stream)
    progress.message("tiny-image (multiclass): 10 train")
    progress.search_started(2, "val_loss", "min", None, [])
    progress.epoch_ended("0", 1, 3, {})
    progress.trial_ended(record("0", score=0.25))
    progress.trial_ended(record("2", score=0.5))  # the retry of a lost trial 1, in a parallel search
    assert stream.getvalue().splitlines() == [
        "tiny-image (multiclass): 10 train",
        "trial 0 (1/2)  COMPLETED val_loss=0.2500  epochs=4  1.5s",
        "trial 2 (3)  COMPLETED val_loss=0.5000  epochs=4  1.5s",
    ]


def test_keras_epoch_bars_only_with_verbose(tmp_path):
    args = ("search", "--plugin", "tiny-table", "--max-trials", "1", "--epochs", "2", "--folds", "1")  # one split
    verbose = run_vautoml(*args, "--verbose", "--registry", str(tmp_path / "a"))
    quiet = run_vautoml(*args, "--quiet", "--registry", str(tmp_path / "b"))
    assert verbose.returncode == 0 and quiet.returncode == 0, verbose.stderr + quiet.stderr
    assert "Epoch 1/2" in verbose.stdout and "/step" in verbose.stdout
    assert "Epoch 1/2" not in quiet.stdout + quiet.stderr and "/step" not in quiet.stdout + quiet.stderr
    assert "trial 0 (1/1)  COMPLETED" in quiet.stderr and quiet.stdout.startswith("run ")
