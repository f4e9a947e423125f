"""Vision end to end on real MNIST: a folder of PNG digits, searched by the vision vertical, beats chance well."""

from __future__ import annotations

import gzip
import json

import numpy as np
from helpers import only_run, run_vautoml, shared_dataset
from PIL import Image


def read_json(path):
    return json.loads(path.read_text())


def test_real_mnist_png_folder_learns_well_above_chance(tmp_path):
    source = shared_dataset("mnist-test")
    with gzip.open(source / "t10k-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(source / "t10k-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    folder = tmp_path / "mnist"
    for i in range(1200):
        target = folder / f"digit_{labels[i]}" / f"{i:05d}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i]).save(target)
    registry = tmp_path / "registry"
    done = run_vautoml(
        "search",
        "--plugin",
        "vision",
        "--data",
        str(folder),
        "--max-trials",
        "2",
        "--epochs",
        "4",
        "--registry",
        str(registry),
    )
    assert done.returncode == 0, done.stderr
    run = only_run(registry)
    report = read_json(run / "report.json")
    spec = read_json(run / "preprocessing.json")["input"]
    assert spec["shape"] == [28, 28, 1] and spec["value_range"] == [0.0, 255.0] and spec["resize"]["height"] == 28
    assert report["test_metrics"]["examples"] == 240
    assert report["test_metrics"]["accuracy"] > 0.6, report["test_metrics"]  # chance is 0.1
