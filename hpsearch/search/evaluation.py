"""Scoring one candidate by cross-validation, the same way for every backend."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hpsearch.data import Dataset
from hpsearch.models.folds import FoldPlan
from hpsearch.models.scoring import make_scorer, natural
from hpsearch.study import Study
from hpsearch.study.references import portable_reference
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
    # Early stopping: per fold, the epochs trained (where it stopped, or the ceiling) and
    # the best epoch, whose weights the fold's score is of.
    stopped_epochs: list[int] = field(default_factory=list)
    best_epochs: list[int] = field(default_factory=list)
    # Whether the model's LSTM/GRU layers can run cuDNN's kernel (None: it has none).
    cudnn: bool | None = None

    @property
    def refit_epochs(self) -> int | None:
        """The epochs a refit on all training rows trains, which no held-out rows can stop:
        the median of the folds' best epochs (rounded half up); None without them."""
        if not self.best_epochs:
            return None
        return int(math.floor(float(np.median(self.best_epochs)) + 0.5))

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


class FoldWeightedScorer:
    """A scorer that weights a fold's held-out rows with their sample weights.

    GridSearchCV passes ``sample_weight`` to ``fit`` (sliced per fold) but not to the
    scorer unless scikit-learn's metadata routing is switched on for the whole process;
    the fitted estimator knows its fold (``fitted_fold``), and the plan its rows' weights.
    """

    def __init__(self, scorer, fold_plan: FoldPlan):
        self.scorer, self.fold_plan = scorer, fold_plan

    def __call__(self, estimator, X, y) -> float:
        fold = getattr(estimator, "fitted_fold", None)
        weights = None if fold is None else self.fold_plan.validation_weights(fold)
        if weights is None or len(weights) != len(y):
            raise ValueError("the held-out rows' sample weights are unknown for this fit")
        return self.scorer(estimator, X, y, sample_weight=weights)


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
            dataset.X,
            dataset.y,
            self.splits,
            names=study.dimensions(),
            records_dir=records_dir,
            sample_weight=dataset.sample_weight,
        )

    def estimator(self, params: dict[str, Any]):
        from hpsearch.models.estimator import make_estimator  # TensorFlow: workers only

        training = self.study.training
        parameters = {**self.builder_params, **params}
        if training.class_weight is not None:
            parameters.setdefault("class_weight", training.class_weight)
        return make_estimator(
            self.study.task,
            self.builder,
            parameters,
            loss=self.study.model.loss,
            inputs=self.dataset.inputs,
            standardize=self.study.data.standardize,
            jit_compile=self.study.model.jit_compile,
            steps_per_execution=self.study.model.steps_per_execution,
            seed=self.study.seed,
            early_stopping=self.early_stopping_settings(),
            training_callbacks=tuple(
                portable_reference(value, self.study.base_dir) for value in training.callbacks
            ),
        )

    def early_stopping_settings(self) -> dict[str, Any] | None:
        """``training.early_stopping`` as the estimator takes it, with the metric it watches."""
        early_stopping = self.study.training.early_stopping
        if early_stopping is None:
            return None
        return {
            **early_stopping.model_dump(exclude={"monitor"}),
            "metric": self.study.monitored_metric(),
        }

    def weights(self, rows) -> np.ndarray | None:
        """The dataset's sample weights of ``rows`` (None: unweighted)."""
        weights = self.dataset.sample_weight
        return None if weights is None else weights[rows]

    def natural(self, score: float) -> float:
        """A scikit-learn score in the metric's natural sign (an RMSE is positive)."""
        return natural(self.metric, score)

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
        stopped = [r for r in records if r.get("best_epoch") is not None]
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
            cudnn=model.get("cudnn"),
            trained_epochs=_sum_or_none([r.get("trained_epochs") for r in records]),
            predict_ms=predict_ms,
            epoch_times=mean_curves([{"t": r["epoch_seconds"]} for r in timed]).get("t", []),
            train_time=float(sum(sum(r["epoch_seconds"]) for r in timed)) if records else None,
            fits_reused=_count_or_none([r.get("reused") for r in records]),
            stopped_epochs=[len(r["history"].get("loss", [])) for r in stopped],
            best_epochs=[int(r["best_epoch"]) for r in stopped],
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
                lambda: self.natural(
                    float(estimator.epoch_score(self.scorer, X_val, y_val, self.weights(test)))
                ),
            )
            estimator.set_params(callbacks=[reporter])
        estimator.fit(
            self.dataset.X[train],
            self.dataset.y[train],
            sample_weight=self.weights(train),
            row_index=train,
            fold_plan=self.fold_plan.for_trial(trial),
        )
        score = float(self.score(estimator, X_val, y_val, self.weights(test)))
        seconds = time.perf_counter() - started
        predict_ms = None
        if fold == 0 and "predict_ms" in self.study.objectives:
            timer = time.perf_counter()  # the scorer's call above traced predict already
            estimator.predict(X_val)
            predict_ms = 1000 * (time.perf_counter() - timer) / max(len(test), 1)
        pruned_at = None if reporter is None else reporter.pruned_at
        return FoldResult(score, seconds, pruned_at, predict_ms)

    def score(self, estimator, X, y, sample_weight=None) -> float:
        """The scorer's value, weighted where the rows have weights."""
        if sample_weight is None:
            return self.scorer(estimator, X, y)
        return self.scorer(estimator, X, y, sample_weight=sample_weight)

    def grid_scorer(self):
        """The scorer GridSearchCV calls with a fold's held-out rows: weighted by the
        fold's sample weights, found from the fold the estimator was fitted on."""
        if self.dataset.sample_weight is None:
            return self.scorer
        return FoldWeightedScorer(self.scorer, self.fold_plan)

    def refit(self, params: dict[str, Any]):
        """The candidate fitted on all training data (no validation fold)."""
        return self.estimator(params).fit(
            self.dataset.X, self.dataset.y, sample_weight=self.dataset.sample_weight
        )

    def test_score(self, estimator) -> float | None:
        if not self.dataset.has_test:
            return None
        return self.natural(float(self.scorer(estimator, self.dataset.X_test, self.dataset.y_test)))
