"""The exported model: one trial's model, or the chosen members wrapped into one model that averages them.

Stock Keras layers only, so the exported ``model.keras`` loads in safe mode
without vautoml.
"""

from __future__ import annotations

import keras

from .. import heads
from ..vertical import Vertical
from .records import SearchOutcome


def single_output(model: keras.Model, task: str) -> keras.Model:
    """A model with one output per ensemble member (:func:`heads.member_output`), wrapped to output their mean.

    Other models come back as they are.  Stock layers only (``Reshape`` and
    ``GlobalAveragePooling1D``), so the export loads in safe mode.
    """
    if not heads.has_members(model):
        return model
    first = model.inputs[0]
    inputs = keras.Input(shape=tuple(first.shape[1:]), dtype=first.dtype, name=first.name)
    x = model(inputs)
    if len(x.shape) == 2:  # one column per member (binary, regression): the mean over a length-1 feature axis
        x = keras.layers.Reshape((int(x.shape[-1]), 1))(x)
    outputs = keras.layers.GlobalAveragePooling1D(name="members_mean")(x)
    return keras.Model(inputs, outputs, name=model.name)


def combine(models: list[keras.Model], outcome: SearchOutcome, vertical: Vertical, task: str) -> keras.Model:
    """One model (its members' mean, for a packed ensemble), or several averaged with ``outcome.weights``.

    Equal weights use Keras's ``Average``; unequal ones scale each member
    with ``Rescaling`` and ``Add`` them.  Both are stock layers.
    """
    models = [single_output(model, task) for model in models]
    if len(models) == 1:
        return models[0]
    for index, model in enumerate(models):
        model.name = f"member_{index}_trial_{outcome.members[index][0].trial_id}"
    first = models[0].inputs[0]
    inputs = keras.Input(shape=tuple(first.shape[1:]), dtype=first.dtype, name=first.name)
    weights = outcome.weights
    if len(set(weights)) == 1:
        outputs = keras.layers.Average(name="ensemble_average")([model(inputs) for model in models])
    else:
        scaled = [
            keras.layers.Rescaling(float(weight), name=f"weight_{index}")(model(inputs))
            for index, (model, weight) in enumerate(zip(models, weights))
        ]
        outputs = keras.layers.Add(name="ensemble_weighted_average")(scaled)
    return keras.Model(inputs, outputs, name=f"vautoml_{vertical.name}_ensemble")
