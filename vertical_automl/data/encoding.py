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

from abc import ABC, abstractmethod
from typing import Any

import numpy as np


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
        """
        raise NotImplementedError(
            f"{cls.__module__}.{cls.__qualname__} does not implement from_spec, so a bundle cannot rebuild it"
        )

    def statistics(self, encoded_train: np.ndarray) -> dict[str, Any]:
        """Numbers for the model builder, computed on the encoded training split."""
        return {}
