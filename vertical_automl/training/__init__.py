"""Training a Keras model on the torch backend faster than ``Model.fit``, with its semantics (:func:`fit`)."""

from .inference import predict
from .step import STEP_KEY, fit

__all__ = ["STEP_KEY", "fit", "predict"]
