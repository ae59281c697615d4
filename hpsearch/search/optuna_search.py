"""The ``optuna`` backend: an Optuna study in a persistent storage, resumed by name.

``n_trials`` is the study's total budget: running the same command again runs only the
trials still missing, and ``--n-trials`` with a larger number adds the difference. A trial
counts when it produced a result of its own (a score, a prune, or its own error); trials
cut short by Ctrl-C, SIGTERM or a dead process do not. A process killed outright leaves its
trial RUNNING: Optuna's heartbeat marks it FAIL once the grace period has passed, and the
next run closes its MLflow run as KILLED.
Starts listed in ``search.enqueue`` (known-good candidates), then the best candidates of
another study (``search.warm_start``), are evaluated first.
Pruning is epoch by epoch on a trial's first fold (``hpsearch.search.pruning``): a
candidate clearly worse than the others at the same epoch stops there, before its other
folds. With ``epochs`` searched (a list; a range when asked), a completed trial that
scored better after fewer epochs also records that candidate, scored from the states its
folds passed through (``search.share_epochs``): a trial that trained nothing and does not
count.
"""

from __future__ import annotations

import sys
import time
import warnings
import zlib

import optuna

from hpsearch.errors import TrialFailed, UserError
from hpsearch.search.base import SearchBackend
from hpsearch.search.coordination import heartbeat, worker_name
from hpsearch.search.optuna_epoch_sharing import EpochSharing
from hpsearch.search.optuna_experimental import experimental
from hpsearch.search.optuna_space import make_sampler, optuna_names, suggest
from hpsearch.search.optuna_trials import (
    ERROR_ATTR,
    GRACE_HEARTBEATS,
    TAKEN_OVER,
    TrialTakenOver,
    counts_in_budget,
    failed_elsewhere,
    is_shared,
    retried_trial_number,
    storage_trial_id,
)
from hpsearch.search.pruning import EpochReports, make_pruner
from hpsearch.search.trainer import describe_error
from hpsearch.search.warm_start import warm_starts
from hpsearch.tracking.names import (
    BACKEND_TAG,
    COMPLETE,
    FAIL,
    PRUNED,
    PRUNER_TAG,
    RETRY_OF_TAG,
    RUNNING,
    SAMPLER_TAG,
)
from hpsearch.tracking.tracker import TrialRun, prepare_local_store


class OptunaBackend(EpochSharing, SearchBackend):
    """Trials drawn by an Optuna sampler, scored by cross-validation, pruned epoch by epoch."""

    @classmethod
    def search_tags(cls, study) -> dict[str, str]:
        multivariate = "-multivariate" if study.multivariate_tpe else ""
        return {
            BACKEND_TAG: "optuna",
            SAMPLER_TAG: study.sampler + multivariate,
            PRUNER_TAG: study.pruner,
        }

    def reported_values(self) -> dict[int, dict[int, float]] | None:
        if self.study.pruner == "none":
            return None
        trials = optuna.load_study(
            study_name=self.study.name, storage=self.study.optuna_storage()
        ).trials
        return {trial.number: dict(trial.intermediate_values) for trial in trials}

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
            map(counts_in_budget, optuna_study.get_trials(deepcopy=False))
        )
        if remaining <= 0:
            return
        starts, notes = warm_starts(self.study, self.tracker.tracking_uri)
        for note in notes:
            print(note, file=sys.stderr, flush=True)
        for start in [*self.study.search.enqueue, *starts]:
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
                counted = sum(map(counts_in_budget, trials))
                running = sum(
                    1
                    for trial in trials
                    if trial.state == optuna.trial.TrialState.RUNNING and not is_shared(trial)
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
        if not retries or is_shared(trial):  # nothing of its own to redo
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
            if record.state == RUNNING and (self.exclusive or record.number in failed):
                self.tracker.close_killed(record.run_id)
            elif record.left_open:
                self.tracker.close_recorded(record)

    def _epoch_reports(self, trial: optuna.Trial) -> EpochReports | None:
        """Where the first fold reports each epoch; None when nothing prunes."""
        if self.study.pruner == "none":
            return None
        return EpochReports(self.study.optuna_storage(), self.study.name, storage_trial_id(trial))

    def _objective(self, trial: optuna.Trial) -> float:
        params = suggest(trial, self.study)
        cross_validation = self.cross_validation
        with self.tracker.trial(trial.number, params) as run:
            trial.set_user_attr("mlflow_run_id", run.run_id)
            if trial.user_attrs.get(ERROR_ATTR):  # copied from the failed trial this retries
                trial.set_user_attr(ERROR_ATTR, None)
            retry_of = retried_trial_number(trial)
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
            if self.mutex is not None and failed_elsewhere(trial):
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
