"""Throughput: vautoml's trial path against a hand-written PyTorch loop, per vertical.

For each vertical, the *default model* (every searched hyperparameter at its
default: the first choice or the low end of its range, i.e. the smallest
model of the space) is trained for the same number of steps, on the same
encoded data, at the same batch size, two ways in this one process:

* vautoml: ``VerticalHyperModel.fit`` with the callbacks every trial gets
  (early stopping, the non-finite-loss check, the per-trial CSV log, the
  progress report), twice: through ``keras.Model.fit`` on the PyTorch backend
  (``VAUTOML_TRAINING_STEP=fit``) and through our own training step
  (``vertical_automl.training``, what trials use);
* plain PyTorch: an ``nn.Module`` with the same layers and initial weights
  copied from the Keras model, the same optimizer (SGD, learning rate 1e-3,
  gradient norm clipped to 5) and loss, in a minimal ``for`` loop over
  shuffled batches of pre-made tensors.

It prints samples per second for the three and the step's ratio to plain
PyTorch (aim: >= 0.9); a workload whose hand-written twin no longer matches
its default model says so in that column.  Then whole trials: a search of
``--trials`` trials (one process, cross-validated as by default) on German
credit and Pima, once through ``Model.fit`` and once through our step, and
the trials per hour of each (from the trials' own seconds in ``trials.json``,
so loading, the export and the report are not counted).  Nothing is asserted.
Run:

    python benchmarks/throughput.py [--steps 300] [--batch-size 64] [--threads N] [--only MNIST ...] [--trials 6]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
WORKLOADS = (
    ("vision", None, {}, "digits 8x8 (bundled)"),
    ("vision", SHARED / "mnist-test", {}, "MNIST test set, 28x28"),
    ("text", SHARED / "sms-spam-collection" / "SMSSpamCollection", {}, "SMS spam"),
    ("finance", SHARED / "german-credit" / "german.csv", {"header": "false", "target_column": "-1"}, "German credit"),
    ("medical", None, {}, "breast cancer (bundled)"),
)


def mnist_npz(folder: Path, work: Path) -> Path:
    """The MNIST idx files as the ``.npz`` (x, y) the vision loader reads."""
    import gzip

    images = np.frombuffer(gzip.open(folder / "t10k-images-idx3-ubyte.gz").read(), np.uint8, offset=16).reshape(
        -1, 28, 28
    )
    labels = np.frombuffer(gzip.open(folder / "t10k-labels-idx1-ubyte.gz").read(), np.uint8, offset=8)
    np.savez(work / "mnist.npz", x=images, y=labels)
    return work / "mnist.npz"


def dataset_for(plugin: str, data: Path | None, options: dict[str, str]):
    """The encoded train split a search would use."""
    if data is not None and data.name == "mnist-test":
        with tempfile.TemporaryDirectory() as work:
            return dataset_for(plugin, mnist_npz(data, Path(work)), options)
    from vertical_automl.data.split import split_dataset
    from vertical_automl.loading import load_training_data
    from vertical_automl.pipeline.inputs import task_for
    from vertical_automl.plugins import get_plugins

    plugins = get_plugins()
    vertical, _ = plugins.get_vertical(plugin)
    training = load_training_data(plugins, vertical, data, options)
    return vertical, split_dataset(training, task_for(vertical, training), None, 0.2, 0.2, 0)


def default_model(vertical, dataset):
    import keras_tuner as kt

    from vertical_automl.space import SpaceConfig, using

    hp = kt.HyperParameters()
    with using(SpaceConfig()):
        model = vertical.build_model(hp, dataset.info)
    return hp, model


def batches(x, y, steps: int, batch_size: int, seed: int = 0):
    """``steps * batch_size`` examples: the training data repeated and shuffled (the same for both paths)."""
    rng = np.random.default_rng(seed)
    index = np.concatenate([rng.permutation(len(y)) for _ in range(steps * batch_size // len(y) + 1)])[
        : steps * batch_size
    ]
    return x[index], y[index]


def keras_samples_per_second(hp, model, vertical, dataset, x, y, batch_size: int, epochs: int, step: str) -> float:
    """``step``: "fit" (``Model.fit``) or "own" (our training step)."""
    import keras

    from vertical_automl.search_engine.callbacks import EpochReport, NonFiniteLoss
    from vertical_automl.search_engine.hypermodel import VerticalHyperModel
    from vertical_automl.search_engine.progress import SearchProgress
    from vertical_automl.settings import SearchSettings
    from vertical_automl.training.step import CHOICE_VARIABLE

    hypermodel = VerticalHyperModel(vertical, dataset, SearchSettings(batch_size=batch_size))
    os.environ[CHOICE_VARIABLE] = step
    objective = "loss"
    with tempfile.TemporaryDirectory() as logs:
        callbacks = [
            keras.callbacks.EarlyStopping(monitor=objective, patience=100),
            NonFiniteLoss(),
            keras.callbacks.CSVLogger(str(Path(logs) / "trial.csv")),
            EpochReport(SearchProgress(), "0", epochs),
        ]
        hypermodel.fit(
            hp, model, x[: batch_size * 5], y[: batch_size * 5], epochs=1, verbose=0, callbacks=callbacks
        )  # warm-up
        started = time.perf_counter()
        hypermodel.fit(hp, model, x, y, epochs=epochs, verbose=0, callbacks=callbacks, shuffle=True)
        return epochs * len(y) / (time.perf_counter() - started)


def torch_samples_per_second(module, loss_fn, x, y, batch_size: int, epochs: int) -> float:
    inputs, targets = torch.as_tensor(x), torch.as_tensor(y)
    optimizer = torch.optim.SGD(module.parameters(), lr=1e-3)

    def epoch(rows):
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(module(inputs[batch]), targets[batch])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), 5.0)
            optimizer.step()
            if not torch.isfinite(loss):
                raise FloatingPointError("non-finite loss")

    module.train()
    epoch(torch.randperm(len(targets))[: batch_size * 5])  # warm-up
    started = time.perf_counter()
    for _ in range(epochs):
        epoch(torch.randperm(len(targets)))
    return epochs * len(targets) / (time.perf_counter() - started)


class Lambda(nn.Module):
    """A function as a layer (rescaling, layout change, pooling)."""

    def __init__(self, function) -> None:
        super().__init__()
        self.function = function

    def forward(self, tensor: torch.Tensor) -> torch.Tensor:
        return self.function(tensor)


def torch_twin(model, dataset):
    """A PyTorch module with the Keras default model's layers and weights, and its loss."""
    info = dataset.info
    layers = {type(layer).__name__: layer for layer in model.layers}
    dense = [layer for layer in model.layers if type(layer).__name__ == "Dense"]

    def linear(layer) -> nn.Linear:
        kernel, bias = (np.asarray(w) for w in layer.get_weights())
        out = nn.Linear(kernel.shape[0], kernel.shape[1])
        out.weight.data, out.bias.data = torch.tensor(kernel.T.copy()), torch.tensor(bias)
        return out

    binary = info.task == "binary"
    head = [linear(dense[-1]), *([nn.Sigmoid()] if binary else [])]

    if "Conv2D" in layers:
        convs = [layer for layer in model.layers if type(layer).__name__ == "Conv2D"]
        low, high = info.input_spec["value_range"]
        body = [Lambda(lambda t: ((t - low) / (high - low)).permute(0, 3, 1, 2))]
        for conv in convs:
            weights = [np.asarray(w) for w in conv.get_weights()]
            torch_conv = nn.Conv2d(
                weights[0].shape[2], weights[0].shape[3], weights[0].shape[0], padding="same", bias=len(weights) > 1
            )
            torch_conv.weight.data = torch.tensor(weights[0].transpose(3, 2, 0, 1).copy())
            if len(weights) > 1:
                torch_conv.bias.data = torch.tensor(weights[1])
            body += [torch_conv, nn.ReLU(), nn.MaxPool2d(2)]
        body += [nn.Flatten()] + [item for layer in dense[:-1] for item in (linear(layer), nn.ReLU())]
    elif "Embedding" in layers:
        embedding = nn.Embedding.from_pretrained(
            torch.tensor(np.asarray(layers["Embedding"].get_weights()[0])), freeze=False
        )
        body = [embedding, Lambda(lambda t: torch.cat([t.mean(dim=1), t.amax(dim=1)], dim=1))]
        body += [item for layer in dense[:-1] for item in (linear(layer), nn.ReLU())]
    else:
        mean, variance = (
            torch.tensor(np.asarray(v), dtype=torch.float32)
            for v in (info.statistics["mean"], info.statistics["variance"])
        )
        body = [Lambda(lambda t: (t - mean) / torch.sqrt(torch.clamp(variance, min=1e-7)))]
        body += [item for layer in dense[:-1] for item in (linear(layer), nn.ReLU())]
    module = nn.Sequential(*body, *head)
    if binary:
        return module, lambda out, target: nn.functional.binary_cross_entropy(out[:, 0], target.float())
    return module, lambda out, target: nn.functional.cross_entropy(out, target.long())


def trials_per_hour(case_name: str, trials: int, epochs: int, step: str) -> tuple[float, float]:
    """A search of ``trials`` trials on a headline table, trained through ``step``; its trials/hour and best score."""
    import json

    from quality import german, pima

    from vertical_automl import search
    from vertical_automl.training.step import CHOICE_VARIABLE

    case = {"german": german, "pima": pima}[case_name]()
    os.environ[CHOICE_VARIABLE] = step
    with tempfile.TemporaryDirectory() as work:
        data = case.x.assign(**{case.target: case.y})
        data.to_csv(Path(work) / "train.csv", index=False)
        result = search(
            case.plugin,
            Path(work) / "train.csv",
            data_options=case.options,
            max_trials=trials,
            epochs=epochs,
            workers=1,
            seed=0,
            registry=Path(work) / "registry",
        )
        rows = json.loads((result.path / "trials.json").read_text())
    seconds = sum(row["seconds"] for row in rows)
    return len(rows) * 3600 / seconds, max(row["score"] for row in rows if row["score"] is not None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps per epoch")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads for both paths (default: torch's, one per core)"
    )
    parser.add_argument(
        "--only", nargs="*", default=None, help="workloads whose label contains one of these words, e.g. MNIST medical"
    )
    parser.add_argument("--trials", type=int, default=6, help="trials per whole-trial search (0: skip them)")
    parser.add_argument("--trial-epochs", type=int, default=30, help="epochs per trial in the whole-trial searches")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"{args.steps} steps x {args.epochs} epochs at batch {args.batch_size}"
    )
    print(f"{'workload':<34} {'Model.fit':>10} {'own step':>10} {'plain torch':>12} {'step/torch':>10}  (samples/s)")
    for plugin, data, options, label in WORKLOADS:
        if args.only and not any(word.lower() in f"{plugin} {label}".lower() for word in args.only):
            continue
        if data is not None and not data.exists():
            print(f"{plugin + ': ' + label:<34} skipped ({data} not found)")
            continue
        vertical, dataset = dataset_for(plugin, data, options)
        x, y = batches(dataset.train.x, dataset.train.y, args.steps, args.batch_size)
        hp, model = default_model(vertical, dataset)
        try:
            module, loss_fn = torch_twin(model, dataset)
            plain = torch_samples_per_second(module, loss_fn, x, y, args.batch_size, args.epochs)
        except RuntimeError as error:  # the twin's layers no longer match the default model's
            plain, why = None, str(error).splitlines()[0][:60]
        fit, own = (
            keras_samples_per_second(hp, model, vertical, dataset, x, y, args.batch_size, args.epochs, step)
            for step in ("fit", "own")
        )
        torch_text, ratio = (f"{plain:,.0f}", f"{own / plain:.2f}") if plain else ("n/a", f"(twin: {why})")
        print(f"{plugin + ': ' + label:<34} {fit:>10,.0f} {own:>10,.0f} {torch_text:>12} {ratio:>10}", flush=True)
        sys.stdout.flush()
    if not args.trials:
        return
    print(f"\nwhole trials: {args.trials} trials of up to {args.trial_epochs} epochs, one process, cross-validated")
    print(f"{'dataset':<10} {'Model.fit trials/h':>19} {'own step trials/h':>18} {'ratio':>6}  best score (fit, own)")
    for name in ("german", "pima"):
        (old, old_score), (new, new_score) = (
            trials_per_hour(name, args.trials, args.trial_epochs, step) for step in ("fit", "own")
        )
        scores = f"{old_score:.4f}, {new_score:.4f}"
        print(f"{name:<10} {old:>19,.0f} {new:>18,.0f} {new / old:>6.2f}  {scores}", flush=True)


if __name__ == "__main__":
    main()
