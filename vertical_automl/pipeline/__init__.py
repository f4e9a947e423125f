"""One search, end to end, as named phases (in the style of KerasTuner's ``BaseTuner.search``).

:func:`search` (and :func:`resume`) check the request and lock the run;
:func:`~.run.run` then goes through:

1. read the data (:mod:`.inputs`): the vertical's loaders, class order, the task and its checks;
2. split it, and choose batch size and epochs from the training rows (:func:`.phases.split`);
3. search the trials (:func:`.phases.search_trials`, the engine is :mod:`vertical_automl.search_engine`);
4. train the exported model: refit on train+validation, or combine the trials' own models;
5. choose a binary decision threshold on validation data (:func:`.phases.decide_threshold`);
6. score the test split and run the vertical's report sections (:func:`.phases.score_test`);
7. build the bundle's documents as records (:mod:`.documents`);
8. write the bundle in the run folder and publish it into the registry (:func:`.phases.write_and_publish`).

Phases 1-2 import no Keras, so bad input fails fast; nothing reaches the
registry until the bundle is complete.  The request is :mod:`.request`; what the
phases hand each other (the run's context, the exported model, the test
scores, the timing) is :mod:`.context`.
"""

from .run import SearchResult, resume, search

__all__ = ["SearchResult", "resume", "search"]
