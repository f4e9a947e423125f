"""The conformance suite fails, naming the check and the fix, on verticals that break the contract.

The built-in plugins' own tests (``plugins/*/tests/test_conformance.py``) show
it passing; these show that each kind of breakage is caught by the check
meant for it, on throwaway verticals and a few hundred digits.
"""

from __future__ import annotations

import dataclasses
import unittest

import numpy as np
import pytest
from helpers import plugins_with

from vertical_automl import DataLoader, Encoder, Vertical, blocks, heads
from vertical_automl.data import images
from vertical_automl.data.input_kind import InputKind
from vertical_automl.errors import UsageError
from vertical_automl.testing import CHECK_NAMES, ConformanceError, conformance_checks

NPZ = DataLoader("npz", "an .npz file with x and y", images.is_npz, images.load_npz_images)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """Zeros and ones of scikit-learn's digits: 120 training and 40 test images as .npz files."""
    from sklearn.datasets import load_digits

    folder = tmp_path_factory.mktemp("digits")
    bunch = load_digits(n_class=2)
    x, y = bunch.images.astype("float32"), bunch.target.astype(str)
    np.savez(folder / "train.npz", x=x[:120], y=y[:120])
    np.savez(folder / "test.npz", x=x[120:160], y=y[120:160])
    return folder


def searched_model(hp, info):
    import keras

    inputs = keras.Input(shape=info.input_shape)
    x = keras.layers.Flatten()(keras.layers.Rescaling(1 / 16)(inputs))
    x = blocks.dense_stack(hp, x, widths=(4, 8), max_depth=2, max_dropout=0.2)
    return heads.compile_model(keras.Model(inputs, heads.output(x, info)), hp, info)


def fixed_model(hp, info):
    """Ignores ``hp``: every trial would train the same network."""
    import keras

    inputs = keras.Input(shape=info.input_shape)
    x = keras.layers.Dense(4, activation="relu")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid", name="output")(x))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


TINY = Vertical(name="tiny", description="", tasks=("binary",), build_model=searched_model, loaders=(NPZ,))


def failure(vertical, folder, check, **kwargs):
    found = {
        c.name: c
        for c in conformance_checks(
            vertical.name, folder / "train.npz", plugins=plugins_with(vertical), workdir=folder / check, **kwargs
        )
    }
    with pytest.raises(ConformanceError) as raised:
        found[check]()
    assert raised.value.check == check
    assert str(raised.value).startswith(f"conformance check '{check}' failed: ")
    assert ". Fix: " in str(raised.value) and "\n" not in str(raised.value)
    return raised.value


def test_the_checks_are_named_in_order(digits):
    checks = conformance_checks("tiny", digits / "train.npz", plugins=plugins_with(TINY), workdir=digits / "names")
    assert tuple(check.name for check in checks) == CHECK_NAMES
    assert all(check.description for check in checks)
    checks[0]()  # declarations
    checks[1]()  # loaders


def test_bad_arguments_are_one_line_usage_errors(digits, tmp_path):
    with pytest.raises(UsageError, match="conformance data '.*missing.npz' does not exist"):
        conformance_checks("tiny", tmp_path / "missing.npz", workdir=tmp_path)
    with pytest.raises(UsageError, match="max_trials must be a whole number"):
        conformance_checks("tiny", digits / "train.npz", workdir=tmp_path, max_trials=0)


def test_an_unknown_vertical_fails_the_declarations(digits):
    found = conformance_checks("nosuch", digits / "train.npz", plugins=plugins_with(TINY), workdir=digits / "unknown")
    with pytest.raises(
        ConformanceError, match=r"'declarations' failed: unknown plugin or vertical 'nosuch' \(available: tiny\)"
    ):
        found[0]()


def test_a_loader_without_an_input_kind_fails_the_loaders_check(digits):
    def kindless(path, options, like=None):
        data = images.load_npz_images(path, options, like)
        return dataclasses.replace(data, input_spec={k: v for k, v in data.input_spec.items() if k != "kind"})

    vertical = dataclasses.replace(TINY, loaders=(dataclasses.replace(NPZ, load=kindless),))
    error = failure(vertical, digits, "loaders")
    assert 'input_spec["kind"] is not set' in error.problem


def test_samples_for_an_unknown_loader_fail_the_loaders_check(digits):
    error = failure(TINY, digits, "loaders", samples={"hdf5": digits / "test.npz"})
    assert "samples name loader(s) hdf5" in error.problem and "npz" in error.problem


def test_a_builder_that_ignores_its_hyperparameters_fails_the_space_check(digits):
    error = failure(dataclasses.replace(TINY, build_model=fixed_model), digits, "space")
    assert "all built the same model" in error.problem


def test_a_model_that_needs_plugin_code_fails_the_standalone_check(digits):
    import keras

    @keras.saving.register_keras_serializable(package="tiny_plugin")
    class Doubled(keras.layers.Layer):
        def call(self, x):
            return x * 2

    def custom_model(hp, info):
        inputs = keras.Input(shape=info.input_shape)
        x = keras.layers.Flatten()(Doubled()(inputs))
        x = blocks.dense_stack(hp, x, widths=(4, 8), max_depth=1, max_dropout=0.2)
        return heads.compile_model(keras.Model(inputs, heads.output(x, info)), hp, info)

    vertical = dataclasses.replace(TINY, build_model=custom_model)
    error = failure(vertical, digits, "standalone_bundle", max_trials=1, epochs=1)
    assert "does not load in safe mode without" in error.problem and "vertical_automl" in error.problem


def test_an_unseeded_loader_passes_the_search_check_and_fails_the_same_seed_check(digits):
    def shuffled(path, options, like=None):
        data = images.load_npz_images(path, options, like)
        return data if like is not None else data.subset(np.random.default_rng().permutation(len(data)))

    vertical = dataclasses.replace(TINY, loaders=(dataclasses.replace(NPZ, load=shuffled),))
    checks = conformance_checks(
        "tiny", digits / "train.npz", plugins=plugins_with(vertical), workdir=digits / "unseeded", epochs=1
    )
    checks[CHECK_NAMES.index("search")]()  # the first search is fine on its own
    with pytest.raises(ConformanceError) as raised:
        checks[CHECK_NAMES.index("same_seed")]()
    assert raised.value.check == "same_seed"
    assert "with seed 0" in raised.value.problem


def test_the_searchs_positive_class_is_not_a_loader_option_but_others_reach_the_loader(digits):
    def loaders_check(options):
        checks = conformance_checks(
            "tiny", digits / "train.npz", options=options, plugins=plugins_with(TINY), workdir=digits / "options"
        )
        return checks[CHECK_NAMES.index("loaders")]

    loaders_check({"positive_class": "1"})()
    with pytest.raises(ConformanceError, match="unknown data option"):
        loaders_check({"bogus": "1"})()


class Scaled(Encoder):
    """A trivial encoder, to attach where a kind expects none (or another)."""

    def fit(self, x):
        return self

    def transform(self, x):
        return np.asarray(x, dtype=np.float32) / 16

    def spec(self):
        return {}


def test_an_encoder_or_kind_other_than_the_kinds_fails_the_loaders_check(digits):
    def with_encoder(path, options, like=None):
        return dataclasses.replace(images.load_npz_images(path, options, like), encoder=Scaled())

    vertical = dataclasses.replace(TINY, loaders=(dataclasses.replace(NPZ, load=with_encoder),))
    assert (
        "kind 'image' has no encoder, but the loader attached a Scaled" in failure(vertical, digits, "loaders").problem
    )

    declared = dataclasses.replace(NPZ, kind=InputKind("pixels", "8x8 digits", encoder=Scaled))
    problem = failure(dataclasses.replace(TINY, loaders=(declared,)), digits, "loaders").problem
    assert "input_spec[\"kind\"] is 'image', but the loader declares kind 'pixels'" in problem


def test_without_a_test_file_the_predict_evaluate_check_is_skipped_with_its_reason(digits):
    """Skipped before any search runs: the passing checks are shown by every built-in plugin's own suite."""
    checks = conformance_checks("tiny", digits / "train.npz", plugins=plugins_with(TINY), workdir=digits / "passing")
    with pytest.raises(unittest.SkipTest, match="no test_data given: predict and evaluate need a test file"):
        checks[CHECK_NAMES.index("predict_evaluate")]()
