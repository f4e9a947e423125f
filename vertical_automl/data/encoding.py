"""The encoder contract: steps outside the model, learned on the training split only.

Some inputs cannot reach a torch-backend Keras model as they are: category
codes and words need lookup tables, and Keras's lookup layers need
TensorFlow.  An :class:`Encoder` learns those tables from the training split
(``fit``), turns any split into a float or integer array (``transform``) and
describes itself as plain JSON (``spec``), and is rebuilt, fitted, from that
JSON (``from_spec``), so ``predict``, ``evaluate`` and any server repeat the
same steps from ``preprocessing.json`` alone.  The core checks the round trip
when it fits an encoder: ``from_spec(spec())`` must encode the training rows
exactly as the fitted encoder does, or the search stops before it starts.  Numbers that belong inside the model
(means and variances for a ``Normalization`` layer) come out of
``statistics``.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from ..errors import PluginError


class Encoder(ABC):
    """Learns from the training split, then encodes any split the same way."""

    @abstractmethod
    def fit(self, x: Any) -> Encoder:
        """Return a fitted copy learned from the training inputs ``x``."""

    @abstractmethod
    def transform(self, x: Any) -> np.ndarray:
        """Model-ready array for raw inputs ``x`` (same kind as the loader produced)."""

    @abstractmethod
    def spec(self) -> dict[str, Any]:
        """Plain-JSON description of every step, for ``preprocessing.json``."""

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Encoder:
        """The fitted encoder that ``spec`` describes.

        ``spec`` is the bundle's whole ``preprocessing.json["input"]``: the
        loader's ``input_spec`` with this encoder's ``spec()`` merged in.
        Not abstract, so an encoder written before bundles were rebuilt still
        loads and fits; the search's rebuild check then refuses it with this
        error, before any trial, rather than leave a bundle predict cannot use.
        """
        name = f"{cls.__module__}.{cls.__qualname__}"
        raise PluginError(
            f"the encoder {name} has no from_spec, so a bundle cannot rebuild it",
            f"implement {cls.__qualname__}.from_spec(spec) to return the fitted encoder that spec() describes",
        )

    def statistics(self, encoded_train: np.ndarray) -> dict[str, Any]:
        """Numbers for the model builder, computed on the encoded training split."""
        return {}


CHECKED_ROWS = 64  # enough rows to meet most of an encoder's steps, few enough to cost nothing


def check_rebuilds(encoder: Encoder | None, input_spec: dict[str, Any], train: Any) -> None:
    """Refuse, before a search starts, a fitted encoder that ``from_spec`` cannot rebuild exactly.

    The loader's ``input_spec`` merged with the encoder's ``spec()`` is what
    ``preprocessing.json`` will hold; it goes through JSON as the bundle does.
    The rebuilt encoder must encode the first training rows (``train``, the
    training split's raw inputs) exactly as the fitted one: predict, evaluate
    and export have nothing else.
    """
    if encoder is None:
        return
    cls = type(encoder)
    name = f"{cls.__module__}.{cls.__qualname__}"
    fix = f"make {cls.__qualname__}.from_spec(spec) rebuild the fitted encoder from spec() alone"
    rows = train.iloc[:CHECKED_ROWS] if hasattr(train, "iloc") else train[:CHECKED_ROWS]
    expected = np.asarray(encoder.transform(rows))  # a crash here is the encoder's own, named as such by the caller
    try:
        recorded = json.loads(json.dumps({**input_spec, **encoder.spec()}, default=_numpy_value))
    except (TypeError, ValueError) as error:
        raise PluginError(f"the spec() of encoder {name} is not plain JSON ({error})", fix) from error
    try:
        again = np.asarray(cls.from_spec(recorded).transform(rows))
    except Exception as error:
        first_line = (str(error).strip().splitlines() or [""])[0]
        raise PluginError(
            f"the encoder {name} cannot be rebuilt from its spec ({type(error).__name__}: {first_line})", fix
        ) from error
    if again.shape != expected.shape or again.dtype != expected.dtype or not np.array_equal(again, expected):
        raise PluginError(
            f"the encoder {name}, rebuilt from its spec, encodes the training rows differently from the fitted one",
            fix,
        )


def _numpy_value(value: Any) -> Any:
    """NumPy scalars and arrays as the bundle writer stores them; anything else is not JSON."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON")
