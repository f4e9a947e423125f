"""KerasTuner's random and Bayesian oracles, made to try the vertical's recipes first.

A vertical's ``recipes`` are configurations known to do well; without this
a short budget might never try them.  :func:`.tuner.make_tuner` picks the oracle.
"""

from __future__ import annotations

from typing import Any

import keras_tuner as kt


def _accepts(hp: Any, value: Any) -> bool:
    """Whether ``value`` is a legal value of hyperparameter ``hp`` (recipes may name values a config removed)."""
    kinds = kt.engine.hyperparameters
    if value is None:
        return False
    if isinstance(hp, kinds.Fixed):
        return value == hp.value
    if isinstance(hp, kinds.Boolean):
        return isinstance(value, bool)
    if isinstance(hp, kinds.Choice):
        return value in hp.values
    if isinstance(hp, (kinds.Int, kinds.Float)):
        return isinstance(value, (int, float)) and hp.min_value <= value <= hp.max_value
    return False


class RecipesFirst:
    """Oracle mixin: the first trials are the vertical's recipes, then the oracle's own proposals.

    A recipe names some hyperparameter values; every other active one takes
    its default.  KerasTuner's random and Bayesian oracles sample from the
    first trial on, so without this a strong known configuration might never
    be tried in a short budget.  Trial ids count up from 0, so a resumed run
    gives the same recipes to the same trials.
    """

    def __init__(self, *args: Any, recipes: tuple[dict[str, Any], ...] = (), **kwargs: Any) -> None:
        self.recipes = recipes
        super().__init__(*args, **kwargs)

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        index = int(trial_id)
        if index < len(self.recipes):
            values = self._recipe_values(self.recipes[index])
            if not self._duplicate(values):
                return {"status": kt.engine.trial.TrialStatus.RUNNING, "values": values}
        return super().populate_space(trial_id)

    def _recipe_values(self, recipe: dict[str, Any]) -> dict[str, Any]:
        chosen = kt.HyperParameters()
        for hp in self.hyperparameters.space:
            chosen.merge([hp])
            if chosen.is_active(hp):
                value = recipe.get(hp.name)
                chosen.values[hp.name] = value if _accepts(hp, value) else hp.default
        return chosen.values


class RandomWithRecipes(RecipesFirst, kt.oracles.RandomSearchOracle):
    """Random search after the recipes."""


class BayesianWithRecipes(RecipesFirst, kt.oracles.BayesianOptimizationOracle):
    """Bayesian optimisation after the recipes."""
