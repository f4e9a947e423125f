"""Overhead: the share of a default vision search's wall time spent outside ``fit``.

Starts ``vautoml search --plugin vision --workers 1`` (bundled digits,
default settings otherwise) in a fresh process, with ``keras.Model.fit`` wrapped
to add up the seconds spent training (trials and refit).  Everything else
(interpreter and library start-up, plugin discovery, data loading, model
building, scoring, export, reports) is overhead.  Aim: under 10 %.  Nothing
is asserted.  Run:  python benchmarks/overhead.py [-- extra search options]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import json, os, sys, time
os.environ.setdefault("KERAS_BACKEND", "torch")
import keras
spent = [0.0]
fit = keras.Model.fit
def timed_fit(self, *args, **kwargs):
    started = time.perf_counter()
    try:
        return fit(self, *args, **kwargs)
    finally:
        spent[0] += time.perf_counter() - started
keras.Model.fit = timed_fit
from vertical_automl.cli import main
try:
    main(sys.argv[2:], standalone_mode=False)
finally:
    open(sys.argv[1], "w").write(json.dumps({"fit_seconds": spent[0]}))
"""


def main() -> None:
    extra = sys.argv[2:] if sys.argv[1:2] == ["--"] else sys.argv[1:]
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "fit.json"
        command = [
            sys.executable,
            "-c",
            CHILD,
            str(result),
            "search",
            "--plugin",
            "vision",
            "--registry",
            str(Path(tmp) / "registry"),
            "--workers",
            "1",  # one process: fit is timed in this one, and workers' trials would go uncounted
            *extra,
        ]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env={**os.environ})
        wall = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(done.stderr)
        fit = json.loads(result.read_text())["fit_seconds"]
    print(done.stdout.strip().splitlines()[0])
    print(
        f"wall {wall:.1f}s, inside fit {fit:.1f}s, outside fit {wall - fit:.1f}s: "
        f"overhead {100 * (wall - fit) / wall:.1f} % of wall time"
    )


if __name__ == "__main__":
    main()
