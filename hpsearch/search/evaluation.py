"""Scoring one candidate by cross-validation, the same way for every backend."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hpsearch.data import Dataset
from hpsearch.models.folds import FoldPlan
from hpsearch.study import Study
from hpsearch.study.metrics import Metric
from hpsearch.tracking.names import COMPLETE, FAIL


@dataclass
class TrialOutcome:
    """What one trial (one grid candidate) produced: the unit every backend reports."""

    number: int
    params: dict[str, Any]
    state: str
    fold_scores: list[float] = field(default_factory=list)
    curves: dict[str, list[float]] = field(default_factory=dict)
    fit_time: float = 0.0
    error: str | None = None
    n_params: int | None = None
    model_summary: str | None = None  # Keras's model.summary() text
    # Epochs trained over all folds; a fold that took a longer fit's state trained none.
    trained_epochs: int | None = None
    predict_ms: float | None = None  # per row (multi-objective studies only)
    # Seconds per epoch (mean over the folds that trained it) and in all trained epochs:
    # the first epoch's excess over the others is mostly tracing.
    epoch_times: list[float] = field(default_factory=list)
    train_time: float | None = None
    # The trial whose fits this one's shorter ``epochs`` were scored from (Optuna's
    # ``search.share_epochs``); such a trial trains nothing and is outside the budget.
    shared_from: int | None = None
    # Fits that took a built model instead of building one (``hpsearch.models.reuse``).
    fits_reused: int | None = None

    @property
    def score(self) -> float:
        finite = [s for s in self.fold_scores if math.isfinite(s)]
        return float(np.mean(finite)) if finite else math.nan

    @property
    def score_std(self) -> float:
        finite = [s for s in self.fold_scores if math.isfinite(s)]
        return float(np.std(finite)) if finite else math.nan


@dataclass
class FoldResult:
    """One candidate fitted and scored on one fold."""

    score: float  # scikit-learn's sign (``natural`` turns it into the metric's)
    seconds: float  # fit and score
    pruned_at: int | None = None  # the epoch the pruner stopped the fit at
    predict_ms: float | None = None  # per row, when an objective asks for it


def _sum_or_none(values: list[int | None]) -> int | None:
    return None if not values or None in values else int(sum(values))


def _count_or_none(values: list[bool | None]) -> int | None:
    """How many are true; None when nothing was recorded."""
    known = [value for value in values if value is not None]
    return sum(map(bool, known)) if known else None


def make_splitter(study: Study):
    """k folds (stratified for classification, shuffled with the seed), a holdout, or time."""
    from sklearn.model_selection import (
        KFold,
        ShuffleSplit,
        StratifiedKFold,
        StratifiedShuffleSplit,
        TimeSeriesSplit,
    )

    cv = study.search.cv
    classification = study.task == "classification"
    if isinstance(cv, int):
        splitter = StratifiedKFold if classification else KFold
        return splitter(n_splits=cv, shuffle=True, random_state=study.seed)
    if hasattr(cv, "holdout"):
        splitter = StratifiedShuffleSplit if classification else ShuffleSplit
        return splitter(n_splits=1, test_size=cv.holdout, random_state=study.seed)
    return TimeSeriesSplit(n_splits=cv.timeseries)


def neg_log_loss(estimator, X, y) -> float:
    """scikit-learn's ``neg_log_loss``, but over the estimator's classes: a fold may lack some."""
    from hpsearch.search.held_out_metrics import mean_log_loss

    return -mean_log_loss(estimator, X, y)


def neg_perplexity(estimator, X, y) -> float:
    from hpsearch.search.held_out_metrics import perplexity

    return -perplexity(estimator, X, y)


_OWN_SCORERS = {"neg_log_loss": neg_log_loss, "neg_perplexity": neg_perplexity}


def make_scorer(metric: Metric, y) -> Any:
    from sklearn.metrics import get_scorer

    name = metric.scorer
    if name in _OWN_SCORERS:
        return _OWN_SCORERS[name]
    if name == "roc_auc" and len(np.unique(y)) > 2:
        name = "roc_auc_ovr"
    return get_scorer(name)


def mean_curves(histories: list[dict[str, list[float]]]) -> dict[str, list[float]]:
    """Per-epoch mean over the folds that reached each epoch."""
    curves: dict[str, list[float]] = {}
    for key in sorted({k for history in histories for k in history}):
        series = [history[key] for history in histories if key in history]
        length = max(len(s) for s in series)
        curves[key] = [
            float(np.mean([s[epoch] for s in series if len(s) > epoch])) for epoch in range(length)
        ]
    return curves


class CrossValidation:
    """The study's estimator, splits and scorer; turns fold results into a ``TrialOutcome``."""

    def __init__(
        self, study: Study, dataset: Dataset, builder: str, builder_params: dict, records_dir
    ):
        self.study = study
        self.dataset = dataset
        self.builder = builder
        self.builder_params = dict(builder_params)
        self.metric = study.metric
        self.scorer = make_scorer(self.metric, dataset.y)
        self.splits = list(make_splitter(study).split(dataset.X, dataset.y))
        self.fold_plan = FoldPlan(
            dataset.X, dataset.y, self.splits, names=study.dimensions(), records_dir=records_dir
        )

    def estimator(self, params: dict[str, Any]):
        from hpsearch.models.estimator import make_estimator  # TensorFlow: workers only

        return make_estimator(
            self.study.task,
            self.builder,
            {**self.builder_params, **params},
            loss=self.study.model.loss,
            inputs=self.dataset.inputs,
            standardize=self.study.data.standardize,
            jit_compile=self.study.model.jit_compile,
            steps_per_execution=self.study.model.steps_per_execution,
            seed=self.study.seed,
        )

    def natural(self, score: float) -> float:
        """A scikit-learn score in the metric's natural sign (an RMSE is positive)."""
        return -score if self.metric.negated else score

    def outcome(
        self,
        number: int,
        params: dict[str, Any],
        raw_scores,
        fit_time: float,
        error: str | None = None,
        state: str | None = None,
        predict_ms: float | None = None,
        records_of: int | None = None,
    ) -> TrialOutcome:
        """Combine the folds' scores with the histories and errors their fits recorded
        (``records_of``: the trial that ran the fits, as ``evaluate_fold`` was told)."""
        records = self.fold_plan.for_trial(records_of).collect(params)
        fold_scores = [self.natural(float(s)) for s in raw_scores]
        errors = [r["error"] for r in records if r.get("error")]
        error = (errors[0] if errors else None) or error
        failed = error is not None or not fold_scores or not all(map(math.isfinite, fold_scores))
        if failed and error is None:
            error = "a fold produced no score (scoring failed)"
        state = state or (FAIL if failed else COMPLETE)
        model = next((r["model"] for r in records if r.get("model")), None) or {}
        timed = [r for r in records if r.get("epoch_seconds")]
        return TrialOutcome(
            number=number,
            params=params,
            state=state,
            fold_scores=fold_scores,
            curves=mean_curves([r["history"] for r in records]),
            fit_time=fit_time,
            error=None if state == COMPLETE else error,
            n_params=model.get("n_params"),
            model_summary=model.get("summary"),
            trained_epochs=_sum_or_none([r.get("trained_epochs") for r in records]),
            predict_ms=predict_ms,
            epoch_times=mean_curves([{"t": r["epoch_seconds"]} for r in timed]).get("t", []),
            train_time=float(sum(sum(r["epoch_seconds"]) for r in timed)) if records else None,
            fits_reused=_count_or_none([r.get("reused") for r in records]),
        )

    def objective_values(self, outcome: TrialOutcome) -> list[float]:
        """What Optuna optimises: the score, then the secondary objectives."""
        facts = {"n_params": outcome.n_params, "predict_ms": outcome.predict_ms}
        values = [outcome.score]
        for name in self.study.objectives[1:]:
            if facts[name] is None:
                raise ValueError(f"the trial did not measure {name}")
            values.append(float(facts[name]))
        return values

    def evaluate_fold(
        self, params: dict[str, Any], fold: int, reports=None, trial: int | None = None
    ) -> FoldResult:
        """Fit and score one fold in this process.

        With ``reports`` (``hpsearch.search.pruning.EpochReports``) the fit reports its
        validation score to the Optuna trial after every epoch and stops when pruned.
        ``trial``: the fit's records are that trial's (``FoldPlan.for_trial``).
        """
        started = time.perf_counter()
        estimator = self.estimator(params)
        train, test = self.splits[fold]
        X_val, y_val = self.dataset.X[test], self.dataset.y[test]  # arrays (load_dataset)
        reporter = None
        if reports is not None:
            from hpsearch.search.pruning import open_trial, report_epochs_callback

            reporter = report_epochs_callback(
                open_trial(reports, self.study),
                lambda: self.natural(float(estimator.epoch_score(self.scorer, X_val, y_val))),
            )
            estimator.set_params(callbacks=[reporter])
        estimator.fit(
            self.dataset.X[train],
            self.dataset.y[train],
            row_index=train,
            fold_plan=self.fold_plan.for_trial(trial),
        )
        score = float(self.scorer(estimator, X_val, y_val))
        seconds = time.perf_counter() - started
        predict_ms = None
        if fold == 0 and "predict_ms" in self.study.objectives:
            timer = time.perf_counter()  # the scorer's call above traced predict already
            estimator.predict(X_val)
            predict_ms = 1000 * (time.perf_counter() - timer) / max(len(test), 1)
        pruned_at = None if reporter is None else reporter.pruned_at
        return FoldResult(score, seconds, pruned_at, predict_ms)

    def refit(self, params: dict[str, Any]):
        """The candidate fitted on all training data (no validation fold)."""
        return self.estimator(params).fit(self.dataset.X, self.dataset.y)

    def test_score(self, estimator) -> float | None:
        if not self.dataset.has_test:
            return None
        return self.natural(float(self.scorer(estimator, self.dataset.X_test, self.dataset.y_test)))
