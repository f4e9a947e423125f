"""Test helpers: run the CLI in a fresh process, run code where vautoml is blocked, find shared data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("VAUTOML_SHARED_DATA", REPO.parent / "shared" / "data"))
# The core's tests use these verticals, not the built-in ones: a folder holding the package and its dist-info,
# so on sys.path or PYTHONPATH (tests/conftest.py puts it on both) they are installed plugins like any other.
VERTICALS = REPO / "tests" / "verticals"
THROWAWAY = "throwaway-verticals"  # their distribution: VAUTOML_LOAD_PLUGINS=throwaway-verticals loads only them

# Imported into a subprocess to prove a bundle stands alone: any import of
# vautoml code fails there, as it would in an app that never installed it.
BLOCK_VAUTOML = textwrap.dedent(
    """
    import sys
    class _BlockVautoml:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "vertical_automl" or name.startswith("vautoml_"):
                raise ImportError(f"{name} is blocked in this process")
            return None
    sys.meta_path.insert(0, _BlockVautoml())
    """
)


def shared_dataset(name: str) -> Path:
    """Path of a dataset in ../shared/data, or skip where this clone has none."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"shared dataset {name} not found at {path} (a plain clone has no ../shared/data)")
    return path


def run_vautoml(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: int = 600
) -> subprocess.CompletedProcess:
    """Run the real console entry point in a fresh process.

    A ``PYTHONPATH`` in ``env`` goes before the inherited one rather than
    replacing it, so the process still finds the test verticals.
    """
    return subprocess.run(
        [sys.executable, "-m", "vertical_automl.cli", *args],
        capture_output=True,
        text=True,
        env=_with_environment(env),
        cwd=cwd,
        timeout=timeout,
    )


def invoke_vautoml(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the CLI in this process with Click's runner, as a ``CompletedProcess`` like :func:`run_vautoml` gives.

    For commands whose output a test checks, not their process: a fresh
    process pays Keras's import first (7 s here, more on 2 busy cores), which
    made such calls most of the suite's time.  An exception that escapes the
    CLI is appended to stderr as the traceback a process would print, so a
    test that checks for none still fails.
    """
    import traceback

    from click.testing import CliRunner

    from vertical_automl.cli import main

    result = CliRunner().invoke(main, list(args), env=env)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "Traceback (most recent call last):\n" + "".join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess(["vautoml", *args], result.exit_code, result.stdout, stderr)


def start_vautoml(*args: str, env: dict[str, str] | None = None, **options: Any) -> subprocess.Popen:
    """Start the real console entry point in the background, its output piped as text; ``env`` as in run_vautoml.

    ``options`` go to ``subprocess.Popen`` (``start_new_session``, say, to kill a search with its workers).
    """
    return subprocess.Popen(
        [sys.executable, "-m", "vertical_automl.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_with_environment(env),
        **options,
    )


def _with_environment(env: dict[str, str] | None) -> dict[str, str]:
    """This process's environment with ``env`` on top, its ``PYTHONPATH`` before the inherited one."""
    full_env = {**os.environ, **(env or {})}
    if env and "PYTHONPATH" in env:
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [env["PYTHONPATH"], os.environ.get("PYTHONPATH")]))
    return full_env


def run_standalone(script: str, cwd: Path, timeout: int = 300) -> dict:
    """Run ``script`` in a process where vautoml cannot be imported; it must print one JSON object."""
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    done = subprocess.run(
        [sys.executable, "-c", BLOCK_VAUTOML + textwrap.dedent(script)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def only_run(registry: Path) -> Path:
    """The single run folder of a registry, asserting nothing else is there."""
    runs = [p for p in registry.glob("*/*") if p.parent.name != ".runs"]
    assert len(runs) == 1, runs
    assert not (registry / ".runs").exists()
    return runs[0]


def vautoml_predictions(run: Path, data: Path, workdir: Path) -> tuple[list[str], Any]:
    """``vautoml predict`` on ``data``: the labels and the probability columns (class_names order) it writes."""
    import csv

    import numpy as np

    output = workdir / "predictions.csv"
    done = invoke_vautoml("predict", "--model", str(run), "--data", str(data), "--output", str(output))
    assert done.returncode == 0, done.stderr
    with open(output, newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns = [name for name in rows[0] if name.startswith("probability_")]
    return [row["label"] for row in rows], np.array([[float(row[c]) for c in columns] for row in rows])


def model_card_code(bundle: Path) -> str:
    """The Python block of a bundle's model card: what a downstream developer copies."""
    card = (bundle / "model_card.md").read_text()
    return card.split("```python\n", 1)[1].split("```", 1)[0]


def run_model_card(
    bundle: Path,
    workdir: Path,
    replace: dict[str, str] | None = None,
    files: dict[str, str] | None = None,
    result: str = "{}",
) -> dict:
    """Run the model card's code from a copy of ``bundle`` where vautoml is blocked.

    ``replace`` swaps lines of the card code (e.g. its example inputs), ``files``
    are written beside the bundle (e.g. new_rows.csv), and ``result`` is a Python
    expression printed as JSON at the end.
    """
    import shutil

    copy = workdir / "bundle_copy"
    shutil.copytree(bundle, copy)
    for name, text in (files or {}).items():
        (copy / name).write_text(text)
    code = model_card_code(bundle)
    for old, new in (replace or {}).items():
        assert old in code, f"{old!r} is not in the model card code"
        code = code.replace(old, new)
    return run_standalone(code + f"\nprint(json.dumps({result}))\n", copy)


def split_file(
    lines: list[str], labels: list[str], test_size: float, seed: int = 0, keep: int | None = None
) -> tuple[list[str], list[str]]:
    """Stratified split of data lines (a real file's rows), optionally keeping a stratified subset first."""
    from sklearn.model_selection import train_test_split

    index = list(range(len(lines)))
    if keep is not None and keep < len(lines):
        index, _ = train_test_split(index, train_size=keep, stratify=labels, random_state=seed)
    train, test = train_test_split(index, test_size=test_size, stratify=[labels[i] for i in index], random_state=seed)
    return [lines[i] for i in train], [lines[i] for i in test]


def throwaway_plugins() -> Any:
    """The registry of a process with only the test verticals selected: an exact set, whatever else is installed."""
    from vertical_automl.plugins import InstalledPlugins

    return InstalledPlugins({"VAUTOML_LOAD_PLUGINS": THROWAWAY})


def plugins_with(vertical: Any) -> Any:
    """A plugin registry holding only ``vertical``, registered by an in-process plugin of the same name."""
    from vertical_automl import hookimpl
    from vertical_automl.plugins import InstalledPlugins

    class OnePlugin:
        @hookimpl
        def register_verticals(self, register: Any) -> None:
            register(vertical)

    return InstalledPlugins({"VAUTOML_LOAD_PLUGINS": ""}, plugins=[(vertical.name, OnePlugin())])


def digits_plugins(name: str, build_model: Any) -> Any:
    """The plugins of a process that has only a throwaway multiclass vertical ``name``, on the bundled digits.

    Tests of the search engine write just the ``build_model(hp, info)`` that
    provokes what they test (a NaN loss, a build error, a fast trial).
    """
    from throwaway_verticals.image import load_digits

    from vertical_automl import Vertical

    return plugins_with(
        Vertical(name=name, description="", tasks=("multiclass",), build_model=build_model, default_data=load_digits)
    )


def write_table(path: Path, rows: int, seed: int) -> None:
    """A small binary CSV table (three numeric columns, ``label`` yes/no) the tabular verticals read as it is."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    label = np.where(x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.7, size=rows) > 0, "yes", "no")
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "label": label}).to_csv(path, index=False)
