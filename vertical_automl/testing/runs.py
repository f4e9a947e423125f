"""Checks (d) and (h): a tiny search publishes a bundle, and the same seed gives the same trials.

The searches are the expensive part of a conformance run, so :class:`Shared`
runs each at most once and every check that needs one shares it: the bundle
of the first is what checks (e), (f) and (g) use.  A search that failed fails
every check that needs it, with the search's own error, without running again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..bundle.files import MANIFEST_FILE, MODEL_FILE, PREPROCESSING_FILE, REPORT_FILE
from ..data.dataset import Dataset
from ..data.split import split_dataset
from ..errors import VautomlError
from ..pipeline.inputs import read_inputs
from ..pipeline.request import build_request, settings_from
from ..settings import SearchSettings
from .failure import Failure
from .subject import Subject

if TYPE_CHECKING:  # pragma: no cover
    from ..pipeline import SearchResult

TRIALS_FILE = "trials.json"
SCORE_TOLERANCE = 1e-6
FRACTIONS = (0.2, 0.2)  # validation and test fractions: the search's defaults, which the searches here use
# Where a default search would cross-validate the sample (5 folds on a small table or text), the searches here use
# the fewest folds: every cross-validated step (out-of-fold choice, fold models exported) runs, in two fifths of the
# arithmetic.  Images and time-ordered samples keep the search's own choice, one validation split.
FOLDS = 2


@dataclass
class Shared:
    """What the checks share, made on first use: the prepared sample, and the searches.

    ``first`` searches into ``workdir/registry``, ``again`` beside it.
    """

    subject: Subject
    _done: dict[str, Any] = field(default_factory=dict)

    def dataset(self) -> Dataset:
        """The sample data split and encoded exactly as the search does it (same request, same seed)."""
        if "dataset" not in self._done:
            subject = self.subject
            settings = settings_from(
                None, True, seed=subject.seed, max_trials=subject.max_trials, epochs=subject.epochs
            )
            request = build_request(
                subject.name, subject.data, subject.test_data, subject.options, settings, None, None, *FRACTIONS
            )
            vertical, _ = subject.vertical()
            inputs = read_inputs(subject.plugins, vertical, request)
            self._done["kind"] = inputs.kind.name
            self._done["dataset"] = split_dataset(
                inputs.training, inputs.task, inputs.held_out, *FRACTIONS, subject.seed
            )
        return self._done["dataset"]

    def first(self) -> SearchResult:
        return self._search("registry", refit=True)

    def again(self) -> SearchResult:
        """The same request with the same seed; without the refit, which comes after the trials it is compared on."""
        return self._search("registry-again", refit=False)

    def _search(self, folder: str, refit: bool) -> SearchResult:
        if folder not in self._done:
            self._done[folder] = self._run(folder, refit)
        done = self._done[folder]
        if isinstance(done, Failure):
            raise Failure(f"the search this check needs failed: {done.problem}", done.fix)
        return done

    def _folds(self) -> int | None:
        """:data:`FOLDS` where a default search would cross-validate the sample, else ``None`` (the search chooses)."""
        try:
            dataset = self.dataset()
        except Exception:  # a sample that cannot be read: the search reports it in its own words
            return None
        fitting, time_ordered = dataset.train_and_validation(), dataset.split.order is not None
        default = SearchSettings().with_folds(len(fitting), self._done["kind"], time_ordered)
        return FOLDS if default.cross_validated else None

    def _run(self, folder: str, refit: bool) -> SearchResult | Failure:
        from ..pipeline import search

        subject = self.subject
        try:
            return search(
                subject.name,
                subject.data,
                test_data=subject.test_data,
                data_options=subject.options,
                max_trials=subject.max_trials,
                epochs=subject.epochs,
                seed=subject.seed,
                refit=refit,
                registry=subject.workdir / folder,
                plugins=subject.plugins,
                workers=1,  # two tiny searches: starting worker processes would cost more than it saves
                folds=self._folds(),
            )
        except VautomlError as error:
            return Failure(
                f"a {subject.max_trials}-trial search on '{subject.data}' failed: {error.problem}",
                error.fix or "see the error",
            )
        except Exception as error:  # a plugin's bug: kept like a user error, so no later check runs the search again
            return Failure(
                f"a {subject.max_trials}-trial search on '{subject.data}' raised {type(error).__name__}: {error}",
                "run the search with --debug for the traceback and fix the code it points at",
            )


def check_search(subject: Subject, shared: Shared) -> None:
    """The search publishes a whole bundle into the registry, with a completed trial and test metrics."""
    from ..registry.runs import read_run

    result = shared.first()
    expected = subject.workdir / "registry" / subject.name / result.run_id
    if result.path != expected or not result.path.is_dir():
        raise Failure(f"the bundle is at '{result.path}', not published at '{expected}'", "report this as a bug")
    missing = [
        name
        for name in (MODEL_FILE, PREPROCESSING_FILE, REPORT_FILE, MANIFEST_FILE, TRIALS_FILE)
        if not (result.path / name).is_file()
    ]
    if missing:
        raise Failure(f"the bundle '{result.path}' lacks {', '.join(missing)}", "report this as a bug")
    run = read_run(result.path)
    if run.manifest.vertical != subject.name:
        raise Failure(f"the bundle's manifest names vertical {run.manifest.vertical!r}", "report this as a bug")
    trials = json.loads((result.path / TRIALS_FILE).read_text())
    if not any(trial["status"] == "COMPLETED" for trial in trials):
        errors = "; ".join(sorted({str(trial.get("error")) for trial in trials}))
        raise Failure(f"no trial completed ({errors})", "make every point of the space train on the sample")
    if not result.report.get("test_metrics"):
        raise Failure("the report has no test metrics", "report this as a bug")


def check_same_seed(subject: Subject, shared: Shared) -> None:
    """A second search with the same seed tries the same hyperparameters and gets the same scores."""
    first = json.loads((shared.first().path / TRIALS_FILE).read_text())
    again = json.loads((shared.again().path / TRIALS_FILE).read_text())
    fix = (
        "draw every random number from the trial's seed (keras.utils.set_random_seed is set for you): "
        "no unseeded NumPy, Python or torch randomness in the loaders or the builder"
    )
    if [t["hyperparameters"] for t in first] != [t["hyperparameters"] for t in again]:
        raise Failure(f"two searches with seed {subject.seed} tried different hyperparameters", fix)
    for one, two in zip(first, again):
        same = one["score"] == two["score"] or (
            one["score"] is not None
            and two["score"] is not None
            and abs(one["score"] - two["score"]) <= SCORE_TOLERANCE
        )
        if not same:
            raise Failure(
                f"trial {one['trial_id']} scored {one['score']} and then {two['score']} with seed {subject.seed}", fix
            )
