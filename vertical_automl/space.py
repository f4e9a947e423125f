"""Search-space helpers every vertical uses, so all of them search alike.

Each helper declares one KerasTuner hyperparameter (or a small group) under a
fixed name and returns the chosen value, ready to hand to Keras.  Using them
means every vertical's leaderboard has the same columns (depth, width,
initializer, optimizer, learning rate and its schedule, dropout, L1/L2, batch
norm), and a search configuration (``--config search.toml``, see
:mod:`vertical_automl.config`) can narrow or widen one dimension for every
vertical at once: the search activates a :class:`SpaceConfig` with
:func:`using`, and the helpers read it, so plugin code never sees the file.

Keras is imported inside the functions that need it, never at module level.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

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
SCHEDULES = ("constant", "step", "cosine")
ADAPTIVE = ("adam", "adamw", "rmsprop")
SGD_LIKE = ("sgd", "sgd_momentum", "adagrad")
# Plain and momentum SGD and Adagrad need learning rates about ten times those
# of the adaptive optimizers; one shared range would waste half the trials.
DEFAULT_LEARNING_RATE = (1e-4, 1e-2)
DEFAULT_LEARNING_RATE_SGD = (1e-3, 1e-1)
DEFAULT_L1 = (0.0, 1e-5, 1e-4)
DEFAULT_L2 = (0.0, 1e-5, 1e-4, 1e-3)


@dataclass(frozen=True)
class SpaceConfig:
    """User overrides of the shared dimensions; ``None`` keeps the vertical's own default.

    Ranges are ``(low, high)``; choices are tuples.  ``batch_size`` choices
    make the batch size a searched hyperparameter (otherwise it is the
    search's fixed ``--batch-size``).
    """

    depth: tuple[int, int] | None = None
    width: tuple[int, ...] | None = None
    initializers: tuple[str, ...] | None = None
    optimizers: tuple[str, ...] | None = None
    learning_rate: tuple[float, float] | None = None
    learning_rate_sgd: tuple[float, float] | None = None
    schedules: tuple[str, ...] | None = None
    dropout: tuple[float, float] | None = None
    l1: tuple[float, ...] | None = None
    l2: tuple[float, ...] | None = None
    batch_norm: tuple[bool, ...] | None = None
    batch_size: tuple[int, ...] | None = None
    vertical: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # a vertical's own dimensions, by name

    def overrides(self) -> dict[str, Any]:
        """The dimensions this config sets, as plain JSON (for run state and reports); a vertical's own among them."""
        shared = {
            f.name: list(getattr(self, f.name))
            for f in fields(self)
            if f.name != "vertical" and getattr(self, f.name) is not None
        }
        return {**shared, **{name: list(value) for name, value in self.vertical.items()}}

    @classmethod
    def from_overrides(cls, values: dict[str, Any]) -> SpaceConfig:
        shared = {f.name for f in fields(cls)} - {"vertical"}
        return cls(
            **{key: tuple(value) for key, value in values.items() if key in shared},
            vertical={key: tuple(value) for key, value in values.items() if key not in shared},
        )


# The default is one shared, frozen (immutable) SpaceConfig: a context that never called using() reads this object.
_DEFAULT_SPACE = SpaceConfig()
_ACTIVE: ContextVar[SpaceConfig] = ContextVar("vautoml_space", default=_DEFAULT_SPACE)


@contextmanager
def using(config: SpaceConfig) -> Iterator[None]:
    """Make ``config`` the space the helpers read while a model is built."""
    token = _ACTIVE.set(config)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def active() -> SpaceConfig:
    return _ACTIVE.get()


DIMENSION_KINDS = ("int", "float", "choice", "bool")
# The shared dimensions' [space] keys and hyperparameter names: a vertical's own dimension named like one would
# set, or be set by, a shared dimension, so its declaration is refused.
SHARED_NAMES = frozenset({f.name for f in fields(SpaceConfig)} - {"vertical"}) | {
    "initializer",
    "optimizer",
    "lr_schedule",
    "class_weight",
}


@dataclass(frozen=True)
class Dimension:
    """A search dimension of a vertical's own (a kernel size, a GRU's units), which ``[space]`` can set.

    A vertical lists its dimensions in ``Vertical.dimensions`` and its builder
    asks for the trial's value with ``dimension.value(hp)`` instead of calling
    ``hp.Int``/``hp.Choice`` itself; that is what lets ``search.toml`` narrow
    it (``[space] kernel_size = [3, 5]``) and lets the config check refuse a
    value outside what the vertical allows.  ``kind`` is ``int`` or ``float``
    (``low``..``high``, ``log`` sampling for a float), ``choice``
    (``choices``) or ``bool``; in ``[space]`` a range is ``[low, high]`` within
    the declared one, a choice or bool a non-empty list of declared values.
    """

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()
    log: bool = False
    help: str = ""

    def value(self, hp: keras_tuner.HyperParameters) -> Any:
        """The trial's value: declared under ``name``, over the configured range or choices if ``[space]`` sets them."""
        configured = active().vertical.get(self.name)
        if self.kind in ("choice", "bool"):
            choices = configured or (self.choices if self.kind == "choice" else (False, True))
            return _choice(hp, self.name, choices)
        low, high = configured or (self.low, self.high)
        if high <= low:
            return hp.Fixed(self.name, int(low) if self.kind == "int" else float(low))
        if self.kind == "int":
            return int(hp.Int(self.name, int(low), int(high)))
        return float(hp.Float(self.name, float(low), float(high), sampling="log" if self.log else "linear"))

    def problems(self) -> list[str]:
        """What is wrong with this declaration (empty when valid)."""
        where = f"dimension {self.name!r}"
        if self.name in SHARED_NAMES:
            shared = ", ".join(sorted(SHARED_NAMES))
            return [f"{where} has the name of a shared dimension; choose a name not among {shared}"]
        if self.kind not in DIMENSION_KINDS:
            return [f"{where} has kind {self.kind!r}; expected one of {', '.join(DIMENSION_KINDS)}"]
        if self.kind == "choice" and not (isinstance(self.choices, tuple) and self.choices):
            return [f"{where} is a choice with no choices; give choices=(...)"]
        if self.kind in ("int", "float"):
            numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (self.low, self.high))
            if not numbers or self.low > self.high or (self.kind == "int" and not float(self.low).is_integer()):
                return [f"{where} needs numbers low <= high (whole numbers for an int)"]
            if self.log and self.low <= 0:
                return [f"{where} samples on a log scale, so low must be above 0"]
        return []


def _choice(hp: keras_tuner.HyperParameters, name: str, choices: Sequence[Any]) -> Any:
    """A Choice, or a Fixed value when one choice is left, so the leaderboard shows it as settled."""
    values = list(dict.fromkeys(choices))
    return hp.Fixed(name, values[0]) if len(values) == 1 else hp.Choice(name, values)


def depth(
    hp: keras_tuner.HyperParameters,
    min_value: int = 1,
    max_value: int = 3,
    name: str = "depth",
    limit: int | None = None,
) -> int:
    """Number of repeated blocks (conv blocks, dense layers, ...).

    A configured range replaces ``min_value``..``max_value``; ``limit`` is the
    most the vertical's architecture can take (e.g. halvings of a small
    image), and a configured range is clipped to it.
    """
    configured = active().depth
    if configured is not None:
        min_value, max_value = configured
        if limit is not None:
            min_value, max_value = min(min_value, limit), min(max_value, limit)
    if max_value <= min_value:
        return int(hp.Fixed(name, min_value))
    return int(hp.Int(name, min_value, max_value))


def width(hp: keras_tuner.HyperParameters, choices: Sequence[int] = (32, 64, 128), name: str = "width") -> int:
    """Units or filters of the first block; verticals may grow it with depth."""
    return int(_choice(hp, name, active().width or choices))


def kernel_initializer(
    hp: keras_tuner.HyperParameters, choices: Sequence[str] = INITIALIZERS, name: str = "initializer"
) -> str:
    """Weight initializer: Glorot/Xavier, He, LeCun, or plain random normal/uniform."""
    choices = active().initializers or choices
    unknown = set(choices) - set(INITIALIZERS)
    if unknown:
        raise ValueError(f"unknown initializer(s) {sorted(unknown)}; choose from {INITIALIZERS}")
    return str(_choice(hp, name, choices))


def dropout(hp: keras_tuner.HyperParameters, max_value: float = 0.5, name: str = "dropout") -> float:
    """Dropout rate in steps of 0.1, from 0 (off) to ``max_value`` (or the configured range)."""
    low, high = active().dropout or (0.0, max_value)
    if high <= low:
        return float(hp.Fixed(name, low))
    return float(hp.Float(name, low, high, step=0.1))


def batch_norm(hp: keras_tuner.HyperParameters, name: str = "batch_norm") -> bool:
    """Whether blocks use batch normalisation."""
    configured = active().batch_norm
    if configured is None:
        return bool(hp.Boolean(name))
    return bool(_choice(hp, name, configured))


def kernel_regularizer(hp: keras_tuner.HyperParameters) -> keras.regularizers.Regularizer | None:
    """L1 and L2 penalties on the kernels of dense and convolutional layers (``None`` when both are 0).

    Searched from {0, 1e-5, 1e-4} (L1) and {0, 1e-5, 1e-4, 1e-3} (L2);
    ``keras.regularizers.L1L2`` is a stock object, so models still load in safe mode.
    """
    import keras

    config = active()
    l1 = float(_choice(hp, "l1", config.l1 or DEFAULT_L1))
    l2 = float(_choice(hp, "l2", config.l2 or DEFAULT_L2))
    return keras.regularizers.L1L2(l1=l1, l2=l2) if (l1 or l2) else None


def class_weight(
    hp: keras_tuner.HyperParameters, choices: Sequence[str] = ("none", "balanced"), name: str = "class_weight"
) -> str:
    """Whether training weights classes inversely to their frequency (imbalanced data).

    The search applies it: a trial whose value is ``balanced`` trains with
    scikit-learn's balanced class weights from the training split.
    """
    return str(hp.Choice(name, list(choices)))


def batch_size(hp: keras_tuner.HyperParameters, default: int) -> int:
    """The trial's batch size: searched when the config lists choices, else ``default`` (not a hyperparameter)."""
    choices = active().batch_size
    return int(_choice(hp, "batch_size", choices)) if choices else default


def learning_rate(hp: keras_tuner.HyperParameters, optimizer_name: str, choices: Sequence[str]) -> float:
    """Log-uniform learning rate, from the range that suits ``optimizer_name``.

    Adaptive optimizers (Adam, AdamW, RMSprop) search ``learning_rate`` in
    [1e-4, 1e-2]; SGD, SGD with momentum and Adagrad search
    ``learning_rate_sgd`` in [1e-3, 1e-1].  Each is a conditional
    hyperparameter, active only with its optimizers, so a trial records one.
    """
    config = active()
    ranges = (
        ("learning_rate", ADAPTIVE, config.learning_rate or DEFAULT_LEARNING_RATE),
        ("learning_rate_sgd", SGD_LIKE, config.learning_rate_sgd or DEFAULT_LEARNING_RATE_SGD),
    )
    rate = None
    for name, members, (low, high) in ranges:
        active_members = [m for m in members if m in choices]
        if not active_members:
            continue
        with hp.conditional_scope("optimizer", active_members):
            value = hp.Fixed(name, low) if high <= low else hp.Float(name, low, high, sampling="log")
        if optimizer_name in active_members:
            rate = value
    return float(rate)


def schedule(hp: keras_tuner.HyperParameters) -> str:
    """How the learning rate moves over the trial: ``constant``, ``step`` or ``cosine``.

    Declared with the optimizer; applied at every optimizer step at fit time
    (``vertical_automl.search_engine.callbacks.ScheduledRate``), so trials and the refit follow the same curve.
    """
    return str(_choice(hp, "lr_schedule", active().schedules or SCHEDULES))


def scheduled_rate(kind: str, base: float, step: int, total_steps: int) -> float:
    """The learning rate at 0-based optimizer ``step`` of ``total_steps``.

    Defined over steps, not epochs, so the curve is the same whatever the
    epoch count: ``step`` halves the rate after each sixth of the steps;
    ``cosine`` follows half a cosine from ``base`` down to 1 % of it.
    """
    fraction = min(step, total_steps) / max(1, total_steps)
    if kind == "step":
        return base * 0.5 ** min(5, math.floor(fraction * 6))
    if kind == "cosine":
        floor = 0.01 * base
        return floor + (base - floor) * 0.5 * (1 + math.cos(math.pi * fraction))
    return base


def base_learning_rate(hp: keras_tuner.HyperParameters) -> float | None:
    """The trial's learning rate before any schedule (whichever of the two rate dimensions is active)."""
    values = hp.values
    return values.get("learning_rate") if values.get("optimizer") in ADAPTIVE else values.get("learning_rate_sgd")


def optimizer(hp: keras_tuner.HyperParameters, choices: Sequence[str] = OPTIMIZERS) -> keras.optimizers.Optimizer:
    """An optimizer from ``choices`` with a log-uniform learning rate and a schedule.

    ``sgd_momentum`` is SGD with Nesterov momentum 0.9; ``adamw`` uses weight
    decay 1e-4.  The gradient's global norm is clipped to 5 so an unlucky high
    learning rate fails slowly rather than producing NaN on the first batch
    (global rather than per-variable clipping: it measured twice as fast on
    the torch backend, see ``benchmarks/throughput.py``).
    """
    import keras

    choices = active().optimizers or choices
    unknown = set(choices) - set(OPTIMIZERS)
    if unknown:
        raise ValueError(f"unknown optimizer(s) {sorted(unknown)}; choose from {OPTIMIZERS}")
    name = str(_choice(hp, "optimizer", choices))
    rate = learning_rate(hp, name, choices)
    schedule(hp)
    factories = {
        "sgd": lambda: keras.optimizers.SGD(rate, global_clipnorm=5.0),
        "sgd_momentum": lambda: keras.optimizers.SGD(rate, momentum=0.9, nesterov=True, global_clipnorm=5.0),
        "adam": lambda: keras.optimizers.Adam(rate, global_clipnorm=5.0),
        "adamw": lambda: keras.optimizers.AdamW(rate, weight_decay=1e-4, global_clipnorm=5.0),
        "rmsprop": lambda: keras.optimizers.RMSprop(rate, global_clipnorm=5.0),
        "adagrad": lambda: keras.optimizers.Adagrad(rate, global_clipnorm=5.0),
    }
    return factories[name]()
