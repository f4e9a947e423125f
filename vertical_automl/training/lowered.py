"""Plain torch functions for the stock layers our models are made of, on the layers' own variables.

Calling a layer's ``call`` (:mod:`.graph`) still goes through ``keras.ops``,
which converts every argument and checks every dtype: measured on German
credit's five packed fold models, ~490,000 ``convert_to_tensor`` calls in a
three-trial search, a third of the forward pass.  For the layers below, and
only in the configurations written here, the same arithmetic runs as torch
functions on the layer's own variables (``variable.value`` is the torch
Parameter the optimizer updates), so gradients, saving and loading are
unchanged.  Every other layer, or these in another configuration (LoRA,
quantization, a dropout noise shape, an activation not listed), keeps its own
``call``.  ``tests/test_training_step.py`` checks each against Keras.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras


def lowered(layer: Any, training: bool) -> Callable[..., Any] | None:
    """A torch function computing ``layer.call(x, training=training)``, or ``None`` when it has none here."""
    import torch

    kind = type(layer)
    if kind in (keras.layers.Dense, keras.layers.EinsumDense):
        if layer.lora_enabled or layer.quantization_mode is not None:
            return None
        activation = _activation(layer.activation)
        if activation is None:
            return None
        kernel, bias = getattr(layer, "_kernel", None), layer.bias
        if not isinstance(kernel, keras.Variable):
            return None
        if kind is keras.layers.Dense:
            return lambda x: activation(_add_bias(torch.matmul(x, kernel.value), bias))
        equation = layer.equation
        return lambda x: activation(_add_bias(torch.einsum(equation, x, kernel.value), bias))
    if kind is keras.layers.Activation:
        return _activation(layer.activation)
    if kind is keras.layers.ReLU:
        if layer.negative_slope != 0 or layer.threshold != 0:
            return None
        if layer.max_value is None:
            return torch.relu
        top = float(layer.max_value)  # piecewise-linear bins and the trees' comparisons
        return lambda x: torch.clamp(x, 0.0, top)
    if kind is keras.layers.Dropout:
        if layer.noise_shape is not None:
            return None
        rate = float(layer.rate)
        return (lambda x: torch.nn.functional.dropout(x, rate, True)) if training and rate > 0 else (lambda x: x)
    if kind is keras.layers.Concatenate:
        axis = layer.axis
        return lambda inputs: torch.cat(list(inputs), dim=axis)
    if kind is keras.layers.Add:
        return lambda inputs: _sum(inputs)
    if kind is keras.layers.Average:
        return lambda inputs: _sum(inputs) / len(inputs)
    if kind is keras.layers.Reshape:
        shape = tuple(layer.target_shape)
        return lambda x: torch.reshape(x, (x.shape[0], *shape))
    if kind is keras.layers.RepeatVector:
        n = int(layer.n)
        return lambda x: x.unsqueeze(1).expand(-1, n, -1)
    if kind is keras.layers.Rescaling:
        if not all(isinstance(value, (int, float)) for value in (layer.scale, layer.offset)):
            return None  # an array of scales (channels-first images) keeps Keras's broadcasting
        scale, offset = float(layer.scale), float(layer.offset)
        return lambda x: x.to(torch.float32) * scale + offset
    if kind is keras.layers.Normalization:
        if layer.invert:
            return None
        epsilon = keras.backend.epsilon()
        return lambda x: (x - _value(layer.mean)) / torch.clamp(torch.sqrt(_value(layer.variance)), min=epsilon)
    return None


def _activation(function: Any) -> Callable[..., Any] | None:
    """The torch twin of a Keras activation function with its default arguments, or ``None``."""
    import torch

    twins = {
        keras.activations.linear: lambda x: x,
        keras.activations.relu: torch.relu,
        keras.activations.sigmoid: torch.sigmoid,
        keras.activations.tanh: torch.tanh,
        keras.activations.softmax: lambda x: torch.softmax(x, dim=-1),
        keras.activations.silu: torch.nn.functional.silu,
        keras.activations.gelu: torch.nn.functional.gelu,  # Keras's default is the exact (erf) form, as torch's
    }
    if function is None:
        return twins[keras.activations.linear]
    return twins.get(function)


def _value(weight: Any) -> Any:
    """A variable's torch tensor, or a constant tensor as it is."""
    return weight.value if isinstance(weight, keras.Variable) else weight


def _add_bias(x: Any, bias: Any) -> Any:
    return x if bias is None else x + bias.value


def _sum(inputs: Any) -> Any:
    total = inputs[0]
    for tensor in inputs[1:]:
        total = total + tensor
    return total
