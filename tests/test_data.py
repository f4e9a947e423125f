"""Core loaders and splitting: formats, sizes, alignment, and every bad-input message."""

from __future__ import annotations

from dataclasses import replace

import h5py
import numpy as np
import pytest
from PIL import Image

from vertical_automl import DataError
from vertical_automl.data.arrays import align_to_classes, image_arrays
from vertical_automl.data.dataset import LabeledData
from vertical_automl.data.encoding import Encoder
from vertical_automl.data.images import load_hdf5_images, load_image_folder, load_npz_images
from vertical_automl.data.split import split_dataset


def write_image(path, size=(10, 12), color=None, mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(str(path)))
    shape = (size[0], size[1]) if mode == "L" else (size[0], size[1], 3)
    Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8), mode).save(path)


def test_image_folder_resizes_to_the_most_common_size_and_keeps_raw_pixels(tmp_path):
    for i in range(3):
        write_image(tmp_path / "cat" / f"{i}.png", (10, 12))
        write_image(tmp_path / "dog" / f"{i}.bmp", (10, 12))
    write_image(tmp_path / "dog" / "odd.jpg", (30, 20))
    (tmp_path / "dog" / "notes.txt").write_text("ignored: not an image")
    data = load_image_folder(tmp_path, {})
    assert data.x.shape == (7, 10, 12, 1) and data.x.dtype == np.uint8
    assert data.class_names == ("cat", "dog") and data.class_counts() == {"cat": 3, "dog": 4}
    assert data.input_spec["resize"] == {"height": 10, "width": 12, "method": "bilinear (Pillow)"}
    assert data.input_spec["value_range"] == [0.0, 255.0] and data.input_spec["color_mode"] == "grayscale"


def test_image_folder_goes_rgb_when_any_image_has_colour_and_honours_options(tmp_path):
    write_image(tmp_path / "a" / "1.png", mode="RGB")
    write_image(tmp_path / "b" / "1.png")
    assert load_image_folder(tmp_path, {}).x.shape[-1] == 3
    data = load_image_folder(tmp_path, {"image_size": "6x5", "color_mode": "grayscale"})
    assert data.x.shape == (2, 6, 5, 1)
    with pytest.raises(DataError, match="image_size 'huge' is not a size"):
        load_image_folder(tmp_path, {"image_size": "huge"})


def test_test_folder_is_read_like_the_training_folder(tmp_path):
    for split, size in (("train", (10, 12)), ("test", (40, 40))):
        write_image(tmp_path / split / "a" / "1.png", size, mode="RGB")
        write_image(tmp_path / split / "b" / "1.png", size)
    train = load_image_folder(tmp_path / "train", {})
    test = load_image_folder(tmp_path / "test", {}, like=train)
    assert test.x.shape[1:] == train.x.shape[1:] == (10, 12, 3)


@pytest.mark.parametrize(
    "layout, message",
    [
        ({}, "has no class sub-folders"),
        ({"loose.png": None}, "1 loose image(s) and no class sub-folders"),
        ({"cat/": None, "dog/": None}, "holds no PNG, JPEG or BMP images"),
        ({"cat/1.png": None, "dog/": None}, "'dog' in"),
        ({"cat/1.png": None, "cat/2.png": None}, "has only one class ('cat')"),
        ({"cat/1.png": None, "dog/1.png": b"this is not a png"}, "cannot read image"),
        ({"cat/1.png": None, "dog/1.jpg": b"\xff\xd8\xff\xe0truncated"}, "cannot read image"),
    ],
)
def test_image_folder_errors_name_the_problem_and_the_fix(tmp_path, layout, message):
    for name, content in layout.items():
        target = tmp_path / name
        if name.endswith("/"):
            target.mkdir(parents=True)
        elif content is None:
            write_image(target)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
    with pytest.raises(DataError) as raised:
        load_image_folder(tmp_path, {})
    assert message in str(raised.value) and "Fix:" in str(raised.value)


def test_npz_and_hdf5_loaders_read_x_and_y(tmp_path):
    x = np.random.default_rng(0).random((20, 8, 8)).astype("float32")
    y = np.array(["no", "yes"] * 10)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    with h5py.File(tmp_path / "d.h5", "w") as handle:
        handle["x"], handle["y"] = x, y.astype("S")
    for data in (load_npz_images(tmp_path / "d.npz", {}), load_hdf5_images(tmp_path / "d.h5", {})):
        assert data.x.shape == (20, 8, 8, 1) and data.class_names == ("no", "yes")
        assert data.input_spec["value_range"] == [0.0, 1.0]
        np.testing.assert_array_equal(data.y, (y == "yes").astype(int))


def test_array_file_errors(tmp_path):
    np.savez(tmp_path / "nox.npz", images=np.zeros((3, 4, 4)))
    with pytest.raises(DataError, match=r"has no array named x or y \(it has: images\)"):
        load_npz_images(tmp_path / "nox.npz", {})
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="cannot read .* as a NumPy .npz archive"):
        load_npz_images(tmp_path / "junk.npz", {})
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(DataError, match="cannot read .* as an HDF5 file"):
        load_hdf5_images(tmp_path / "junk.h5", {})
    with pytest.raises(DataError, match="NaN or infinite"):
        image_arrays(np.full((4, 4, 4), np.nan), [0, 1, 0, 1], "nan.npz")
    with pytest.raises(DataError, match="3 images but 2 labels"):
        image_arrays(np.zeros((3, 4, 4)), [0, 1], "short.npz")
    with pytest.raises(DataError, match="continuous numbers"):
        image_arrays(np.zeros((3, 4, 4)), [0.5, 1.0, 2.0], "float.npz")


def test_hidden_nested_folders_and_one_class_test_folders(tmp_path):
    for i in range(2):
        write_image(tmp_path / "train" / "a" / f"{i}.png")
        write_image(tmp_path / "train" / "b" / f"{i}.png")
    write_image(tmp_path / "train" / "a" / ".thumbnails" / "t.png", (3, 3))
    train = load_image_folder(tmp_path / "train", {})
    assert len(train) == 4 and train.x.shape[1:3] == (10, 12)
    write_image(tmp_path / "test" / "b" / "1.png")
    (tmp_path / "test" / "a").mkdir()
    test = load_image_folder(tmp_path / "test", {}, like=train)
    assert test.class_names == ("b",) and len(test) == 1


def test_test_folder_needs_folder_training_data(tmp_path):
    arrays = image_arrays(np.zeros((4, 10, 12)), [0, 1, 0, 1], "train.npz")
    write_image(tmp_path / "a" / "1.png")
    with pytest.raises(DataError, match="is an image folder but the training data"):
        load_image_folder(tmp_path, {}, like=arrays)


def test_array_loaders_refuse_options_and_read_hdf5_string_labels(tmp_path):
    x = np.zeros((4, 6, 6), dtype="uint8")
    with h5py.File(tmp_path / "d.h5", "w") as handle:
        handle["x"] = x
        handle.create_dataset("y", data=["cat", "dog", "cat", "dog"], dtype=h5py.string_dtype())
    assert load_hdf5_images(tmp_path / "d.h5", {}).class_names == ("cat", "dog")
    with pytest.raises(DataError, match=r"unknown data option\(s\) image_size .* use only these: none"):
        load_hdf5_images(tmp_path / "d.h5", {"image_size": "32"})
    with pytest.raises(DataError, match="holds no images"):
        image_arrays(np.zeros((0, 6, 6), dtype="float32"), [], "empty.npz")


def test_split_is_stratified_and_rejects_tiny_classes():
    x = np.zeros((100, 4, 4, 1), dtype="float32")
    data = image_arrays(x, [0] * 80 + [1] * 20, "arrays")
    dataset = split_dataset(data, "multiclass", seed=0)
    assert (len(dataset.train), len(dataset.validation), len(dataset.test)) == (64, 16, 20)
    assert dataset.test.class_counts() == {"0": 16, "1": 4}
    assert "held out of arrays" in dataset.test.source
    tiny = image_arrays(np.zeros((12, 4, 4)), [0] * 10 + [1] * 2, "tiny")
    with pytest.raises(DataError, match="class '1' has 2 example"):
        split_dataset(tiny, "multiclass")
    too_few = image_arrays(np.zeros((9, 4, 4)), [0, 1, 2] * 3, "few")
    with pytest.raises(DataError, match="cannot split 9 examples of 3 classes from few"):
        split_dataset(too_few, "multiclass", test_fraction=0.2)
    with pytest.raises(DataError, match="binary task needs exactly two classes"):
        split_dataset(too_few, "binary")
    one_class = image_arrays(np.zeros((5, 4, 4)), [3] * 5, "one")
    with pytest.raises(DataError, match=r"only one class \('3'\)"):
        split_dataset(one_class, "multiclass")


def test_test_data_is_reindexed_to_training_classes():
    train = image_arrays(np.zeros((4, 4, 4)), ["a", "b", "c", "c"], "train")
    test = image_arrays(np.zeros((2, 4, 4)), ["c", "b"], "test")
    np.testing.assert_array_equal(align_to_classes(test, train.class_names).y, [2, 1])
    with pytest.raises(DataError, match="classes the training data lacks: z"):
        align_to_classes(image_arrays(np.zeros((2, 4, 4)), ["a", "z"], "bad"), train.class_names)


def test_fingerprint_changes_with_the_data():
    a = image_arrays(np.zeros((4, 4, 4)), [0, 1, 0, 1], "a")
    b = image_arrays(np.ones((4, 4, 4)), [0, 1, 0, 1], "b")
    assert a.fingerprint() == image_arrays(np.zeros((4, 4, 4)), [0, 1, 0, 1], "c").fingerprint()
    assert a.fingerprint() != b.fingerprint()


class _ShiftEncoder(Encoder):
    """Adds one to every value and claims its own mean: encoder statistics must win over the core's."""

    def fit(self, x):
        return self

    def transform(self, x):
        return np.asarray(x, dtype="float32") + 1

    def spec(self):
        return {"shift": 1}

    @classmethod
    def from_spec(cls, spec):
        return cls()

    def statistics(self, encoded_train):
        return {"mean": [42.0]}


def test_floating_inputs_get_mean_variance_min_max_per_last_axis_without_an_encoder():
    rng = np.random.default_rng(0)
    x = rng.normal([0.0, 10.0, -5.0], [1.0, 3.0, 0.5], size=(150, 4, 3)).astype("float32")
    data = LabeledData(x, np.arange(150) % 2, ("a", "b"), {"kind": "arrays"}, "channels")
    dataset = split_dataset(data, "binary", seed=0)
    stats, train = dataset.info.statistics, dataset.train.x.reshape(-1, 3).astype(np.float64)
    assert sorted(stats) == ["max", "mean", "min", "variance"]
    np.testing.assert_allclose(stats["mean"], train.mean(axis=0))
    np.testing.assert_allclose(stats["variance"], train.var(axis=0))
    assert stats["min"] == train.min(axis=0).tolist() and stats["max"] == train.max(axis=0).tolist()
    assert all(isinstance(v, float) for values in stats.values() for v in values)
    shifted = split_dataset(replace(data, encoder=_ShiftEncoder()), "binary", seed=0).info.statistics
    assert shifted["mean"] == [42.0] and shifted["min"] == (train.min(axis=0) + 1).tolist()
    tokens = replace(data, x=rng.integers(0, 50, (150, 6)))  # token ids: numbers that are not magnitudes
    assert split_dataset(tokens, "binary", seed=0).info.statistics == {}
    target = replace(data, y=rng.normal(size=150).astype("float32"), class_names=())
    assert {"mean", "target_mean", "target_std"} <= set(split_dataset(target, "regression").info.statistics)


def test_a_builder_standardising_with_the_statistics_trains():
    import keras

    rng = np.random.default_rng(1)
    x = rng.normal(500.0, 80.0, size=(200, 5)).astype("float32")  # far from 0: unusable unless standardised
    y = (x[:, 0] > 500).astype(int)
    dataset = split_dataset(LabeledData(x, y, ("low", "high"), {"kind": "arrays"}, "offset arrays"), "binary")
    stats = dataset.info.statistics
    keras.utils.set_random_seed(0)  # before the layers are built, so their initial weights do not depend on test order
    inputs = keras.Input(shape=dataset.info.input_shape)
    scaled = keras.layers.Normalization(mean=stats["mean"], variance=stats["variance"])(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(scaled))
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(dataset.train.x, dataset.train.y, epochs=10, batch_size=32, verbose=0)
    assert np.isfinite(history.history["loss"]).all() and history.history["loss"][-1] < history.history["loss"][0]
    assert model.evaluate(dataset.validation.x, dataset.validation.y, verbose=0)[1] > 0.8


def test_ragged_windows_that_differ_in_one_reading_have_different_fingerprints():
    """str() abbreviates long arrays, so a fingerprint of their text would miss a changed reading."""
    windows = np.empty(2, dtype=object)
    windows[0], windows[1] = np.zeros((600, 3), "float32"), np.zeros((500, 3), "float32")
    changed = windows.copy()
    changed[0] = windows[0].copy()
    changed[0][300, 1] = 1.0
    first = LabeledData(windows, np.array([0, 1]), ("a", "b"), {"kind": "x"}, "windows")
    second = LabeledData(changed, np.array([0, 1]), ("a", "b"), {"kind": "x"}, "windows")
    assert first.fingerprint() != second.fingerprint()
    assert first.fingerprint() == LabeledData(windows.copy(), np.array([0, 1]), ("a", "b"), {}, "w").fingerprint()
