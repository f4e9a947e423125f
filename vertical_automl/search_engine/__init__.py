"""The search engine: KerasTuner's search of a vertical's space, the time budget, and the model it exports.

Where each idea lives (read in this order to follow one search):

* ``loop.py``: :func:`run_search`, the whole search as named steps (open the
  tuner, run the trials, pick the members), why it stopped, and
  ``AllTrialsFailed``;
* ``tuner.py``: the KerasTuner tuner with the run's bookkeeping; **a trial
  starts in** ``_TrialBookkeeping.run_trial``;
* ``hypermodel.py``: a vertical's builder as a KerasTuner hypermodel, and the
  ``fit`` options a trial's hyperparameters choose;
* ``callbacks.py``: the Keras callbacks trials and refits train with;
* ``oracles.py``: random and Bayesian search that try the vertical's recipes first;
* ``budget.py``: the run's clock, each trial's time, the deadlines the budget
  sets, and the state file ``trials_state.json`` (plain Python);
* ``records.py``: a trial's record, its status, and the search's outcome (plain data);
* ``ensemble_selection.py``: which trials the export averages, with what
  weights (NumPy and scikit-learn only);
* ``refit.py``: the members trained again on train+validation;
* ``ensembling.py``: the members wrapped into the one exported Keras model;
* ``progress.py``: what a search shows its user while it runs (live panel, log lines, or nothing).

This file imports nothing, so importing a plain module (``records``,
``budget``) loads no Keras.
"""
