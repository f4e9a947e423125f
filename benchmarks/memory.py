"""Memory across trials: peak RSS after trial 5 and after trial 50 of one search.

Runs a real vautoml search (vision, bundled digits, 1 epoch per trial, so
trials are short but each builds, trains and scores a fresh model) and reads
the process's peak resident set size (``ru_maxrss``) as trials finish.  Aim:
growth from trial 5 to trial 50 under 10 %.  Nothing is asserted.
Run:  python benchmarks/memory.py [--trials 50] [--plugin vision]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--plugin", default="vision")
    args = parser.parse_args()

    from vertical_automl import search
    from vertical_automl.search_engine.progress import SearchProgress

    peaks: dict[int, float] = {}

    class PeakAfterEachTrial(SearchProgress):
        def trial_ended(self, record) -> None:
            done = len(peaks) + 1
            peaks[done] = peak_rss_mib()
            print(f"trial {done:3d}: peak RSS {peaks[done]:8.1f} MiB", file=sys.stderr)

    with tempfile.TemporaryDirectory() as registry:
        # one process, so every trial runs in the process whose memory is measured
        search(
            args.plugin, max_trials=args.trials, epochs=1, registry=registry, progress=PeakAfterEachTrial(), workers=1
        )
    early, late = peaks.get(5), peaks.get(max(peaks))
    print(
        f"{args.plugin}: {len(peaks)} trials; peak RSS after trial 5: {early:.1f} MiB; "
        f"after trial {max(peaks)}: {late:.1f} MiB; growth {100 * (late - early) / early:+.1f} %"
    )


if __name__ == "__main__":
    main()
