"""A time budget that is used, defaults that follow the data's size, and schedules over steps."""

from __future__ import annotations

import json

import pytest
from helpers import digits_plugins, only_run

from vertical_automl import heads, settings
from vertical_automl.pipeline import search
from vertical_automl.settings import DEFAULT_MAX_TRIALS, SearchSettings
from vertical_automl.space import scheduled_rate


@pytest.mark.parametrize(
    ("rows", "batch", "epochs", "patience"),
    [
        (32, 32, 100, 10),
        (194, 32, 100, 10),
        (1149, 32, 100, 10),
        (6400, 128, 80, 8),
        (15_000, 256, 68, 8),
        (26_048, 256, 39, 8),
    ],
)
def test_batch_size_epochs_and_patience_follow_the_training_rows(rows, batch, epochs, patience):
    chosen = SearchSettings().for_rows(rows)
    assert (chosen.batch_size, chosen.epochs, chosen.patience) == (batch, epochs, patience)


def test_a_short_epoch_count_keeps_a_short_patience():
    assert SearchSettings(epochs=15).for_rows(26_048).patience == 5  # a third of the epochs, at least 5
    assert SearchSettings(epochs=24).for_rows(26_048).patience == 8


def test_what_the_user_sets_wins_over_the_size_rules():
    chosen = SearchSettings(batch_size=8, epochs=3, patience=2).for_rows(26_048)
    assert (chosen.batch_size, chosen.epochs, chosen.patience) == (8, 3, 2)


def test_a_trial_cap_applies_only_when_given_or_without_a_budget():
    assert SearchSettings().trial_cap() == DEFAULT_MAX_TRIALS
    assert SearchSettings(time_budget=180).trial_cap() is None  # the budget ends the search
    assert SearchSettings(time_budget=180, max_trials=7).trial_cap() == 7


def test_schedules_are_defined_over_steps_not_epochs():
    # 5 epochs of 40 steps: 'step' halves after each sixth of the 200 steps, not every epoch.
    assert [scheduled_rate("step", 0.1, s, 200) for s in (0, 33, 34, 67, 199)] == pytest.approx(
        [0.1, 0.1, 0.05, 0.025, 0.1 / 32]
    )
    cosine = [scheduled_rate("cosine", 0.1, s, 200) for s in range(200)]
    assert (
        cosine[0] == pytest.approx(0.1)
        and cosine[100] == pytest.approx(0.0505)
        and all(a >= b for a, b in zip(cosine, cosine[1:]))
    )
    assert scheduled_rate("constant", 0.1, 150, 200) == 0.1


def quick_model(hp, info):
    """A one-layer model on the digits: a trial takes a fraction of a second, so budgets can be tested in seconds."""
    import keras

    inputs = keras.Input(info.input_shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(hp.Int("units", 1, 64), activation="relu")(keras.layers.Rescaling(1 / 16)(x))
    model = keras.Model(inputs, heads.output(x, info))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def quick_plugins():
    return digits_plugins("quick", quick_model)


def test_with_a_budget_and_no_cap_trials_go_on_until_the_budget_is_used(tmp_path, monkeypatch):
    # A default cap of 3 that the budget must ignore: 12 trials in 20 s is too close to call on a loaded
    # 2-core CI machine, more than 3 is not (a trial here takes well under a second alone).
    monkeypatch.setattr(settings, "DEFAULT_MAX_TRIALS", 3)
    result = search(
        "quick", plugins=quick_plugins(), epochs=1, batch_size=256, time_budget=20, registry=tmp_path / "registry"
    )
    info = result.report["search"]
    assert info["trials"]["total"] > 3
    assert info["stop_reason"].startswith("the time budget (20s) was used")
    assert info["time_used_seconds"] > 0.8 * 20
    assert len(json.loads((only_run(tmp_path / "registry") / "trials.json").read_text())) == info["trials"]["total"]


def test_without_a_budget_the_default_cap_ends_the_search_and_says_so(tmp_path):
    result = search("quick", plugins=quick_plugins(), epochs=1, batch_size=256, registry=tmp_path / "registry")
    info = result.report["search"]
    assert info["trials"]["total"] == DEFAULT_MAX_TRIALS
    assert info["stop_reason"].startswith(f"the default cap of {DEFAULT_MAX_TRIALS} trials without a --time-budget")
    report = (result.path / "report.md").read_text()
    assert "Search stopped" in report and "default cap" in report
    # plugins passed in: their trials stay in this process, which workers could not load them into
    assert info["at_once"] == 1 and "**Trials at once:** 1, " in report and "(one process)" in report
