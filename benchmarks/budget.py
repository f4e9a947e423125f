"""Time budget: does ``vautoml search --time-budget`` end within 3 % of the budget plus export time?

Starts ``vautoml search`` in a fresh process, exactly as a user would, with
a trial cap too high to be reached, so the budget is what ends the search.
It measures the process's whole wall time (interpreter start to exit) and
reads the export time the command prints; the budget is kept when
``wall - export <= 1.03 * budget``.  Nothing is asserted.
Run:  python benchmarks/budget.py [--budgets 60 180]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
WORKLOADS = (
    ("vision", []),
    ("medical", []),
    ("text", ["--data", str(SHARED / "sms-spam-collection" / "SMSSpamCollection")]),
)


def measure(plugin: str, extra: list[str], budget: float) -> dict:
    with tempfile.TemporaryDirectory() as registry:
        command = [
            sys.executable,
            "-m",
            "vertical_automl.cli",
            "search",
            "--plugin",
            plugin,
            *extra,
            "--time-budget",
            f"{budget:g}s",
            "--max-trials",
            "10000",
            "--quiet",
            "--registry",
            registry,
        ]
        started = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True)
        wall = time.monotonic() - started
        if done.returncode != 0:
            raise SystemExit(done.stderr)
        export = float(re.search(r"\(\+([0-9.]+)s export\)", done.stdout).group(1))
        report = json.loads(next(Path(registry).glob(f"{plugin}/*/report.json")).read_text())
    search = report["search"]
    return {
        "wall": wall,
        "export": export,
        "used": search["time_used_seconds"],
        "trials": search["trials"],
        "training": report["model"]["training"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", type=float, nargs="+", default=[60.0, 180.0])
    args = parser.parse_args()
    print(
        f"{'workload':<10} {'budget s':>8} {'wall s':>8} {'export s':>8} "
        f"{'(wall-export)/budget':>21} {'kept':>5}  trials"
    )
    for plugin, extra in WORKLOADS:
        if "--data" in extra and not Path(extra[extra.index("--data") + 1]).exists():
            print(f"{plugin:<10} skipped (no shared data)")
            continue
        for budget in args.budgets:
            result = measure(plugin, extra, budget)
            ratio = (result["wall"] - result["export"]) / budget
            trials = result["trials"]
            print(
                f"{plugin:<10} {budget:>8.0f} {result['wall']:>8.1f} {result['export']:>8.1f} "
                f"{ratio:>21.3f} {'yes' if ratio <= 1.03 else 'NO':>5}  "
                f"{trials.get('COMPLETED', 0)}/{trials['total']} completed",
                flush=True,
            )
            if "time budget ran out during the refit" in result["training"]:
                print(f"{'':<10} refit cut short: {result['training']}")


if __name__ == "__main__":
    main()
