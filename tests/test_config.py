"""--config search.toml: validation, the space it narrows, and the schedules and L1/L2 it can search."""

from __future__ import annotations

import csv
import json
import math

import pytest
from helpers import invoke_vautoml, only_run

from vertical_automl.config import load_config
from vertical_automl.errors import UsageError
from vertical_automl.space import SpaceConfig, scheduled_rate


def write(tmp_path, text):
    path = tmp_path / "search.toml"
    path.write_text(text)
    return path


def test_a_valid_config_becomes_settings_and_a_space(tmp_path):
    config = load_config(
        write(
            tmp_path,
            """
[search]
tuner = "bayesian"
time_budget = "10m"
objective = "val_loss"
[space]
depth = [2, 5]
width = [16, 256]
optimizers = ["adam", "sgd_momentum"]
learning_rate = [3e-4, 3e-3]
schedules = ["cosine"]
dropout = [0.0, 0.2]
l2 = [0, 1e-4]
batch_norm = [true]
batch_size = [32, 128]
""",
        )
    )
    assert config.search == {"tuner": "bayesian", "time_budget": 600.0, "objective": "val_loss"}
    assert config.space == SpaceConfig(
        depth=(2, 5),
        width=(16, 256),
        optimizers=("adam", "sgd_momentum"),
        learning_rate=(3e-4, 3e-3),
        schedules=("cosine",),
        dropout=(0.0, 0.2),
        l2=(0, 1e-4),
        batch_norm=(True,),
        batch_size=(32, 128),
    )


@pytest.mark.parametrize(
    ("text", "named", "allowed"),
    [
        ("[space]\ndept = [1, 2]", "unknown key 'dept' in [space]", "depth, width, initializers"),
        ("[search]\ntunr = 'grid'", "unknown key 'tunr' in [search]", "tuner, max_trials"),
        ("[spaces]\ndepth = [1, 2]", "unknown table or key 'spaces'", "[search] and [space]"),
        (
            "[space]\ndepth = [3, 1]",
            "[space] depth = [3, 1] is not allowed",
            "[min, max], integers with 1 <= min <= max <= 16",
        ),
        (
            "[space]\noptimizers = ['adamax']",
            "[space] optimizers = ['adamax'] is not allowed",
            '"sgd", "sgd_momentum", "adam", "adamw", "rmsprop", "adagrad"',
        ),
        ("[space]\ninitializers = []", "initializers = [] is not allowed", '"glorot_uniform"'),
        ("[space]\nschedules = ['linear']", "schedules = ['linear'] is not allowed", '"constant", "step", "cosine"'),
        ("[space]\nlearning_rate = [0, 0.1]", "learning_rate = [0, 0.1] is not allowed", "0 < low <= high <= 10"),
        ("[space]\nl2 = [2]", "l2 = [2] is not allowed", "penalties from 0 to 1"),
        ("[space]\nbatch_norm = ['yes']", "batch_norm = ['yes'] is not allowed", "true/false"),
        (
            "[search]\ntuner = 'genetic'",
            "tuner = 'genetic' is not allowed",
            '"random", "bayesian", "hyperband", "grid"',
        ),
        ("[search]\nmax_trials = 0", "max_trials = 0 is not allowed", "an integer from 1 to 10000"),
        ("[search]\ntime_budget = 'soon'", "time_budget = 'soon' is not allowed", '"90s", "10m", "1h"'),
        ("[search]\nobjective = 'accuracy'", "objective = 'accuracy' is not allowed", '"val_loss", "val_accuracy"'),
        ("[space\ndepth = 1", "is not valid TOML", "fix the syntax"),
    ],
)
def test_config_mistakes_name_the_key_and_what_is_allowed(tmp_path, text, named, allowed):
    with pytest.raises(UsageError) as caught:
        load_config(write(tmp_path, text))
    assert named in str(caught.value) and allowed in str(caught.value)


def test_a_config_narrows_every_trial_and_flags_win_over_it(tmp_path):
    config = write(
        tmp_path,
        """
[search]
max_trials = 5
epochs = 3
objective = "val_loss"
tuner = "random"
[space]
depth = [1, 1]
width = [16, 32]
initializers = ["he_normal"]
optimizers = ["adam", "sgd"]
schedules = ["cosine", "step"]
dropout = [0.0, 0.1]
l1 = [0.0]
l2 = [1e-4]
batch_norm = [false]
batch_size = [32, 128]
""",
    )
    registry = tmp_path / "registry"
    done = invoke_vautoml(
        "search",
        "--plugin",
        "tiny-image",
        "--config",
        str(config),
        "--max-trials",
        "3",
        "--registry",
        str(registry),
        "--quiet",
    )
    assert done.returncode == 0, done.stderr
    run = only_run(registry)
    report = json.loads((run / "report.json").read_text())
    assert report["search"]["objective"] == "val_loss" and report["search"]["direction"] == "min"
    assert report["search"]["settings"]["space"]["width"] == [16, 32]
    trials = json.loads((run / "trials.json").read_text())
    assert len(trials) == 3  # --max-trials 3 beat max_trials = 5
    for trial in trials:
        values = trial["hyperparameters"]
        assert values["depth"] == 1 and values["width"] in (16, 32) and values["initializer"] == "he_normal"
        assert values["optimizer"] in ("adam", "sgd") and values["lr_schedule"] in ("cosine", "step")
        assert values["dropout"] in (0.0, 0.1) and values["l1"] == 0.0 and values["l2"] == 1e-4
        assert values["batch_norm"] is False and values["batch_size"] in (32, 128)
        rate = values.get("learning_rate", values.get("learning_rate_sgd"))
        with open(run / "logs" / f"trial_{trial['trial_id']}.csv") as handle:
            logged = [float(row["learning_rate"]) for row in csv.DictReader(handle)]
        steps = math.ceil(
            report["dataset"]["splits"]["train"]["examples"] / values["batch_size"]
        )  # the schedule runs over 3 epochs of steps
        expected = [
            scheduled_rate(values["lr_schedule"], rate, (e + 1) * steps - 1, 3 * steps) for e in range(len(logged))
        ]  # set before each epoch's last batch
        assert logged == pytest.approx(expected, rel=1e-5)


def test_an_objective_the_task_does_not_report_is_refused_with_the_choices(tmp_path):
    config = write(tmp_path, "[search]\nobjective = 'val_auc'\n")
    done = invoke_vautoml(
        "search", "--plugin", "tiny-image", "--config", str(config), "--registry", str(tmp_path / "registry")
    )
    assert done.returncode == 2
    assert (
        "objective 'val_auc' is not reported for multiclass tasks. Fix: use one of: val_accuracy, val_loss"
        in done.stderr
    )
    assert not (tmp_path / "registry").exists()


def test_l1_l2_regularised_models_load_in_safe_mode(tmp_path):
    import keras
    import keras_tuner as kt
    import numpy as np
    from throwaway_verticals.image import load_digits

    from vertical_automl.data.split import split_dataset
    from vertical_automl.plugins import get_plugins

    vertical, _ = get_plugins().get_vertical("tiny-image")
    dataset = split_dataset(load_digits(), "multiclass", None, 0.2, 0.2, 0)
    hp = kt.HyperParameters()
    hp.Fixed("l1", 1e-5)
    hp.Fixed("l2", 1e-3)
    model = vertical.build_model(hp, dataset.info)
    regularised = [layer for layer in model.layers if getattr(layer, "kernel_regularizer", None) is not None]
    assert regularised and all(
        layer.kernel_regularizer.get_config() == {"l1": 1e-5, "l2": 1e-3} for layer in regularised
    )
    model.fit(dataset.train.x[:64], dataset.train.y[:64], epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(
        loaded.predict(dataset.test.x[:8], verbose=0),
        model.predict(dataset.test.x[:8], verbose=0),
        rtol=1e-5,
        atol=1e-6,
    )
