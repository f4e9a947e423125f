"""The vision plugin: registration, default data, and models that train and reload in safe mode."""

from __future__ import annotations

import keras
import keras_tuner as kt
import numpy as np
import pytest
from vautoml_vision import VISION, load_digits
from vautoml_vision.model import AUGMENTATIONS, build_model

from vertical_automl import DatasetInfo
from vertical_automl.plugins import InstalledPlugins


def test_registered_through_its_entry_point():
    plugins = InstalledPlugins({"VAUTOML_LOAD_PLUGINS": "vision"})
    vertical, record = plugins.get_vertical("vision")
    # the core hands out a copy whose plugin functions name the plugin when they crash
    assert (vertical.name, vertical.description) == (VISION.name, VISION.description)
    assert record.distribution == "vautoml-vision"
    assert [loader.name for loader in plugins.loaders_for("vision")] == ["image-folder", "npz", "hdf5"]


def test_default_data_is_bundled_digits():
    data = load_digits()
    assert data.x.shape == (1797, 8, 8, 1) and len(data.class_names) == 10
    assert data.input_spec["value_range"] == [0.0, 16.0]


def info(shape=(8, 8, 1), value_range=(0.0, 16.0), classes=3):
    return DatasetInfo("multiclass", shape, tuple(str(i) for i in range(classes)), {"value_range": list(value_range)})


@pytest.mark.parametrize("augmentation", AUGMENTATIONS)
def test_models_train_and_reload_in_safe_mode(tmp_path, augmentation):
    hp = kt.HyperParameters()
    hp.Fixed("augmentation", augmentation)
    hp.Fixed("depth", 2)
    hp.Fixed("batch_norm", True)
    model = build_model(hp, info((12, 10, 3), (0.0, 255.0)))
    x = np.random.default_rng(0).integers(0, 256, (16, 12, 10, 3)).astype("float32")
    y = np.arange(16) % 3
    history = model.fit(x, y, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert reloaded.predict(x, verbose=0).shape == (16, 3)


def test_depth_range_follows_the_image_size():
    for shape, least, most in (((8, 8, 1), 1, 2), ((28, 28, 1), 2, 3), ((64, 48, 3), 3, 4), ((4, 4, 1), 1, 1)):
        hp = kt.HyperParameters()
        build_model(hp, info(shape))
        depth = {h.name: h for h in hp.space}["depth"]
        bounds = (depth.min_value, depth.max_value) if hasattr(depth, "max_value") else (depth.value, depth.value)
        assert bounds == (least, most), shape


def test_the_recipe_is_a_legal_point_of_the_space_and_every_value_is_used():
    from vertical_automl.search_engine.oracles import RandomWithRecipes

    for shape in ((28, 28, 1), (8, 8, 1), (32, 32, 3)):
        space = kt.HyperParameters()
        build_model(space, info(shape))
        oracle = RandomWithRecipes(recipes=VISION.recipes, objective=kt.Objective("val_accuracy", "max"))
        oracle.hyperparameters = space
        chosen = oracle.populate_space("0")["values"]
        assert chosen == {**chosen, **VISION.recipes[0]}, shape  # no value fell back to a default
        hp = kt.HyperParameters()
        hp.values.update(chosen)
        build_model(hp, info(shape))
        assert {name for name in VISION.recipes[0] if hp.is_active(name)} == set(VISION.recipes[0])
