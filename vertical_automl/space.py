"""Search-space helpers every vertical uses, so all of them search alike.

Each helper declares one KerasTuner hyperparameter (or a small group) under a
fixed name and returns the chosen value, ready to hand to Keras.  Using them
means every vertical's leaderboard has the same columns (depth, width,
initializer, optimizer, learning rate, dropout, batch norm), and a search
configuration can narrow one dimension for all verticals at once.

Keras is imported inside the functions that need it, never at module level.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:  # pragma: no cover
    import keras
    import keras_tuner

INITIALIZERS = (
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_normal",
    "random_normal",
    "random_uniform",
)
OPTIMIZERS = ("sgd", "sgd_momentum", "adam", "adamw", "rmsprop", "adagrad")
# Plain and momentum SGD and Adagrad need learning rates about ten times those
# of the adaptive optimizers; one shared range would waste half the trials.
LEARNING_RATE_RANGES = {
    "adaptive": ("learning_rate", ("adam", "adamw", "rmsprop"), (1e-4, 1e-2)),
    "sgd_like": ("learning_rate_sgd", ("sgd", "sgd_momentum", "adagrad"), (1e-3, 1e-1)),
}


def depth(hp: "keras_tuner.HyperParameters", min_value: int = 1, max_value: int = 3, name: str = "depth") -> int:
    """Number of repeated blocks (conv blocks, dense layers, ...)."""
    if max_value <= min_value:
        return int(hp.Fixed(name, min_value))
    return int(hp.Int(name, min_value, max_value))


def width(hp: "keras_tuner.HyperParameters", choices: Sequence[int] = (32, 64, 128), name: str = "width") -> int:
    """Units or filters of the first block; verticals may grow it with depth."""
    return int(hp.Choice(name, list(choices)))


def kernel_initializer(hp: "keras_tuner.HyperParameters", choices: Sequence[str] = INITIALIZERS, name: str = "initializer") -> str:
    """Weight initializer: Glorot/Xavier, He, LeCun, or plain random normal/uniform."""
    unknown = set(choices) - set(INITIALIZERS)
    if unknown:
        raise ValueError(f"unknown initializer(s) {sorted(unknown)}; choose from {INITIALIZERS}")
    return str(hp.Choice(name, list(choices)))


def dropout(hp: "keras_tuner.HyperParameters", max_value: float = 0.5, name: str = "dropout") -> float:
    """Dropout rate in steps of 0.1, from 0 (off) to ``max_value``."""
    return float(hp.Float(name, 0.0, max_value, step=0.1))


def batch_norm(hp: "keras_tuner.HyperParameters", name: str = "batch_norm") -> bool:
    """Whether blocks use batch normalisation."""
    return bool(hp.Boolean(name))


def class_weight(hp: "keras_tuner.HyperParameters", choices: Sequence[str] = ("none", "balanced"), name: str = "class_weight") -> str:
    """Whether training weights classes inversely to their frequency (imbalanced data).

    The search applies it: a trial whose value is ``balanced`` trains with
    scikit-learn's balanced class weights from the training split.
    """
    return str(hp.Choice(name, list(choices)))


def learning_rate(hp: "keras_tuner.HyperParameters", optimizer_name: str, choices: Sequence[str]) -> float:
    """Log-uniform learning rate, from the range that suits ``optimizer_name``.

    Adaptive optimizers (Adam, AdamW, RMSprop) search ``learning_rate`` in
    [1e-4, 1e-2]; SGD, SGD with momentum and Adagrad search
    ``learning_rate_sgd`` in [1e-3, 1e-1].  Each is a conditional
    hyperparameter, active only with its optimizers, so a trial records one.
    """
    rate = None
    for name, members, (low, high) in LEARNING_RATE_RANGES.values():
        active = [m for m in members if m in choices]
        if not active:
            continue
        with hp.conditional_scope("optimizer", active):
            value = hp.Float(name, low, high, sampling="log")
        if optimizer_name in active:
            rate = value
    return float(rate)


def optimizer(hp: "keras_tuner.HyperParameters", choices: Sequence[str] = OPTIMIZERS) -> "keras.optimizers.Optimizer":
    """An optimizer from ``choices`` with a log-uniform learning rate.

    ``sgd_momentum`` is SGD with Nesterov momentum 0.9; ``adamw`` uses weight
    decay 1e-4.  Gradients are clipped to norm 5 so an unlucky high learning
    rate fails slowly rather than producing NaN on the first batch.
    """
    import keras

    unknown = set(choices) - set(OPTIMIZERS)
    if unknown:
        raise ValueError(f"unknown optimizer(s) {sorted(unknown)}; choose from {OPTIMIZERS}")
    name = str(hp.Choice("optimizer", list(choices)))
    rate = learning_rate(hp, name, choices)
    factories = {
        "sgd": lambda: keras.optimizers.SGD(rate, clipnorm=5.0),
        "sgd_momentum": lambda: keras.optimizers.SGD(rate, momentum=0.9, nesterov=True, clipnorm=5.0),
        "adam": lambda: keras.optimizers.Adam(rate, clipnorm=5.0),
        "adamw": lambda: keras.optimizers.AdamW(rate, weight_decay=1e-4, clipnorm=5.0),
        "rmsprop": lambda: keras.optimizers.RMSprop(rate, clipnorm=5.0),
        "adagrad": lambda: keras.optimizers.Adagrad(rate, clipnorm=5.0),
    }
    return factories[name]()
