"""The ``optuna`` backend: an Optuna study in a persistent storage, resumed by name.

``n_trials`` is the study's total budget: running the same command again runs only the
trials still missing, and ``--n-trials`` with a larger number adds the difference. A trial
counts when it produced a result of its own (a score, a prune, or its own error); trials
cut short by Ctrl-C, SIGTERM or a dead process do not. A process killed outright leaves its
trial RUNNING: Optuna's heartbeat marks it FAIL once the grace period has passed, and the
next run closes its MLflow run as KILLED.
Starts listed in ``search.enqueue`` (known-good candidates) are evaluated first.
Pruning is epoch by epoch on a trial's first fold (``hpsearch.search.pruning``): a
candidate clearly worse than the others at the same epoch stops there, before its other
folds. With ``epochs`` searched (a list; a range when asked), a completed trial that
scored better after fewer epochs also records that candidate, scored from the states its
folds passed through (``search.share_epochs``): a trial that trained nothing and does not
count.
"""

from __future__ import annotations

import time
import warnings
import zlib
from typing import Any

import numpy as np
import optuna

from hpsearch.errors import TrialFailed, UserError
from hpsearch.search.base import SearchBackend
from hpsearch.search.coordination import heartbeat, worker_name
from hpsearch.search.evaluation import FoldResult, TrialOutcome
from hpsearch.search.optuna_experimental import experimental
from hpsearch.search.optuna_space import make_sampler, optuna_names, suggest
from hpsearch.search.pruning import EpochReports, make_pruner
from hpsearch.search.trainer import describe_error
from hpsearch.tracking.names import COMPLETE, FAIL, PRUNED, RETRY_OF_TAG, spends_budget
from hpsearch.tracking.tracker import TrialRun, prepare_local_store

ERROR_ATTR = "error"  # set on trials that failed by themselves (they count in the budget)
SHARED_ATTR = "shared_from"  # on trials scored from a longer trial's fits (not counted)
GRACE_HEARTBEATS = 3  # heartbeats a trial may miss before it counts as abandoned
TAKEN_OVER = (
    "its heartbeat was silent past the grace period (a paused machine or a lost connection),"
    " so another worker failed it and ran a trial in its place; this result does not count"
)


class TrialTakenOver(Exception):
    """A worker's trial that another worker failed while its heartbeat was silent: recorded
    FAIL in MLflow, and not to be told to Optuna, which holds it FAIL already."""


def _shared(trial) -> bool:
    """A trial scored from a longer trial's fits: outside the budget, never retried."""
    return SHARED_ATTR in trial.user_attrs


def storage_trial_id(trial: optuna.Trial) -> int:
    """A running trial's id in its storage, which the storage's methods and a worker process
    (``EpochReports``) take. ``optuna.Trial`` does not show it: the storage finds it from the
    study's name and the trial's number."""
    storage = trial.storage
    study_id = storage.get_study_id_from_name(trial.study.study_name)
    return storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)


def _retried_trial_number(trial: optuna.Trial) -> int | None:
    """The number of the failed trial that ``trial`` retries, if it is a retry."""
    frozen = trial.storage.get_trial(storage_trial_id(trial))
    with experimental():
        return optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(frozen)


def _failed_elsewhere(trial: optuna.Trial) -> bool:
    """The running trial is FAIL in the storage: another worker found its heartbeat stale."""
    frozen = trial.storage.get_trial(storage_trial_id(trial))
    return frozen.state == optuna.trial.TrialState.FAIL


def _spends_budget(trial) -> bool:
    """``hpsearch.tracking.names.spends_budget`` of an Optuna trial: its own error is the
    ``error`` user attribute a trial that failed by itself carries."""
    return spends_budget(
        trial.state.name,
        own_result=bool(trial.user_attrs.get(ERROR_ATTR)),
        shared=_shared(trial),
    )


class OptunaBackend(SearchBackend):
    """Trials drawn by an Optuna sampler, scored by cross-validation, pruned epoch by epoch."""

    def planned_trials(self) -> int:
        return self.study.n_trials

    def open_study(self) -> optuna.Study:
        storage_url = self.study.optuna_storage()
        prepare_local_store(storage_url)
        # hpsearch reports every trial itself (failures included); Optuna's own warnings
        # would repeat each failure with a traceback.
        optuna.logging.set_verbosity(optuna.logging.ERROR)
        with experimental():  # heartbeats are "experimental" since Optuna 2.9
            storage = optuna.storages.RDBStorage(
                storage_url,
                heartbeat_interval=self.study.search.heartbeat,
                grace_period=GRACE_HEARTBEATS * self.study.search.heartbeat,
                heartbeat_stale_trial_callback=self._retry,
            )
        existing = [s for s in storage.get_all_studies() if s.study_name == self.study.name]
        if existing:
            started = [d.name.lower() for d in existing[0].directions]
            if started != self.study.directions:
                raise UserError(
                    f"{self.study.source}: search.metric: the Optuna study"
                    f" {self.study.name!r} was started to {', '.join(started)};"
                    " give the study a new name"
                )
        n_existing = (
            len(
                storage.get_all_trials(
                    storage.get_study_id_from_name(self.study.name), deepcopy=False
                )
            )
            if existing
            else 0
        )
        return optuna.create_study(
            study_name=self.study.name,
            storage=storage,
            directions=self.study.directions,
            sampler=make_sampler(self.study, n_existing, self._worker_salt()),
            pruner=make_pruner(self.study),
            load_if_exists=True,
        )

    def _worker_salt(self) -> int:
        """0 for ``run``; for a worker, a number of its machine and process."""
        if self.mutex is None:
            return 0
        return zlib.crc32(worker_name().encode()) % 1_000_003

    def run(self) -> None:
        optuna_study = self.open_study()
        if self.exclusive:
            self._recover_abandoned_trials(optuna_study)
        else:
            with experimental():
                optuna.storages.fail_stale_trials(optuna_study)
        self._close_abandoned_runs(optuna_study)
        remaining = self.study.n_trials - sum(
            map(_spends_budget, optuna_study.get_trials(deepcopy=False))
        )
        if remaining <= 0:
            return
        for start in self.study.search.enqueue:
            # Runs first; a start already tried (a resumed study) is not queued again.
            optuna_study.enqueue_trial(optuna_names(start, self.study), skip_if_exists=True)
        if self.mutex is not None:
            self._run_shared(optuna_study)
            return
        optuna_study.optimize(
            self._objective,
            n_trials=remaining,
            timeout=self.time_left(),
            # n_jobs > 1: Optuna's threads, each training in a worker process of its own
            # (hpsearch.search.trainer.ParallelTrainer).
            n_jobs=self.study.search.n_jobs,
            catch=(TrialFailed,),
            callbacks=[self._retry_own_failure],
        )

    def _run_shared(self, optuna_study: optuna.Study) -> None:
        """Trials one at a time beside other workers, until the study's total is reached.

        A trial is claimed under the study's mutex: it starts only while the trials that
        count plus those running elsewhere leave room in ``n_trials``. When the rest of
        the budget is running on other workers, this one waits: a worker that died leaves
        its trial RUNNING until the heartbeat marks it stale, and then its place is free
        again (and retried, if ``search.retries`` allow).
        """
        while True:
            if self.out_of_time():
                return
            with self.mutex.held():
                with experimental():
                    optuna.storages.fail_stale_trials(optuna_study)
                # One read for both counts: with two, a trial that finished between them
                # was neither (and the study ran one trial too many).
                trials = optuna_study.get_trials(deepcopy=False)
                counted = sum(map(_spends_budget, trials))
                running = sum(
                    1
                    for trial in trials
                    if trial.state == optuna.trial.TrialState.RUNNING and not _shared(trial)
                )
                if counted >= self.study.n_trials:
                    self._close_abandoned_runs(optuna_study)
                    return
                claimed = counted + running < self.study.n_trials
                if claimed:
                    self._run_claimed_trial(optuna_study)  # lets the other workers look again
            if not claimed:
                self._close_abandoned_runs(optuna_study)
                time.sleep(min(self.study.search.heartbeat, 5))

    def _run_claimed_trial(self, optuna_study: optuna.Study) -> None:
        """One trial beside other workers: created under the study's mutex (held on entry,
        released once the trial exists), trained, then told to Optuna here rather than by
        ``Study.optimize``, which crashes on a trial failed elsewhere ("Should not reach.").

        Another worker fails this trial if its heartbeat falls silent past the grace period
        (a paused machine, a lost connection). ``_objective`` looks for that just before
        recording the trial; should it happen after that look, the tell finds the trial
        finished and the MLflow run is marked failed too. Either way the trial does not
        count and this worker goes on."""
        with warnings.catch_warnings():  # "heartbeats belong to Study.optimize": we beat
            warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)
            trial = optuna_study.ask()
        self.mutex.release()
        values, state = None, optuna.trial.TrialState.COMPLETE
        try:
            with heartbeat(trial.storage, storage_trial_id(trial)):
                try:
                    values = self._objective(trial)
                except optuna.TrialPruned:
                    state = optuna.trial.TrialState.PRUNED
                except TrialFailed:
                    state = optuna.trial.TrialState.FAIL
            told = optuna_study.tell(trial, values, state=state, skip_if_finished=True)
        except TrialTakenOver:
            return  # recorded FAIL in MLflow; Optuna holds it FAIL already
        except optuna.exceptions.UpdateFinishedTrialError:  # failed between a read and a write
            told = trial.storage.get_trial(storage_trial_id(trial))
            if not told.state.is_finished():  # about another trial: a defect, not a takeover
                optuna_study.tell(trial, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
                raise
        except BaseException:  # Ctrl-C, SIGTERM: the trial did not end by itself
            optuna_study.tell(trial, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
            raise
        if told.state != state:  # failed by another worker after _objective looked
            run_id = told.user_attrs.get("mlflow_run_id")
            if run_id is not None:  # else its run was failed as it started
                TrialRun(self.tracker, run_id).fail(TAKEN_OVER)
            return
        self._retry_own_failure(optuna_study, told)

    def _retry(self, optuna_study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        """Queue a failed trial again with its parameters, while ``search.retries`` allow."""
        retries = self.study.search.retries
        if not retries or _shared(trial):  # nothing of its own to redo
            return
        with experimental():
            optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=retries)(optuna_study, trial)

    def _retry_own_failure(self, optuna_study: optuna.Study, trial) -> None:
        """After each trial: one that failed by its own error may be retried (a stale one is
        retried by the storage's heartbeat check)."""
        if trial.state == optuna.trial.TrialState.FAIL and trial.user_attrs.get(ERROR_ATTR):
            self._retry(optuna_study, trial)

    def _recover_abandoned_trials(self, optuna_study: optuna.Study) -> None:
        """Finish the RUNNING trials of a dead process (we hold the study's lock).

        A process killed after MLflow recorded its trial but before Optuna did loses
        nothing: the trial is told to Optuna with the score MLflow has. The others fail,
        and do not count against the budget.
        """
        running = optuna_study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        if not running:
            return
        recorded = {record.number: record for record in self.tracker.trials()}
        for trial in running:
            record = recorded.get(trial.number)
            if record is not None and record.state == COMPLETE:
                optuna_study.tell(trial.number, self._recorded_values(record))
            elif record is not None and record.state == PRUNED:
                optuna_study.tell(trial.number, state=optuna.trial.TrialState.PRUNED)
            else:
                optuna_study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
                self._retry(optuna_study, optuna_study.trials[trial.number])

    def _recorded_values(self, record) -> float | list[float]:
        """A trial's objective values as MLflow recorded them."""
        if not self.study.multi_objective:
            return record.score
        return [record.score] + [record.metrics[name] for name in self.study.objectives[1:]]

    def _close_abandoned_runs(self, optuna_study: optuna.Study) -> None:
        """Close the MLflow runs that a dead process left RUNNING.

        Alone on the study (``exclusive``), every RUNNING trial run is one. Beside other
        processes, only those whose Optuna trial has failed (a stale heartbeat, or
        ``_recover_abandoned_trials``), and Optuna is read first: a trial is RUNNING in
        Optuna before its MLflow run starts, and its run is finished before Optuna hears,
        so a trial that starts or ends between the two reads is left alone. (Reading
        MLflow against Optuna's RUNNING trials closed the run of a trial another worker
        started between the reads, while it trained.)
        """
        failed = {
            trial.number
            for trial in optuna_study.get_trials(
                deepcopy=False, states=(optuna.trial.TrialState.FAIL,)
            )
        }
        for record in self.tracker.trials():
            if record.state == "RUNNING" and (self.exclusive or record.number in failed):
                self.tracker.close_killed(record.run_id)

    def _epoch_reports(self, trial: optuna.Trial) -> EpochReports | None:
        """Where the first fold reports each epoch; None when nothing prunes."""
        if self.study.pruner == "none":
            return None
        return EpochReports(self.study.optuna_storage(), self.study.name, storage_trial_id(trial))

    def _share_epochs(
        self, trial: optuna.Trial, params: dict[str, Any], own_scores: list[float]
    ) -> TrialOutcome | None:
        """The candidate ``params`` with fewer of the space's ``epochs``, when one scores
        better than the trial itself, found without training: the states this trial's folds
        passed through are exactly those fits' (each fit is seeded alike,
        ``hpsearch.models.reuse``). The best of them is recorded as a trial of its own, in
        Optuna (for the sampler) and MLflow, marked ``shared_from``. Only a better one: the
        worse ones would tell the sampler that this trial's region scores badly."""
        if "epochs" not in trial.params:  # fixed, or inside a branch: nothing shared
            return None
        complete = trial.study.get_trials(
            deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)
        )
        known = [t.params for t in complete]  # a candidate drawn before is not recorded twice
        shorter = [
            e
            for e in self.study.shared_epochs
            if e < params["epochs"] and {**trial.params, "epochs": e} not in known
        ]
        if not shorter:
            return None
        try:
            scored = self.trainer.score_kept_epochs(params, shorter, trial.number)
        except TrialFailed as failure:  # the trial stands; only its siblings are lost
            if self.trainer.stopping:
                raise KeyboardInterrupt from None
            message = f"trial {trial.number}: its shorter epochs were not scored: {failure}"
            warnings.warn(message, stacklevel=2)
            return None
        # Fold scores in scikit-learn's sign: higher is better, whatever the metric.
        mean = {e: float(np.mean([fold.score for fold in folds])) for e, folds in scored.items()}
        best = max(mean, key=lambda e: (mean[e], -e), default=None)
        if best is None or not mean[best] > float(np.mean(own_scores)):
            best = None
        records = self.cross_validation.fold_plan.for_trial(trial.number)
        for epochs in mean:
            if epochs != best:  # the curves its folds left, unused
                records.collect({**params, "epochs": epochs})
        if best is None:
            return None
        reports = trial.storage.get_trial(storage_trial_id(trial)).intermediate_values
        return self._record_shared(trial, {**params, "epochs": best}, scored[best], reports)

    def _record_shared(
        self,
        trial: optuna.Trial,
        params: dict[str, Any],
        folds: list[FoldResult],
        reports: dict[int, float],
    ) -> TrialOutcome:
        """One shorter sibling of ``trial`` as a finished trial, with the epoch reports its
        first fold would have made."""
        storage, epochs = trial.storage, params["epochs"]
        template = optuna.trial.create_trial(
            state=optuna.trial.TrialState.RUNNING,
            params={**trial.params, "epochs": epochs},
            distributions=trial.distributions,
            user_attrs={SHARED_ATTR: trial.number},
            intermediate_values={step: v for step, v in reports.items() if step <= epochs},
        )
        study_id = storage.get_study_id_from_name(trial.study.study_name)
        trial_id = storage.create_new_trial(study_id, template_trial=template)
        number = storage.get_trial_number_from_id(trial_id)
        # Alive for the other workers until told (a dead process's sibling is failed).
        with heartbeat(storage, trial_id):
            with self.tracker.trial(number, params, shared_from=trial.number) as run:
                outcome = self.cross_validation.outcome(
                    number,
                    params,
                    [fold.score for fold in folds],
                    sum(fold.seconds for fold in folds),
                    predict_ms=folds[0].predict_ms,
                    records_of=trial.number,  # its folds were scored by that trial
                )
                outcome.shared_from = trial.number
                run.finish(outcome)  # MLflow first, as for every trial
            state, values = optuna.trial.TrialState.FAIL, None
            if outcome.state == COMPLETE:
                state = optuna.trial.TrialState.COMPLETE
                values = (
                    self.cross_validation.objective_values(outcome)
                    if self.study.multi_objective
                    else outcome.score
                )
            try:
                storage.set_trial_user_attr(trial_id, "mlflow_run_id", run.run_id)
                told = trial.study.tell(number, values, state=state, skip_if_finished=True)
            except optuna.exceptions.UpdateFinishedTrialError:  # between a read and a write
                told = storage.get_trial(trial_id)
        if told.state != state:  # failed by another worker: this process was silent
            outcome.state, outcome.error = FAIL, TAKEN_OVER
            run.fail(TAKEN_OVER)
        return outcome

    def _objective(self, trial: optuna.Trial) -> float:
        params = suggest(trial, self.study)
        cross_validation = self.cross_validation
        with self.tracker.trial(trial.number, params) as run:
            trial.set_user_attr("mlflow_run_id", run.run_id)
            if trial.user_attrs.get(ERROR_ATTR):  # copied from the failed trial this retries
                trial.set_user_attr(ERROR_ATTR, None)
            retry_of = _retried_trial_number(trial)
            if retry_of is not None:
                self.tracker.client.set_tag(run.run_id, RETRY_OF_TAG, str(retry_of))
            scores, fit_time, state, error, predict_ms = [], 0.0, None, None, None
            try:
                for fold in range(len(cross_validation.splits)):
                    reports = self._epoch_reports(trial) if fold == 0 else None
                    result = self.trainer.evaluate_fold(params, fold, reports, trial.number)
                    scores.append(result.score)
                    fit_time += result.seconds
                    predict_ms = predict_ms if result.predict_ms is None else result.predict_ms
                    if result.pruned_at is not None:
                        state = PRUNED
                        break
            except Exception as failure:  # a failing trial is recorded; the study goes on
                if self.trainer.stopping:  # its worker was stopped by Ctrl-C or SIGTERM
                    raise KeyboardInterrupt from None
                error = describe_error(failure)
                state = FAIL
            outcome = cross_validation.outcome(
                trial.number,
                params,
                scores,
                fit_time,
                error=error,
                state=state,
                predict_ms=predict_ms,
                records_of=trial.number,
            )
            # Its shorter epochs: scored while its worker still holds the states (before
            # the trial ends), shown after it.
            shared = (
                self._share_epochs(trial, params, scores) if outcome.state == COMPLETE else None
            )
            # Checked last, just before the trial is recorded: a worker that was silent
            # (paused, disconnected) past the grace period finds it failed by another.
            if self.mutex is not None and _failed_elsewhere(trial):
                outcome.state, outcome.error = FAIL, TAKEN_OVER
                self.finish_trial(run, outcome)
                raise TrialTakenOver(trial.number)
            self.finish_trial(run, outcome)
        if shared is not None:
            self.on_trial(shared)
        if outcome.state == PRUNED:
            raise optuna.TrialPruned()
        if outcome.state == FAIL:
            trial.set_user_attr(ERROR_ATTR, (outcome.error or "")[:2000])
            raise TrialFailed(outcome.error)
        if self.study.multi_objective:
            return cross_validation.objective_values(outcome)
        return outcome.score
