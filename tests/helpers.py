"""Test helpers: run the CLI in a fresh process, run code where vautoml is blocked, find shared data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("VAUTOML_SHARED_DATA", REPO.parent / "shared" / "data"))

# Imported into a subprocess to prove a bundle stands alone: any import of
# vautoml code fails there, as it would in an app that never installed it.
BLOCK_VAUTOML = textwrap.dedent(
    """
    import sys
    class _BlockVautoml:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("vertical_automl", "vautoml_vision"):
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


def run_vautoml(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run the real console entry point in a fresh process."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "vertical_automl.cli", *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout)


def run_standalone(script: str, cwd: Path, timeout: int = 300) -> dict:
    """Run ``script`` in a process where vautoml cannot be imported; it must print one JSON object."""
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    done = subprocess.run([sys.executable, "-c", BLOCK_VAUTOML + textwrap.dedent(script)], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def only_run(registry: Path) -> Path:
    """The single run folder of a registry, asserting nothing else is there."""
    runs = [p for p in registry.glob("*/*") if p.parent.name != ".staging"]
    assert len(runs) == 1, runs
    assert not (registry / ".staging").exists()
    return runs[0]
