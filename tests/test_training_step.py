"""Our own training step (vertical_automl.training) against ``Model.fit``: same weights, same logs, same callbacks."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from vertical_automl import training


def table(rows: int = 96, features: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    return x, y


def small_model(seed: int = 1, dropout: float = 0.0) -> keras.Model:
    """Dense, batch normalisation, an L2 penalty: what the step must train exactly as ``fit`` does."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(6,))
    x = keras.layers.Dense(8, activation="relu", kernel_regularizer=keras.regularizers.L2(0.01))(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Dropout(dropout)(x)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-2, clipnorm=1.0), loss="binary_crossentropy", metrics=["accuracy"])
    return model


def twice(build, fit_kwargs: dict) -> tuple[keras.Model, keras.Model, keras.callbacks.History, keras.callbacks.History]:
    """The same model trained by ``Model.fit`` and by our step, from the same initial weights."""
    theirs, ours = build(), build()
    ours.set_weights(theirs.get_weights())
    expected = theirs.fit(**fit_kwargs, verbose=0)
    got = training.fit(ours, **fit_kwargs)
    return theirs, ours, expected, got


def assert_same_weights(a: keras.Model, b: keras.Model) -> None:
    for left, right in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(left, right, rtol=1e-4, atol=1e-5)


def test_same_weights_and_logs_as_fit_without_shuffling() -> None:
    x, y = table()
    weights = np.linspace(0.5, 1.5, len(y)).astype(np.float32)
    vx, vy = table(40, seed=3)
    theirs, ours, expected, got = twice(
        small_model,
        {
            "x": x,
            "y": y,
            "sample_weight": weights,
            "batch_size": 16,
            "epochs": 3,
            "shuffle": False,
            "validation_data": (vx, vy),
        },
    )
    assert got.params[training.STEP_KEY] == "own"
    assert_same_weights(theirs, ours)  # BatchNormalization's moving statistics and the optimizer's steps included
    assert {"loss", "val_loss", "val_accuracy"} <= set(got.history)
    for name in ("loss", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(got.history[name], expected.history[name], rtol=1e-4, atol=1e-5)


def packed(seed: int = 2) -> keras.Model:
    """Two functional models side by side behind one input, as cross-validation packs its folds."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(6,))
    outputs = []
    for index in range(2):
        with keras.name_scope(f"fold_{index}"):
            inner_in = keras.Input(shape=(6,))
            hidden = keras.layers.Dense(4, activation="relu")(inner_in)
            inner = keras.Model(inner_in, keras.layers.Dense(1)(hidden), name=f"fold_{index}")
            outputs.append(inner(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.AdamW(1e-2), loss=["mse", "mse"], loss_weights=[0.5, 0.5])
    return model


def test_nested_models_with_an_output_and_sample_weights_each() -> None:
    x, _ = table()
    target = x[:, :1] * 2.0
    masks = [np.arange(len(x)) % 2 == k for k in range(2)]
    theirs, ours, expected, got = twice(
        packed,
        {
            "x": x,
            "y": [target, target],
            "sample_weight": [m.astype(np.float32) for m in masks],
            "batch_size": 32,
            "epochs": 2,
            "shuffle": False,
        },
    )
    assert got.params[training.STEP_KEY] == "own"
    assert_same_weights(theirs, ours)
    np.testing.assert_allclose(got.history["loss"], expected.history["loss"], rtol=1e-4)


def test_dropout_trains_in_training_mode_only() -> None:
    from vertical_automl.training import graph

    model = small_model(dropout=0.5)
    x, _ = table()
    inference = keras.ops.convert_to_numpy(graph.forward(model, x, training=False))
    np.testing.assert_allclose(inference, keras.ops.convert_to_numpy(model(x, training=False)), rtol=1e-5, atol=1e-6)
    trained = keras.ops.convert_to_numpy(graph.forward(model, x, training=True))
    assert not np.allclose(trained, inference)


def test_callbacks_stop_training_and_see_every_step() -> None:
    class CountSteps(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.begun = self.ended = 0

        def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
            self.begun += 1

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            self.ended += 1

    class StopAfterTwo(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self.model.stop_training = epoch == 1

    x, y = table()
    counter = CountSteps()
    history = training.fit(small_model(), x, y, batch_size=32, epochs=10, callbacks=[counter, StopAfterTwo()])
    assert history.epoch == [0, 1]
    assert counter.begun == counter.ended == 2 * 3  # 96 rows in batches of 32, two epochs


def test_same_seed_same_weights() -> None:
    x, y = table()
    runs = []
    for _ in range(2):
        model = small_model(dropout=0.3)
        keras.utils.set_random_seed(7)
        training.fit(model, x, y, batch_size=16, epochs=2)
        runs.append(model)
    assert_same_weights(*runs)


@pytest.mark.parametrize(
    ("build", "kwargs", "why"),
    [
        (lambda: masked_model(), {}, "makes a mask"),
        (small_model, {"class_weight": {0: 1.0, 1: 2.0}}, "class_weight"),
    ],
)
def test_what_it_does_not_cover_goes_to_fit_with_the_reason(build, kwargs: dict, why: str) -> None:
    model = build()
    x, y = (np.random.default_rng(0).integers(1, 9, size=(32, 5)), np.zeros(32)) if "mask" in why else table()
    history = training.fit(model, x, y, batch_size=16, epochs=1, **kwargs)
    assert history.params[training.STEP_KEY].startswith("keras fit: ")
    assert why in history.params[training.STEP_KEY]
    assert len(history.history["loss"]) == 1


def masked_model() -> keras.Model:
    inputs = keras.Input(shape=(5,), dtype="int32")
    x = keras.layers.Embedding(10, 4, mask_zero=True)(inputs)
    x = keras.layers.GlobalAveragePooling1D()(x)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


def test_predict_gives_what_model_predict_gives_in_inference_mode() -> None:
    x, _ = table(70)
    for model in (small_model(dropout=0.5), packed()):
        expected = model.predict(x, batch_size=32, verbose=0)
        got = training.predict(model, x, batch_size=32)  # 70 rows: three batches, the last short
        for left, right in zip(keras.tree.flatten(expected), keras.tree.flatten(got)):
            assert isinstance(right, np.ndarray)
            np.testing.assert_allclose(right, left, rtol=1e-5, atol=1e-6)


def test_the_trial_checkpoint_is_the_best_epoch_written_once_at_the_end(tmp_path) -> None:
    import keras_tuner as kt
    from keras_tuner.src.engine.tuner_utils import SaveBestEpoch  # what KerasTuner adds to every trial

    from vertical_automl.search_engine.callbacks import SaveBestEpochAtEnd

    path = str(tmp_path / "checkpoint.weights.h5")
    ours = SaveBestEpochAtEnd.replacing(SaveBestEpoch(kt.Objective("val_score", "max"), path))
    assert isinstance(ours, SaveBestEpochAtEnd)

    class Score(keras.callbacks.Callback):  # epoch 2 of 4 is the best; each epoch's weights noted
        def __init__(self) -> None:
            super().__init__()
            self.weights: list = []

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs["val_score"] = [0.1, 0.9, 0.5, 0.2][epoch]
            self.weights.append(self.model.get_weights())

    class NoFileBeforeTheEnd(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            assert not (tmp_path / "checkpoint.weights.h5").exists()

    x, y = table()
    model, score = small_model(), Score()
    training.fit(model, x, y, batch_size=32, epochs=4, callbacks=[score, NoFileBeforeTheEnd(), ours])
    assert_same_weights_as(model.get_weights(), score.weights[3])  # the model keeps its last epoch, as before
    model.load_weights(path)
    assert_same_weights_as(model.get_weights(), score.weights[1])


def assert_same_weights_as(left: list, right: list) -> None:
    for a, b in zip(left, right):
        np.testing.assert_allclose(a, b)


def every_lowered_layer() -> keras.Model:
    """One model through every layer training/lowered.py runs as torch functions, in the configurations it covers."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input(shape=(6,))
    normalization = keras.layers.Normalization()
    normalization.adapt(table(50)[0])
    x = normalization(inputs)
    x = keras.layers.Rescaling(0.5, offset=0.1)(x)
    a = keras.layers.Dense(8, activation="gelu")(x)
    b = keras.layers.Dense(8, activation="silu", use_bias=False)(x)
    x = keras.layers.Add()([a, b])
    x = keras.layers.Average()([x, keras.layers.Activation("tanh")(x)])
    x = keras.layers.Concatenate()([x, keras.layers.ReLU()(x)])
    x = keras.layers.RepeatVector(3)(x)
    x = keras.layers.EinsumDense("bkd,kdo->bko", output_shape=(3, 4), bias_axes="ko", activation="relu")(x)
    x = keras.layers.Reshape((12,))(keras.layers.Dropout(0.5)(x))
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    model = keras.Model(inputs, [outputs, keras.layers.Dense(1, activation="sigmoid")(x)])
    model.compile(optimizer="adam", loss=["sparse_categorical_crossentropy", "binary_crossentropy"])
    return model


def test_lowered_layers_compute_what_keras_computes_forward_and_backward() -> None:
    import torch

    from vertical_automl.training import graph, lowered

    model = every_lowered_layer()
    direct = [op for op in model.operations if lowered.lowered(op, True) is not None]
    assert len(direct) == len(model.operations) - 1  # every layer but the input
    x = torch.as_tensor(table(20)[0])
    results = []
    for run in (lambda: model(x, training=False), lambda: graph.forward(model, x, training=False)):
        outputs = run()
        loss = sum(output.sum() * (index + 1) for index, output in enumerate(outputs))
        gradients = torch.autograd.grad(loss, [v.value for v in model.trainable_variables])
        results.append(([o.detach().numpy() for o in outputs], [g.numpy() for g in gradients]))
    (keras_out, keras_grad), (ours_out, ours_grad) = results
    for left, right in zip(keras_out + keras_grad, ours_out + ours_grad):
        np.testing.assert_allclose(right, left, rtol=1e-5, atol=1e-6)


class Penalised(keras.layers.Layer):
    """A plugin's own layer that adds a loss in ``call``, which only ``Layer.__call__`` clears between steps."""

    def call(self, x):
        self.add_loss(0.1 * keras.ops.mean(x**2))
        return x


def with_own_layer(seed: int = 4) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(6,))
    x = Penalised()(keras.layers.Dense(4)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy")
    return model


def test_a_layer_of_the_plugins_own_adding_a_loss_trains_as_with_fit() -> None:
    x, y = table()
    theirs, ours, expected, got = twice(
        with_own_layer, {"x": x, "y": y, "batch_size": 16, "epochs": 2, "shuffle": False}
    )
    assert got.params[training.STEP_KEY] == "own"
    assert_same_weights(theirs, ours)
    np.testing.assert_allclose(got.history["loss"], expected.history["loss"], rtol=1e-4)


def test_a_trained_model_and_its_nested_models_are_freed() -> None:
    """Nothing the step keeps between calls may hold a trial's model (a global per-model cache once did)."""
    import gc
    import weakref

    x, _ = table()
    model = packed()
    training.fit(model, x, [x[:, :1], x[:, :1]], batch_size=32, epochs=1)
    training.predict(model, x, 32)
    refs = [weakref.ref(m) for m in (model, *(op for op in model.operations if isinstance(op, keras.Model)))]
    assert len(refs) == 3  # the pack and its two models
    del model
    gc.collect()
    assert all(ref() is None for ref in refs)
