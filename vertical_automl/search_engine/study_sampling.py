"""KerasTuner hyperparameters as Optuna suggestions, and the sampler that proposes them in a parallel search.

Plugins declare their space with KerasTuner (``build_model(hp, info)``); a
parallel search keeps that contract and maps each active hyperparameter to
the Optuna distribution it means (:func:`suggest`), so the study records
real parameters (the dashboard plots them, TPE learns from them).

``--tuner random`` proposes with KerasTuner's own random sampling seeded by
(run seed, trial number), not by worker: the same trial number gets the
same values however many workers run and whichever asks first, so a
search at 1 and at 4 workers tries the same list.  :class:`PlannedSampler`
hands those planned values to Optuna.  ``--tuner bayesian`` lets Optuna's
TPE propose (with ``constant_liar``, so concurrent workers do not all pick
the same point); its proposals depend on which results have arrived, so
they are not reproducible across worker counts.
"""

from __future__ import annotations

import zlib
from typing import Any

import keras_tuner as kt
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial


def trial_seed(seed: int, number: int) -> int:
    """The random state of trial ``number`` in a run seeded ``seed``: the same in every worker."""
    return zlib.crc32(f"{seed}:{number}".encode())


class PlannedSampler(BaseSampler):
    """Returns the values the oracle planned for the trial being suggested; anything unplanned goes to ``fallback``.

    Optuna applies enqueued (fixed) values before asking a sampler, so
    recipes and retries keep theirs.
    """

    def __init__(self, fallback: BaseSampler) -> None:
        self.fallback = fallback
        self.planned: dict[str, Any] = {}

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self.fallback.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self.fallback.sample_relative(study, trial, search_space)

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        if param_name in self.planned:
            return self.planned[param_name]
        return self.fallback.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.fallback.before_trial(study, trial)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: Any, values: Any) -> None:
        self.fallback.after_trial(study, trial, state, values)


def make_sampler(tuner: str, seed: int, worker_index: int) -> PlannedSampler:
    """The sampler of one worker: planned random values, or TPE seeded per worker (its own stream)."""
    if tuner == "bayesian":
        return PlannedSampler(optuna.samplers.TPESampler(seed=seed + worker_index, constant_liar=True))
    return PlannedSampler(optuna.samplers.RandomSampler(seed=seed + worker_index))


def suggest(trial: optuna.Trial, hp: Any) -> Any:
    """``hp``'s value in ``trial``: the Optuna suggestion its KerasTuner type means (Fixed is not sampled).

    KerasTuner's ``reverse_log`` sampling has no Optuna twin and is sampled
    on a log scale; a log-scaled Int ignores its step, which Optuna cannot combine.
    """
    kinds = kt.engine.hyperparameters
    if isinstance(hp, kinds.Fixed):
        return hp.value
    if isinstance(hp, kinds.Boolean):
        return trial.suggest_categorical(hp.name, [False, True])
    if isinstance(hp, kinds.Choice):
        return trial.suggest_categorical(hp.name, list(hp.values))
    log = getattr(hp, "sampling", "linear") in ("log", "reverse_log")
    if isinstance(hp, kinds.Int):
        step = 1 if log else int(hp.step or 1)
        return trial.suggest_int(hp.name, int(hp.min_value), int(hp.max_value), step=step, log=log)
    if isinstance(hp, kinds.Float):
        step = None if log or not hp.step else float(hp.step)
        return trial.suggest_float(hp.name, float(hp.min_value), float(hp.max_value), step=step, log=log)
    raise TypeError(f"hyperparameter {hp.name} is a {type(hp).__name__}, which a parallel search cannot sample")


def suggest_all(trial: optuna.Trial, space: kt.HyperParameters, sampler: PlannedSampler, planned: dict) -> dict:
    """Every active hyperparameter's value in ``trial``, ``planned`` ones as planned, in the space's order."""
    sampler.planned = dict(planned)
    try:
        chosen = kt.HyperParameters()
        for hp in space.space:
            chosen.merge([hp])
            if chosen.is_active(hp):
                chosen.values[hp.name] = suggest(trial, hp)
        return chosen.values
    finally:
        sampler.planned = {}
