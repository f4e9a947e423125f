"""The conformance suite: every check, by name, in the order a vertical's life goes through them.

In the spirit of scikit-learn's ``check_estimator``: one call
(:func:`check_vertical`) runs them all and raises the first
:class:`ConformanceError`; :func:`conformance_checks` returns them one by one,
so a plugin's tests can parametrize over them and see each pass or fail on
its own.  The checks share one :class:`~.runs.Shared` (one prepared sample, one
search for the bundle checks), so the whole suite costs two tiny searches.
"""

from __future__ import annotations

import unittest
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import VautomlError
from ..plugins import InstalledPlugins
from .bundle_use import check_onnx, check_predict_evaluate
from .declarations import check_declarations
from .failure import ConformanceError, Failure
from .runs import Shared, check_same_seed, check_search
from .samples import check_samples
from .space_check import check_space
from .standalone import check_standalone
from .subject import Subject, subject_of

CHECK_NAMES = (
    "declarations",
    "loaders",
    "space",
    "search",
    "standalone_bundle",
    "predict_evaluate",
    "onnx",
    "same_seed",
)


@dataclass(frozen=True)
class Check:
    """One named check; calling it raises :class:`ConformanceError`, or ``unittest.SkipTest`` (pytest skips)."""

    name: str
    description: str
    run: Callable[[], None] = field(repr=False)

    def __call__(self) -> None:
        try:
            self.run()
        except (unittest.SkipTest, ConformanceError):
            raise
        except Failure as failure:
            raise ConformanceError(self.name, failure.problem, failure.fix) from failure
        except VautomlError as error:
            raise ConformanceError(self.name, error.problem, error.fix or "see the error") from error
        except Exception as error:  # a plugin's own bug: name the check, keep the traceback as the cause
            raise ConformanceError(
                self.name, f"{type(error).__name__}: {error}", "fix the code the traceback above points at"
            ) from error


@dataclass(frozen=True)
class ConformanceReport:
    """The checks that passed, and those skipped with the reason (e.g. ONNX packages missing)."""

    passed: tuple[str, ...]
    skipped: dict[str, str]


def conformance_checks(
    name: str,
    data: str | Path,
    *,
    workdir: str | Path,
    test_data: str | Path | None = None,
    samples: Mapping[str, str | Path] | None = None,
    options: Mapping[str, str] | None = None,
    plugins: InstalledPlugins | None = None,
    seed: int = 0,
    max_trials: int = 2,
    epochs: int = 2,
) -> tuple[Check, ...]:
    """The checks of vertical ``name``, in :data:`CHECK_NAMES` order, sharing one prepared sample and its searches.

    ``data`` is the searches' training source and the sample of the loader
    that accepts it; ``samples`` maps other loaders' names to their sample;
    ``test_data`` is the searches' test split (without it ``predict_evaluate``
    is skipped); ``options`` are the data options (``-O KEY=VALUE``) for
    every loader; ``plugins`` defaults to this process's installed plugins.
    Everything is written under ``workdir``.
    """
    subject = subject_of(
        name,
        data,
        workdir=workdir,
        test_data=test_data,
        samples=samples,
        options=options,
        plugins=plugins,
        seed=seed,
        max_trials=max_trials,
        epochs=epochs,
    )
    runs = _runs(subject, Shared(subject))
    return tuple(_check(check, run, arguments) for check, (run, arguments) in zip(CHECK_NAMES, runs, strict=True))


def check_vertical(
    name: str,
    data: str | Path,
    *,
    workdir: str | Path,
    test_data: str | Path | None = None,
    samples: Mapping[str, str | Path] | None = None,
    options: Mapping[str, str] | None = None,
    plugins: InstalledPlugins | None = None,
    seed: int = 0,
    max_trials: int = 2,
    epochs: int = 2,
) -> ConformanceReport:
    """Run every check of vertical ``name`` (see :func:`conformance_checks`); raise the first that fails."""
    passed, skipped = [], {}
    checks = conformance_checks(
        name,
        data,
        workdir=workdir,
        test_data=test_data,
        samples=samples,
        options=options,
        plugins=plugins,
        seed=seed,
        max_trials=max_trials,
        epochs=epochs,
    )
    for check in checks:
        try:
            check()
        except unittest.SkipTest as skip:
            skipped[check.name] = str(skip)
            continue
        passed.append(check.name)
    return ConformanceReport(tuple(passed), skipped)


def _runs(subject: Subject, shared: Shared) -> tuple[tuple[Callable[..., None], tuple[object, ...]], ...]:
    """Each check's function and arguments, in :data:`CHECK_NAMES` order; the later ones share ``shared``."""
    return (
        (check_declarations, (subject,)),
        (check_samples, (subject,)),
        (check_space, (subject, shared)),
        (check_search, (subject, shared)),
        (check_standalone, (subject, shared)),
        (check_predict_evaluate, (subject, shared)),
        (check_onnx, (subject, shared)),
        (check_same_seed, (subject, shared)),
    )


def _check(name: str, run: Callable[..., None], arguments: tuple[object, ...]) -> Check:
    description = (run.__doc__ or "").strip().splitlines()[0]
    return Check(name, description, lambda: run(*arguments))
