"""The encoder contract: steps outside the model, learned on the training split only.

Some inputs cannot reach a torch-backend Keras model as they are: category
codes and words need lookup tables, and Keras's lookup layers need
TensorFlow.  An :class:`Encoder` learns those tables from the training split
(``fit``), turns any split into a float or integer array (``transform``) and
describes itself as plain JSON (``spec``) so the same steps can be repeated
from ``preprocessing.json`` alone.  Numbers that belong inside the model
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

    def statistics(self, encoded_train: np.ndarray) -> dict[str, Any]:
        """Numbers for the model builder, computed on the encoded training split."""
        return {}
