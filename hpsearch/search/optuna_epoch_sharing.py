"""Epoch sharing (``search.share_epochs``): a completed Optuna trial whose folds passed
through a shorter candidate's states records that candidate too, when it scores better,
without training it (each fit is seeded alike, so the first e epochs of a longer fit are
exactly an e-epoch fit: ``hpsearch.models.reuse``). The shorter candidate becomes a trial
of its own, in Optuna for the sampler and in MLflow, marked ``shared_from``; it trained
nothing and does not count against the budget."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import optuna

from hpsearch.errors import TrialFailed
from hpsearch.search.coordination import heartbeat
from hpsearch.search.evaluation import FoldResult, TrialOutcome
from hpsearch.search.optuna_trials import SHARED_ATTR, TAKEN_OVER, storage_trial_id
from hpsearch.tracking.names import COMPLETE, FAIL


class EpochSharing:
    """The Optuna backend's epoch sharing (a mixin: it uses the backend's study, trainer,
    tracker and cross-validation)."""

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
