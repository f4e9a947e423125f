"""A vertical's own search dimensions: declared with ``Dimension``, set in ``[space]``, kept on resume and reported."""

from __future__ import annotations

import json
import textwrap

import pytest
from helpers import only_run, run_vautoml

from vertical_automl.config import load_config
from vertical_automl.errors import UsageError
from vertical_automl.plugin_api import Dimension, Vertical, heads
from vertical_automl.settings import SearchSettings
from vertical_automl.space import SpaceConfig

UNITS = Dimension("units", "int", 4, 32, help="units of the hidden layer")
ACTIVATION = Dimension("activation", "choice", choices=("relu", "tanh", "elu"))
RATE = Dimension("noise", "float", 0.0, 0.5)
SKIP = Dimension("skip", "bool")
DIMENSIONS = (UNITS, ACTIVATION, RATE, SKIP)


def write(tmp_path, text):
    path = tmp_path / "search.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_space_sets_a_verticals_own_dimensions_within_what_it_declares(tmp_path):
    config = load_config(
        write(
            tmp_path,
            """
            [space]
            depth = [1, 2]
            units = [8, 12]
            activation = ["tanh", "tanh"]
            noise = [0.1, 0.2]
            skip = [false]
            """,
        ),
        DIMENSIONS,
    )
    assert config.space == SpaceConfig(
        depth=(1, 2), vertical={"units": (8, 12), "activation": ("tanh",), "noise": (0.1, 0.2), "skip": (False,)}
    )
    again = SearchSettings.from_json(json.loads(json.dumps(SearchSettings(space=config.space).as_json())))
    assert again.space == config.space  # what run.json keeps for --resume


@pytest.mark.parametrize(
    ("line", "allowed"),
    [
        ("units = [2, 12]", "[min, max], integers with 4 <= min <= max <= 32"),
        ("units = [8.5, 12]", "[min, max], integers with 4 <= min <= max <= 32"),
        ("activation = ['gelu']", "a non-empty list of values from 'relu', 'tanh', 'elu'"),
        ("activation = []", "a non-empty list of values from 'relu', 'tanh', 'elu'"),
        ("noise = [0.4, 0.6]", "[low, high], numbers with 0 <= low <= high <= 0.5"),
        ("skip = [1]", "a non-empty list of true/false"),
    ],
)
def test_a_value_outside_the_declared_dimension_is_refused(tmp_path, line, allowed):
    with pytest.raises(UsageError) as raised:
        load_config(write(tmp_path, f"[space]\n{line}\n"), DIMENSIONS)
    assert f"is not allowed. Fix: give {allowed}" in str(raised.value)


def test_an_unknown_key_lists_the_shared_keys_and_the_verticals_own(tmp_path):
    with pytest.raises(UsageError) as raised:
        load_config(write(tmp_path, "[space]\nunits_ = [8, 9]\n"), DIMENSIONS)
    assert str(raised.value).endswith(
        "unknown key 'units_' in [space]. Fix: use one of: depth, width, initializers, optimizers, learning_rate, "
        "learning_rate_sgd, schedules, dropout, l1, l2, batch_norm, batch_size, "
        "or the vertical's own: units, activation, noise, skip"
    )
    with pytest.raises(UsageError, match=r"unknown key 'units' in \[space\]. Fix: use one of: depth, .*batch_size$"):
        load_config(write(tmp_path, "[space]\nunits = [8, 9]\n"))  # a vertical without dimensions


def test_a_dimension_named_like_a_shared_one_or_twice_is_a_declaration_problem():
    vertical = Vertical(
        name="clash",
        description="",
        build_model=lambda hp, info: None,
        dimensions=(Dimension("dropout", "float", 0.0, 0.5), UNITS, UNITS),
    )
    problems = vertical.problems()
    assert any("dimension 'dropout' has the name of a shared dimension" in p for p in problems)
    assert "vertical 'clash' declares dimension 'units' twice" in problems


def narrow_model(hp, info):
    import keras

    inputs = keras.Input(info.input_shape)
    x = keras.layers.Rescaling(1 / 16)(keras.layers.Flatten()(inputs))
    x = keras.layers.Dense(UNITS.value(hp), activation=ACTIVATION.value(hp))(x)
    model = keras.Model(inputs, heads.output(x, info))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_every_trial_stays_inside_the_narrowed_dimension_and_the_report_shows_it(tmp_path):
    from helpers import plugins_with
    from throwaway_verticals.image import load_digits

    from vertical_automl.pipeline import search

    vertical = Vertical(
        name="narrow",
        description="",
        tasks=("multiclass",),
        build_model=narrow_model,
        default_data=load_digits,
        dimensions=(UNITS, ACTIVATION),
    )
    config = write(tmp_path, "[space]\nunits = [8, 12]\nactivation = ['tanh']\n")
    result = search(
        "narrow", plugins=plugins_with(vertical), config=config, max_trials=3, epochs=1, registry=tmp_path / "r"
    )
    run = only_run(tmp_path / "r")
    trials = json.loads((run / "trials.json").read_text())
    assert len(trials) == 3
    assert all(
        8 <= t["hyperparameters"]["units"] <= 12 and t["hyperparameters"]["activation"] == "tanh" for t in trials
    )
    assert result.report["search"]["settings"]["space"] == {"units": [8, 12], "activation": ["tanh"]}
    report = (run / "report.md").read_text().replace("\\", "")  # without Markdown escapes
    assert "units [8, 12] (the vertical's own); activation ['tanh'] (the vertical's own)" in report


DIMS_PLUGIN = """
from vertical_automl.plugin_api import Dimension, Vertical, hookimpl

@hookimpl
def register_verticals(register):
    register(Vertical(name="dims", description="", build_model=lambda hp, info: None,
                      dimensions=(Dimension("units", "int", 4, 32),)))
"""


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[space]\nunit = [8, 9]\n", "unknown key 'unit' in [space]. Fix: use one of: depth, "),
        ("[space]\nunits = [8, 64]\n", "[space] units = [8, 64] is not allowed. Fix: give [min, max], integers"),
    ],
)
def test_dimension_mistakes_are_one_line_from_the_cli(tmp_path, toml, expected):
    site = tmp_path / "site"
    info = site / "dims_vautoml-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dims-vautoml\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[vautoml]\ndims = dims_plugin\n")
    (site / "dims_plugin.py").write_text(DIMS_PLUGIN)
    config = write(tmp_path, toml)
    env = {"VAUTOML_LOAD_PLUGINS": "dims", "PYTHONPATH": str(site)}
    done = run_vautoml(
        "search", "--plugin", "dims", "--config", str(config), "--registry", str(tmp_path / "r"), env=env
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {config}: ") and expected in lines[0]
    if "unknown key" in expected:
        assert lines[0].endswith("or the vertical's own: units")


def test_a_resumed_run_keeps_the_verticals_own_dimensions(tmp_path):
    from helpers import plugins_with
    from throwaway_verticals.image import load_digits

    from vertical_automl.errors import RunInterrupted
    from vertical_automl.pipeline import resume, search

    builds = {"count": 0, "interrupt_at": 3}  # the tuner's own first build, trial 0, then trial 1 is interrupted

    def interrupted_model(hp, info):
        builds["count"] += 1
        if builds["count"] == builds["interrupt_at"]:
            raise KeyboardInterrupt
        return narrow_model(hp, info)

    vertical = Vertical(
        name="narrow",
        description="",
        tasks=("multiclass",),
        build_model=interrupted_model,
        default_data=load_digits,
        dimensions=(UNITS, ACTIVATION),
    )
    plugins, registry = plugins_with(vertical), tmp_path / "r"
    config = write(tmp_path, "[space]\nunits = [8, 12]\nactivation = ['tanh']\n")
    with pytest.raises(RunInterrupted):
        search("narrow", plugins=plugins, config=config, max_trials=3, epochs=1, run_name="cut", registry=registry)
    saved = json.loads((registry / ".runs" / "cut" / "run.json").read_text())
    assert saved["settings"]["space"] == {"units": [8, 12], "activation": ["tanh"]}
    result = resume("cut", plugins=plugins, registry=registry)
    trials = json.loads((result.path / "trials.json").read_text())
    assert len(trials) == 3 and all(t["status"] == "COMPLETED" for t in trials)
    assert all(
        8 <= t["hyperparameters"]["units"] <= 12 and t["hyperparameters"]["activation"] == "tanh" for t in trials
    )
