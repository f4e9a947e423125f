"""The refit: the chosen trials' hyperparameters trained again from scratch on train+validation.

The trials trained on the train split alone, keeping the validation split to
score on; the exported model gets every labelled row but the test split's.
"""

from __future__ import annotations

import keras
import keras_tuner as kt

from .. import heads, space, training, trees
from ..data.dataset import Dataset, LabeledData
from ..errors import SearchError
from ..settings import SearchSettings
from ..vertical import Vertical
from .callbacks import Deadline, NonFiniteLoss, StopOnInterrupt
from .ensembling import combine
from .hypermodel import fit_options
from .records import SearchOutcome


def refit(
    vertical: Vertical,
    dataset: Dataset,
    outcome: SearchOutcome,
    settings: SearchSettings,
    deadline: float | None = None,
) -> tuple[keras.Model, list[dict[str, list[float]]]]:
    """Train each member's hyperparameters from scratch on train+validation for its best epoch count.

    One member is exported as it is; several are wrapped in one model that
    averages their outputs with the members' weights (stock layers, so it
    loads in safe mode).  With a ``deadline`` (the end of the time budget) a
    refit stops at the epoch end after it.  Each member's training history
    (loss and metrics per epoch, as many epochs as it really trained) is
    returned for the report's learning curves.
    """
    keras.backend.clear_session()
    fitting: LabeledData = dataset.train_and_validation()
    models, histories = [], []
    for index, ((record, hp), epochs) in enumerate(zip(outcome.members, outcome.planned_epochs)):
        keras.utils.set_random_seed(settings.seed + index)
        with space.using(settings.space):
            model = vertical.build_model(hp, dataset.info)
        options = fit_options(hp, dataset, settings, fitting.y)
        trees.fit_trees(
            model, hp, fitting.x, fitting.y, dataset.info, settings.seed + index, options.get("sample_weight")
        )
        if "sample_weight" in options:
            options["sample_weight"] = heads.weights(options["sample_weight"], dataset.info.task, model)
        options["callbacks"] += [NonFiniteLoss(), StopOnInterrupt(), Deadline(lambda: deadline)]
        try:
            history = training.fit(
                model,
                fitting.x,
                heads.targets(fitting.y, dataset.info.task, model),
                epochs=epochs,
                verbose=0,
                **options,
            )
        except kt.errors.FailedTrialError as error:
            raise SearchError(
                f"refitting trial {record.trial_id} on train+validation diverged: {error}",
                "re-run with another --seed or more --max-trials",
            ) from error
        models.append(model)
        histories.append({name: [float(v) for v in values] for name, values in history.history.items()})
    return combine(models, outcome, vertical, dataset.info.task), histories
