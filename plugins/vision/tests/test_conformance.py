"""The vision vertical passes the conformance suite, on a subset of its built-in digits, through each loader."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from PIL import Image
from vautoml_vision import VISION

from vertical_automl.testing import CHECK_NAMES, conformance_checks


def write_samples(folder):
    """300 training and 100 test digits as .npz (the searches), plus an HDF5 file and an image folder (loaders)."""
    data = VISION.default_data()
    labels = np.asarray(data.class_names)[data.y]
    rows = np.random.default_rng(0).permutation(len(data.y))
    train, test = rows[:300], rows[300:400]
    np.savez(folder / "train.npz", x=data.x[train], y=labels[train])
    np.savez(folder / "test.npz", x=data.x[test], y=labels[test])
    with h5py.File(folder / "digits.h5", "w") as handle:
        handle["x"], handle["y"] = data.x[test], labels[test].astype("S")
    for index in test[:30]:
        place = folder / "images" / labels[index]
        place.mkdir(parents=True, exist_ok=True)
        pixels = (data.x[index, ..., 0] * (255 / 16)).astype(np.uint8)
        Image.fromarray(pixels, mode="L").save(place / f"{index}.png")
    return {"hdf5": folder / "digits.h5", "image-folder": folder / "images"}


@pytest.fixture(scope="module")
def checks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vision-conformance")
    samples = write_samples(folder)
    found = conformance_checks(
        "vision", folder / "train.npz", test_data=folder / "test.npz", samples=samples, workdir=folder, epochs=1
    )  # one epoch: the checks are about the contract, not the fit
    return {check.name: check for check in found}


@pytest.mark.parametrize("name", CHECK_NAMES)
def test_vision_conforms(checks, name):
    checks[name]()
