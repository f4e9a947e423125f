"""Faults around a run: a second process, a full disk, an unwritable vertical folder, trials that all fail.

Each case ends in one readable line and a known exit code, and nothing of a
finished run or of a resumable one is lost.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import digits_plugins, invoke_vautoml, only_run, run_vautoml, start_vautoml

import vertical_automl.cli as cli
import vertical_automl.pipeline.run as pipeline
from vertical_automl.errors import PluginError

SEARCH = ["search", "--plugin", "tiny-image", "--max-trials", "3", "--epochs", "3", "--quiet"]


def start(registry: Path, *extra: str) -> subprocess.Popen:
    return start_vautoml(*SEARCH, "--registry", str(registry), *extra)


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) >= 1 and lines[-1].startswith("Error: ") and "Fix: " in lines[-1], stderr
    assert "Traceback" not in stderr, stderr
    return lines[-1]


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.02)


def test_a_second_process_refuses_a_live_run_and_touches_nothing(tmp_path):
    registry = tmp_path / "registry"
    first = start(registry, "--run-name", "shared")
    wait_for(registry / ".runs" / "shared" / "logs" / "trial_0.csv", first)
    first.send_signal(signal.SIGSTOP)  # mid-search, holding its lock, however slowly the others start
    try:
        for args in ([*SEARCH, "--run-name", "shared"], ["search", "--resume", "shared"]):
            second = run_vautoml(*args, "--registry", str(registry))
            assert second.returncode == 2, second.stderr
            line = one_error_line(second.stderr)
            assert f"run 'shared' is in use by process {first.pid}" in line and "nothing was changed" in line
    finally:
        first.send_signal(signal.SIGCONT)
    _, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    bundle = only_run(registry)
    trials = json.loads((bundle / "trials.json").read_text())
    assert [t["status"] for t in trials] == ["COMPLETED"] * 3  # the refused processes took nothing from it


def test_two_searches_started_together_with_one_run_name_publish_once(tmp_path):
    registry = tmp_path / "registry"
    processes = [start(registry, "--run-name", "twin") for _ in range(2)]
    results = [(p.wait(timeout=300), p.communicate()[1]) for p in processes]
    assert sorted(code for code, _ in results) == [0, 2], results
    refused = next(stderr for code, stderr in results if code == 2)
    line = one_error_line(refused)
    assert "is in use by" in line or "already finished" in line  # it lost the race, or started after the end
    bundle = only_run(registry)
    assert [t["status"] for t in json.loads((bundle / "trials.json").read_text())] == ["COMPLETED"] * 3
    assert all((bundle / name).exists() for name in json.loads((bundle / "manifest.json").read_text())["files"])


def test_a_file_where_the_vertical_folder_belongs_fails_before_training(tmp_path):
    registry = tmp_path / "registry"
    registry.mkdir()
    (registry / "tiny-image").write_text("not a folder")
    done = run_vautoml(*SEARCH, "--registry", str(registry))
    assert done.returncode == 2
    line = one_error_line(done.stderr)
    assert f"'{registry / 'tiny-image'}' is not a writable folder" in line
    assert "trial" not in done.stderr  # refused before the search started
    assert (
        sorted(p.name for p in registry.iterdir()) == ["tiny-image"]
        and (registry / "tiny-image").read_text() == "not a folder"
    )


@pytest.fixture
def small_disk(tmp_path):
    """A 24 MiB tmpfs for the registry (root only); skipped where it cannot be mounted."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs here ({done.stderr.strip() or 'mount failed'}): the disk-full tests need root"
        )
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """Fill ``disk`` up to ``leave`` free bytes with one file, removed later to free the space again."""
    filler = disk / "filler"
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    with open(filler, "wb") as handle:
        handle.truncate(0)
        chunk = b"\0" * 2**20
        remaining = max(0, free - leave)
        while remaining > 0:
            remaining -= handle.write(chunk[: min(len(chunk), remaining)])
    return filler


def wait_for_line(process: subprocess.Popen, text: str, timeout: float = 120) -> list[str]:
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        assert line or process.poll() is None, "".join(seen)
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"'{text}' did not appear: {''.join(seen)}")


@pytest.mark.parametrize("when", ["trial", "export"])
def test_a_full_disk_keeps_the_run_and_resume_finishes_it(small_disk, when):
    registry = small_disk / "registry"
    process = start(registry, "--run-name", "tight")
    wait_for_line(process, "trial 0 (" if when == "trial" else "refitting")  # the first trial ended / the search ended
    process.send_signal(signal.SIGSTOP)  # the disk fills before its next write, however busy the machine
    filler = fill(small_disk, leave=64 * 1024)
    process.send_signal(signal.SIGCONT)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 6, stderr
    line = one_error_line(stderr)
    assert f"the disk holding the registry '{registry}' (mounted at {small_disk}" in line
    assert "run 'tight' is kept" in line and "vautoml search --resume tight" in line
    run = registry / ".runs" / "tight"
    assert (run / "run.json").exists() and not (run / "bundle").exists()
    assert not [p for p in registry.glob("tiny-image/*")]  # nothing half-published
    filler.unlink()
    resumed = invoke_vautoml("search", "--resume", "tight", "--registry", str(registry))
    assert resumed.returncode == 0, resumed.stderr
    bundle = only_run(registry)
    assert [t["status"] for t in json.loads((bundle / "trials.json").read_text())] == ["COMPLETED"] * 3
    if when == "export":  # the finished run, on the same full disk: `vautoml export` and `predict --output`
        before = {p.name: p.read_bytes() for p in bundle.iterdir() if p.is_file()}
        images = digits_npz(small_disk.parent)
        filler = fill(small_disk, leave=0)
        for args in (
            ["export", "tight", "--format", "weights"],
            ["predict", "--model", "tight", "--data", str(images), "--output", str(small_disk / "out.csv")],
        ):
            done = invoke_vautoml(*args, "--registry", str(registry))
            assert done.returncode == 6, done.stderr
            assert "is full" in one_error_line(done.stderr)
        assert {p.name: p.read_bytes() for p in bundle.iterdir() if p.is_file()} == before
        assert sorted(p.name for p in bundle.parent.iterdir()) == ["tight"]  # no temporary beside it either
        filler.unlink()
        assert invoke_vautoml("export", "tight", "--format", "weights", "--registry", str(registry)).returncode == 0


def digits_npz(folder: Path) -> Path:
    from sklearn.datasets import load_digits

    digits = load_digits()
    path = folder / "digits.npz"
    np.savez(path, x=digits.images[:50], y=digits.target[:50])
    return path


def nan_model(hp, info):
    import keras

    inputs = keras.Input(info.input_shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(hp.Int("units", 2, 64))(x)
    x = keras.layers.Rescaling(float("inf"))(x)
    model = keras.Model(inputs, keras.layers.Dense(info.num_classes, activation="softmax")(x))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def uncompiled_model(hp, info):
    import keras

    inputs = keras.Input(info.input_shape)
    return keras.Model(
        inputs, keras.layers.Dense(info.num_classes, activation="softmax")(keras.layers.Flatten()(inputs))
    )


def not_a_model(hp, info):
    return {"layers": 3}


def search_with(monkeypatch, tmp_path, builder, *args: str):
    plugins = digits_plugins("throwaway", builder)
    monkeypatch.setattr(cli, "get_plugins", lambda: plugins)
    monkeypatch.setattr(pipeline, "get_plugins", lambda: plugins)
    registry = tmp_path / "registry"
    result = CliRunner().invoke(
        cli.main, ["search", "--plugin", "throwaway", *args, "--quiet", "--registry", str(registry)]
    )
    return result, registry


def test_a_non_finite_loss_in_every_trial_is_one_line_and_every_error_is_kept(monkeypatch, tmp_path):
    result, registry = search_with(
        monkeypatch, tmp_path, nan_model, "--max-trials", "3", "--epochs", "2", "--run-name", "nan"
    )
    assert result.exit_code == 4, result.output
    line = one_error_line(result.stderr)
    trials_file = registry / ".failed" / "nan" / "trials.json"
    assert "all 3 trial(s) failed; first error: FailedTrialError: non-finite loss" in line and str(trials_file) in line
    trials = json.loads(trials_file.read_text())
    assert len(trials) == 3 and all(t["status"] == "FAILED" and "non-finite loss" in t["error"] for t in trials)
    assert not (registry / ".runs").exists() and not list(registry.glob("throwaway/*"))


@pytest.mark.parametrize(
    "builder, message",
    [
        (uncompiled_model, "build_model returned a model that is not compiled"),
        (not_a_model, "build_model returned dict, not a keras.Model"),
    ],
)
def test_a_builder_returning_no_usable_model_is_a_search_error(monkeypatch, tmp_path, builder, message):
    result, registry = search_with(monkeypatch, tmp_path, builder, "--max-trials", "2", "--epochs", "1")
    assert result.exit_code == 4, result.output
    line = one_error_line(result.stderr)
    assert f"the throwaway model could not be built: TypeError: {message}" in line
    assert not registry.exists()


def test_values_float32_cannot_carry_are_refused_before_training(tmp_path):
    x = np.random.default_rng(0).random((60, 8, 8))
    x[4, 2, 2] = 1e39  # finite in float64, infinite in float32
    np.savez(tmp_path / "huge.npz", x=x, y=np.arange(60) % 2)
    rows = ["a,b,target", *(f"{i % 7},{i % 5},{i % 2}" for i in range(60)), "1e39,2,1"]
    (tmp_path / "huge.csv").write_text("\n".join(rows) + "\n")
    for plugin, data in (("tiny-image", "huge.npz"), ("tiny-table", "huge.csv")):
        done = run_vautoml(
            "search", "--plugin", plugin, "--data", str(tmp_path / data), "--registry", str(tmp_path / "registry")
        )
        assert done.returncode == 2, done.stderr
        line = one_error_line(done.stderr)
        assert "beyond float32's range" in line and ("1e+39" in line or "1e39" in line), line
    # A regression target of 1e30 fits float32, but its squared errors do not: every trial would diverge.
    (tmp_path / "price.csv").write_text("a,target\n" + "".join(f"{i % 7},{(i + 1) * 1e28}\n" for i in range(60)))
    done = run_vautoml(
        "search",
        "--plugin",
        "tiny-table",
        "--data",
        str(tmp_path / "price.csv"),
        "--registry",
        str(tmp_path / "registry"),
    )
    assert done.returncode == 2 and "the target of the training data" in one_error_line(done.stderr)
    assert "reaches 6e+29, more than float32 training handles" in done.stderr
    assert not (tmp_path / "registry").exists()


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory):
    """A run folder left by a search killed (SIGKILL) in its third trial."""
    registry = tmp_path_factory.mktemp("killed") / "registry"
    process = start(registry, "--run-name", "k", "--max-trials", "6")
    wait_for(registry / ".runs" / "k" / "logs" / "trial_2.csv", process)
    process.kill()
    process.wait()
    return registry


DAMAGE = [
    ("run.json", "[1, 2]", "run.json holds a JSON list, not an object"),
    ("run.json", '{"plugin": "tiny-image"}', "run.json lacks cost_fn, cost_fp, data"),
    ("trials_state.json", "{bad", "trials_state.json is not valid JSON"),
    ("tuner/search/oracle.json", "{bad", "tuner/search/oracle.json is not valid JSON"),
    ("tuner/search/trial_0/trial.json", "", "tuner/search/trial_0/trial.json is not valid JSON"),
]


@pytest.mark.parametrize("name, text, reason", DAMAGE, ids=[d[0] + ":" + d[2].split()[-1] for d in DAMAGE])
def test_a_damaged_run_folder_is_named_not_blamed_on_the_plugin(killed_run, tmp_path, name, text, reason):
    import shutil

    registry = tmp_path / "registry"
    shutil.copytree(killed_run, registry)
    (registry / ".runs" / "k" / name).write_text(text)
    done = invoke_vautoml("search", "--resume", "k", "--registry", str(registry))
    assert done.returncode == 2, done.stderr
    line = one_error_line(done.stderr)
    assert f"the run folder '{registry / '.runs' / 'k'}' is damaged ({reason}" in line, line
    assert line.endswith("and start the run again")  # not also told to resume it
    assert (registry / ".runs" / "k" / name).read_text() == text  # left for the user to look at or remove


def small_model(hp, info):
    import keras

    from vertical_automl import heads

    inputs = keras.Input(info.input_shape)
    x = keras.layers.Dense(hp.Choice("units", [8, 16]), activation="relu")(
        keras.layers.Flatten()(keras.layers.Rescaling(1 / 16)(inputs))
    )
    model = keras.Model(inputs, heads.output(x, info))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def sections_plugins(report_sections):
    """A throwaway digits vertical whose report sections are ``report_sections``."""
    from throwaway_verticals.image import load_digits

    from vertical_automl import Vertical, hookimpl
    from vertical_automl.plugins import InstalledPlugins

    class SectionsPlugin:
        @hookimpl
        def register_verticals(self, register):
            register(
                Vertical(
                    name="sections",
                    description="",
                    tasks=("multiclass",),
                    build_model=small_model,
                    default_data=load_digits,
                    report_sections=report_sections,
                )
            )

    return InstalledPlugins({"VAUTOML_LOAD_PLUGINS": ""}, plugins=[("sections", SectionsPlugin())])


def test_a_failure_after_the_search_keeps_the_run_and_resume_publishes_it(tmp_path):
    from vertical_automl.pipeline import resume, search

    def broken(evaluation):
        raise RuntimeError("section bug")

    registry = tmp_path / "registry"
    with pytest.raises(
        PluginError, match="report_sections of the 'sections' vertical failed: RuntimeError: section bug"
    ) as raised:
        search("sections", plugins=sections_plugins(broken), max_trials=2, epochs=1, registry=registry, run_name="keep")
    assert raised.value.__notes__ == [
        "Run 'keep' is kept with its finished trials: continue it with 'vautoml search --resume keep'"
    ]
    run = registry / ".runs" / "keep"
    assert (run / "run.json").exists() and not (run / "bundle").exists() and not list(registry.glob("sections/*"))
    result = resume("keep", registry=registry, plugins=sections_plugins(lambda evaluation: []))
    assert (
        result.report["search"]["trials"] == {"total": 2, "COMPLETED": 2} and result.report["search"]["resumed"] is True
    )
    assert only_run(registry) == registry / "sections" / "keep"
