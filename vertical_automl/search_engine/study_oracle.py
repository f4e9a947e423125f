"""A KerasTuner oracle whose trials live in a shared Optuna study, so many processes search one space together.

KerasTuner's search loop (``BaseTuner.search``) runs unchanged in every
worker: :meth:`StudyOracle.create_trial` asks the study for the next trial
(recipes and retries first, then fresh proposals) and :meth:`end_trial`
tells it the result.  In between, the trial's worker beats its heartbeat
(:class:`.study.Heartbeat`).  Before counting trials against the cap each
worker lets Optuna fail the trials of workers that went silent, and
:func:`.study.retry_stale_trial` queues them again.

The oracle also copies every trial other workers finished into its own
``trials`` (:meth:`sync`), so the budget's estimates, ensemble selection and
the report's leaderboard see the whole search, as in one process.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import keras_tuner as kt
import optuna
from optuna.trial import TrialState

from ..errors import SearchError
from .oracles import RecipesFirst
from .study import (
    Heartbeat,
    ParallelPlan,
    StudyKeys,
    TrialKeys,
    fail_silent_trials,
    open_storage,
    quiet_optuna,
    replaced_trials,
    requeue,
    slots_used,
    storage_guard,
    storage_lost,
)
from .study_sampling import make_sampler, suggest_all, trial_seed

Status = kt.engine.trial.TrialStatus
FINISHED = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)
EXPLORE_BUILDS, EXPLORE_PATIENCE = 40, 8  # random model builds that look for hyperparameters behind `if`s
IDLE_SECONDS = 1.0  # how long the finishing worker waits between looks at trials other workers still run
# How long a worker waits for the launcher to share the space (its first model builds): a started worker, which
# sees its launcher alive, longer; one that joined, which cannot, no more than a minute (issue 16).
SPACE_WAIT_SECONDS, JOINED_SPACE_WAIT_SECONDS = 600, 60
TELL_ATTEMPTS = 10  # a storage that blinks (a database restart) gets this many seconds before the result is lost


def create_study(plan: ParallelPlan, direction: str, *, seed: int, cap: int | None, tuner: str) -> optuna.Study:
    """Create the run's study once, before any worker starts (two workers creating one SQLite file collide)."""
    study = optuna.create_study(
        storage=open_storage(plan.storage),
        study_name=plan.study,
        direction="maximize" if direction == "max" else "minimize",
        load_if_exists=True,
    )
    for key, value in ((StudyKeys.SEED, seed), (StudyKeys.CAP, cap), (StudyKeys.TUNER, tuner)):
        study.set_user_attr(key, value)
    return study


def set_deadline(plan: ParallelPlan, seconds_left: float | None) -> None:
    """Share when the search must stop starting trials, as wall-clock time every machine agrees on."""
    study = optuna.load_study(study_name=plan.study, storage=open_storage(plan.storage))
    study.set_user_attr(StudyKeys.DEADLINE, None if seconds_left is None else time.time() + seconds_left)


class StudyOracle(RecipesFirst, kt.Oracle):
    """KerasTuner's ``Oracle`` on a shared study; one per worker process.

    ``finisher`` is the launching process: when nothing is left to ask it
    waits for the trials other workers still run (and runs any their death
    queues again), so the search it exports is whole.  ``keep_going`` is asked
    before each new trial; a worker started by a launcher stops once its
    launcher is gone.  ``peer_trial_ended`` hears of each trial another
    worker finished, for the progress display and the budget.
    """

    def __init__(
        self,
        *args: Any,
        plan: ParallelPlan,
        worker: str,
        worker_index: int,
        tuner: str,
        finisher: bool,
        run_seed: int,
        keep_going: Callable[[], bool] = lambda: True,
        started_by_launcher: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        # The run's --seed itself: KerasTuner's own ``seed`` takes 0 for "none" and then draws one from Python's
        # global random state, which the workers do not share (worker 1 proposed other trials with --seed 0).
        self.run_seed = run_seed
        self.plan, self.worker, self.finisher, self.keep_going = plan, worker, finisher, keep_going
        self.space_wait = SPACE_WAIT_SECONDS if started_by_launcher else JOINED_SPACE_WAIT_SECONDS
        self.storage = open_storage(plan.storage)
        self.sampler = make_sampler(tuner, run_seed, worker_index)
        self.study = optuna.load_study(study_name=plan.study, storage=self.storage, sampler=self.sampler)
        self.closed = False  # set when the budget has no room for another trial
        self.workers: dict[str, str] = {}  # trial id -> the worker that ran it
        self.timings: dict[str, tuple[float, float, float, int | None]] = {}  # id -> seconds, build, trees, epochs
        self.peer_trial_ended: Callable[[str], None] = lambda trial_id: None
        self._running: dict[str, tuple[optuna.Trial, Heartbeat]] = {}
        self._known: set[int] = set()  # trial numbers already in self.trials

    # The study is the record: KerasTuner's oracle.json would be every worker writing one file.
    def save(self) -> None:
        pass

    def reload(self) -> None:
        pass

    def trial_id_of(self, number: int) -> str:
        return f"{number:0{len(str(self.max_trials))}d}"

    def open_search(self, build: Callable[[kt.HyperParameters], Any]) -> None:
        """The launcher's first step: explore the space, queue the recipes, then share the space with the workers.

        Sharing the space is the signal workers wait for (:meth:`adopt_space`),
        so none asks for a trial before the recipes are the study's first.
        A resumed search adopts the space it shared before.

        A plugin declares some hyperparameters only inside Python ``if``s on
        others (a learning rate per optimizer), so the space grows as trials
        build models.  In one process the space at trial n is the same in
        every run; with several workers it would depend on which trials
        finished first, and so would every later proposal.  Random builds,
        seeded by the run's seed, until :data:`EXPLORE_PATIENCE` in a row add
        nothing, find those; every worker then starts from this space.
        """
        shared = self.study.user_attrs.get(StudyKeys.SPACE)
        if shared is None:
            self._explore(build)
            self.enqueue_recipes()
            self.study.set_user_attr(StudyKeys.SPACE, self.hyperparameters.get_config())
        else:
            self.update_space(kt.HyperParameters.from_config(shared))

    def _explore(self, build: Callable[[kt.HyperParameters], Any]) -> None:
        """Build models on random values until :data:`EXPLORE_PATIENCE` builds in a row declare nothing new."""
        unchanged = 0
        for attempt in range(EXPLORE_BUILDS):
            known = len(self.hyperparameters.space)
            self._seed_state = trial_seed(self.run_seed, -1 - attempt)
            hp = self.hyperparameters.copy()
            hp.values = self._sample_values()
            build(hp)
            self.update_space(hp)
            unchanged = unchanged + 1 if len(self.hyperparameters.space) == known else 0
            if unchanged >= EXPLORE_PATIENCE:
                break

    def adopt_space(self) -> None:
        """A worker's first step: wait for the launcher's space (:meth:`open_search`) and take it.

        The launcher starts its workers first, so their start-up (torch, the
        data) overlaps its own; a worker that finds its launcher gone, or
        waits ``space_wait`` seconds, gives up in one line.
        """
        waited = time.monotonic() + self.space_wait
        while (shared := self.study.user_attrs.get(StudyKeys.SPACE)) is None:
            if not self.keep_going() or time.monotonic() > waited:
                raise SearchError(
                    f"the search's launcher did not open the study {self.plan.study} for trials",
                    "check the launcher's output; continue the run with vautoml search --resume RUN_ID",
                )
            time.sleep(0.5)
        self.update_space(kt.HyperParameters.from_config(shared))

    def _sample_values(self) -> dict[str, Any]:
        """One random value per active hyperparameter, from ``self._seed_state`` (no duplicate check)."""
        chosen = kt.HyperParameters()
        for hp in self.hyperparameters.space:
            chosen.merge([hp])
            if chosen.is_active(hp):
                chosen.values[hp.name] = hp.random_sample(self._seed_state)
                self._seed_state += 1
        return chosen.values

    def enqueue_recipes(self) -> None:
        """Queue the vertical's recipes as the study's first trials, once (the launcher calls it for a new study)."""
        if self.study.get_trials(deepcopy=False):
            return
        for index, recipe in enumerate(self.recipes[: self.max_trials]):
            values = self._recipe_values(recipe)
            self.study.enqueue_trial(values, user_attrs={TrialKeys.RECIPE: index, TrialKeys.VALUES: values})

    def create_trial(self, tuner_id: str) -> kt.engine.trial.Trial:
        """The next trial for this worker: a queued one, a fresh proposal, or STOPPED (IDLE while others finish)."""
        if tuner_id in self.ongoing_trials:
            return self.ongoing_trials[tuner_id]
        with storage_guard(self.plan.study):
            return self._next_trial(tuner_id)

    def _next_trial(self, tuner_id: str) -> kt.engine.trial.Trial:
        while True:
            with quiet_optuna():
                fail_silent_trials(self.study, self.storage)  # a dead worker's trial is queued again before counting
            trials = self.study.get_trials(deepcopy=False)
            self.sync(trials)
            waiting = any(t.state == TrialState.WAITING for t in trials)
            full = self.max_trials is not None and slots_used(trials) >= self.max_trials
            if self.closed or not self.keep_going() or (full and not waiting):
                if self.finisher and any(t.state == TrialState.RUNNING for t in trials):
                    time.sleep(IDLE_SECONDS)  # KerasTuner's loop asks again at once
                    return kt.engine.trial.Trial(self.hyperparameters.copy(), status=Status.IDLE)
                return kt.engine.trial.Trial(self.hyperparameters.copy(), status=Status.STOPPED)
            trial = self._ask(tuner_id)
            if trial is not None:
                return trial

    def _ask(self, tuner_id: str) -> kt.engine.trial.Trial | None:
        """Ask the study for a trial and start it; ``None`` when it came beyond the cap (a worker won a race).

        ``None`` too when another process failed it as dead while this worker was slow to start it.
        """
        with quiet_optuna():
            asked = self.study.ask()
        study_id = self.storage.get_study_id_from_name(self.study.study_name)  # the storage's ids, by public calls
        trial_id = self.storage.get_trial_id_from_study_id_trial_number(study_id, asked.number)
        heartbeat = Heartbeat(self.storage, trial_id).start()
        try:
            attrs = asked.user_attrs
            planned = attrs.get(TrialKeys.VALUES)
            if planned is None:
                before = [t for t in self.study.get_trials(deepcopy=False) if t.number < asked.number]
                if self.max_trials is not None and slots_used(before) >= self.max_trials:
                    asked.set_user_attr(TrialKeys.SKIPPED, "beyond the trial cap")
                    heartbeat.stop()
                    self.study.tell(asked, state=TrialState.PRUNED)
                    return None
                planned = self._planned_values(asked.number)
            values = suggest_all(asked, self.hyperparameters, self.sampler, planned)
            for key, value in (
                (TrialKeys.WORKER, self.worker),
                (TrialKeys.TRIAL_ID, self.trial_id_of(asked.number)),
                (TrialKeys.VALUES, values),
            ):
                asked.set_user_attr(key, value)
            if TrialKeys.ATTEMPT not in attrs:
                asked.set_user_attr(TrialKeys.ATTEMPT, 1)
        except optuna.exceptions.UpdateFinishedTrialError:
            heartbeat.stop()  # this worker was so slow to start it that another took it for dead; its retry is queued
            return None
        except BaseException:
            heartbeat.stop()
            self.study.tell(asked, state=TrialState.FAIL)
            raise
        trial_id = self.trial_id_of(asked.number)
        hyperparameters = self.hyperparameters.copy()
        hyperparameters.values = values
        trial = kt.engine.trial.Trial(hyperparameters, trial_id=trial_id, status=Status.RUNNING)
        self._record_values(trial)
        self.trials[trial_id] = trial
        self.start_order.append(trial_id)
        self.ongoing_trials[tuner_id] = trial
        self.workers[trial_id] = self.worker
        self._known.add(asked.number)
        self._running[trial_id] = (asked, heartbeat)
        self._save_trial(trial)
        self._display.on_trial_begin(trial)  # KerasTuner's own lines with --verbose; it times the trial from here
        return trial

    def _planned_values(self, number: int) -> dict[str, Any]:
        """Random values KerasTuner's way, seeded by the trial number; none planned for Bayesian (TPE proposes)."""
        if not isinstance(self.sampler.fallback, optuna.samplers.RandomSampler):
            return {}
        self._seed_state = trial_seed(self.run_seed, number)
        return self._random_values() or {}

    def end_trial(self, trial: kt.engine.trial.Trial) -> None:
        """KerasTuner scores the trial; the study then records it with everything the report needs."""
        asked, heartbeat = self._running.pop(trial.trial_id)
        try:
            super().end_trial(trial)  # raises once too many trials failed in a row, after recording this one
        finally:
            heartbeat.stop()
            self._tell(asked, self.trials[trial.trial_id])

    def abandon(self, trial_id: str, reason: str) -> None:
        """The worker stops mid-trial (Ctrl-C, a full disk): fail the trial and queue it again, saying why.

        Never raises: the caller is on its way out with the error that
        stopped it.  A storage that is gone too leaves the trial running in
        the study with its heartbeat stopped, so it is run again once found
        stale (on ``--resume``, at the latest).
        """
        if trial_id not in self._running:
            return
        asked, heartbeat = self._running.pop(trial_id)
        heartbeat.stop()
        try:
            frozen = self.study.get_trials(deepcopy=False)[asked.number]
            self.study.tell(asked, state=TrialState.FAIL)
            requeue(
                self.study, frozen, f"{self.worker} stopped: {reason}", int(frozen.user_attrs.get(TrialKeys.ATTEMPT, 1))
            )
        except Exception:
            return

    def _tell(self, asked: optuna.Trial, trial: kt.engine.trial.Trial) -> None:
        seconds, build, fitted, epochs = self.timings.get(trial.trial_id, (0.0, 0.0, 0.0, None))
        score = float(trial.score) if trial.score is not None and math.isfinite(float(trial.score)) else None
        error = None
        if trial.message:
            lines = [line for line in str(trial.message).strip().splitlines() if line.strip()]
            error = "\n".join(lines[-3:])[-2000:]
        attrs = {
            TrialKeys.STATUS: str(trial.status),
            TrialKeys.SCORE: score,
            TrialKeys.BEST_STEP: None if trial.best_step is None else int(trial.best_step),
            TrialKeys.ERROR: error,
            TrialKeys.SECONDS: seconds,
            TrialKeys.BUILD_SECONDS: build,
            TrialKeys.TREE_SECONDS: fitted,
            TrialKeys.EPOCHS_RUN: epochs,
            TrialKeys.VALUES: dict(trial.hyperparameters.values),
        }

        def tell() -> None:
            for key, value in attrs.items():
                asked.set_user_attr(key, value)
            if trial.status == Status.COMPLETED and score is not None:
                self.study.tell(asked, score)
            else:
                self.study.tell(asked, state=TrialState.FAIL)

        self._with_storage(tell)

    def _with_storage(self, step: Callable[[], None]) -> None:
        """Run a write to the study, retrying for a few seconds while the database is away (a restart)."""
        for attempt in range(TELL_ATTEMPTS):
            try:
                step()
                return
            except optuna.exceptions.UpdateFinishedTrialError:
                return  # another worker already failed it as stale; its retry is queued
            except Exception as error:
                if attempt == TELL_ATTEMPTS - 1:
                    raise storage_lost(error, self.plan.study) from error
                time.sleep(1.0)

    def sync(self, trials: list[optuna.trial.FrozenTrial] | None = None) -> None:
        """Copy the trials other workers finished into this oracle (and tell ``peer_trial_ended``)."""
        if trials is None:
            with storage_guard(self.plan.study):
                trials = self.study.get_trials(deepcopy=False)
        replaced = replaced_trials(trials)
        for frozen in trials:
            if frozen.number in self._known or frozen.state not in FINISHED:
                continue
            if TrialKeys.SKIPPED in frozen.user_attrs or TrialKeys.TRIAL_ID not in frozen.user_attrs:
                self._known.add(frozen.number)  # skipped beyond the cap, or failed before it started: never trained
                continue
            trial = self._trial_from_study(frozen, replaced.get(frozen.number))
            self.trials[trial.trial_id] = trial
            self.start_order.append(trial.trial_id)
            self.end_order.append(trial.trial_id)
            self._record_values(trial)
            self._known.add(frozen.number)
            self.peer_trial_ended(trial.trial_id)
        self.start_order.sort(key=int)

    def _trial_from_study(self, frozen: optuna.trial.FrozenTrial, replaced_by: tuple[str, int] | None) -> Any:
        attrs = frozen.user_attrs
        trial_id = str(attrs[TrialKeys.TRIAL_ID])
        hyperparameters = self.hyperparameters.copy()
        hyperparameters.values = dict(attrs.get(TrialKeys.VALUES, frozen.params))
        said = attrs.get(TrialKeys.STATUS)  # STOPPED: the time budget ran out before it trained
        status = said if said in (Status.COMPLETED, Status.STOPPED) else Status.FAILED
        if frozen.state == TrialState.COMPLETE and status != Status.COMPLETED:
            status = Status.COMPLETED
        trial = kt.engine.trial.Trial(hyperparameters, trial_id=trial_id, status=status)
        trial.score = attrs.get(TrialKeys.SCORE) if status == Status.COMPLETED else None
        trial.best_step = attrs.get(TrialKeys.BEST_STEP)
        message = attrs.get(TrialKeys.ERROR)
        if replaced_by is not None:
            message = f"{replaced_by[0]}; run again as trial {self.trial_id_of(replaced_by[1])}"
        elif frozen.state == TrialState.FAIL and message is None:
            message = f"{attrs.get(TrialKeys.WORKER, 'its worker')} died during the trial; it was not run again"
        trial.message = message
        self.workers[trial_id] = str(attrs.get(TrialKeys.WORKER, "?"))
        self.timings[trial_id] = (
            float(attrs.get(TrialKeys.SECONDS) or 0.0),
            float(attrs.get(TrialKeys.BUILD_SECONDS) or 0.0),
            float(attrs.get(TrialKeys.TREE_SECONDS) or 0.0),
            attrs.get(TrialKeys.EPOCHS_RUN),
        )
        return trial
