"""One model trained by two processes (``--devices 2``, gloo on the CPU) trains as one process with the same batches."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from helpers import only_run, write_table

from vertical_automl import training
from vertical_automl.pipeline import search
from vertical_automl.training import devices


def _model(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, activation="relu", kernel_regularizer=keras.regularizers.L2(1e-3))(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(hidden))
    model.compile(optimizer=keras.optimizers.Adam(1e-2, clipnorm=1.0), loss="binary_crossentropy")
    return model


def _data(rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 4)).astype(np.float32)
    y = (x[:, 0] - x[:, 1] + rng.normal(scale=0.5, size=rows) > 0).astype(np.float32)
    return x, y, rng.uniform(0.5, 2.0, rows).astype(np.float32)


def _fits(model: keras.Model, x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> list[keras.callbacks.History]:
    """Two fits of one model, as a trial and a refit would: shuffled batches, a halved rate, early stopping."""
    np.random.seed(0)
    halve = keras.callbacks.LearningRateScheduler(lambda epoch, rate: rate * 0.5 if epoch else rate)
    first = training.fit(model, x, y, batch_size=32, epochs=3, sample_weight=weights, callbacks=[halve])
    stop = keras.callbacks.EarlyStopping(monitor="loss", min_delta=10.0, patience=1)  # stops after the second epoch
    return [first, training.fit(model, x, y, batch_size=32, epochs=5, callbacks=[stop])]


class _Fails(keras.callbacks.Callback):
    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        raise RuntimeError("diverged")


def test_two_processes_train_the_weights_one_process_trains_with_the_same_global_batch(tmp_path):
    """193 rows: the last batch of each epoch has one row, so rank 1's share is empty there (it adds nothing).

    Then a fit that fails at an epoch end (the helper waits at a step rank 0 will not reach) closes the
    group, and the next fit starts a new one.
    """
    x, y, weights = _data(193)
    alone = _model(0)
    alone_histories = _fits(alone, x, y, weights)
    shared = _model(0)
    with devices.group(2, [], tmp_path / "logs"):
        shared_histories = _fits(shared, x, y, weights)
        group = devices.current()
        assert group is not None and group.fits == 2 and len(group.helpers) == 1
        with pytest.raises(RuntimeError, match="diverged"):
            training.fit(_model(1), x, y, batch_size=16, epochs=2, callbacks=[_Fails()])
        assert not group.started  # its helper was stopped
        again = training.fit(_model(1), x, y, batch_size=16, epochs=1)
        assert again.params[training.STEP_KEY].startswith("own, data-parallel on 2 devices")
        assert group.fits == 4 and group.started
        helper = group.helpers[0]
    assert helper.wait(timeout=60) == 0  # told to exit as the group closed
    assert devices.current() is None
    for ours, theirs in zip(shared.get_weights(), alone.get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)
    for ours, theirs in zip(shared_histories, alone_histories):
        assert ours.params[training.STEP_KEY] == "own, data-parallel on 2 devices (gloo)"
        assert theirs.params[training.STEP_KEY] == "own"
        np.testing.assert_allclose(ours.history["loss"], theirs.history["loss"], rtol=1e-4)
    assert len(shared_histories[1].epoch) == len(alone_histories[1].epoch) == 2


def test_a_search_with_two_devices_trains_every_trial_on_both_and_says_so(tmp_path):
    write_table(tmp_path / "train.csv", 200, 0)
    result = search(
        "tiny-table",
        tmp_path / "train.csv",
        max_trials=2,
        epochs=2,
        folds=2,
        devices=2,
        workers=1,
        registry=tmp_path / "registry",
    )
    assert result.report["search"]["settings"]["devices"] == 2
    run = only_run(tmp_path / "registry")
    logs = sorted((run / "logs").glob("trial_*.txt"))
    assert len(logs) == 2
    assert all(log.read_text() == "training step: own, data-parallel on 2 devices (gloo)\n" for log in logs)
    assert json.loads((run / "trials.json").read_text())[0]["status"] == "COMPLETED"
