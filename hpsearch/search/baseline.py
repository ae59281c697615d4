"""The trivial baseline of a study: what "doing nothing" scores on the same folds and test set.

Majority class for classification (DummyClassifier "prior", which for next-word prediction is
the unigram model: its probabilities are the training word frequencies), the last known value
for a forecast, the training mean for other regression. Users must see whether the network
beats it; it is logged on the parent run as ``baseline_score`` (cross-validated, beside
``best_score``) and ``baseline_test_score`` (beside ``test_score``).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

from hpsearch.data import Dataset


class LastValueRegressor(RegressorMixin, BaseEstimator):
    """Predicts that the series stays where the window ends: ``X[:, -1, feature]``."""

    def __init__(self, feature: int = 0):
        self.feature = feature

    def fit(self, X, y, sample_weight=None):
        """Nothing to learn (the weights change nothing): the last value is the forecast."""
        self.n_features_in_ = np.shape(X)[-1]
        return self

    def predict(self, X):
        return np.asarray(X, dtype="float64")[:, -1, self.feature]


def baseline_estimator(dataset: Dataset, task: str):
    from sklearn.dummy import DummyClassifier, DummyRegressor

    if task == "classification":
        return DummyClassifier(strategy="prior")
    if dataset.kind == "forecast":
        return LastValueRegressor(feature=dataset.forecast_feature)
    return DummyRegressor(strategy="mean")


def baseline_description(dataset: Dataset, task: str) -> str:
    if task == "classification":
        return "unigram model" if dataset.kind == "language_model" else "majority class"
    return "last value" if dataset.kind == "forecast" else "training mean"


def baseline_metrics(cross_validation) -> dict[str, float]:
    """``baseline_score`` on the study's folds, and on the test set with its extra metrics."""
    from sklearn.base import clone

    from hpsearch.search.held_out_metrics import extra_test_metrics

    dataset = cross_validation.dataset
    task = cross_validation.study.task
    estimator = baseline_estimator(dataset, task)
    fold_scores = []  # fitted and scored with the rows' weights (if any), as the trials are
    for train, test in cross_validation.splits:
        fitted = clone(estimator).fit(
            dataset.X[train], dataset.y[train], sample_weight=cross_validation.weights(train)
        )
        fold_scores.append(
            cross_validation.score(
                fitted, dataset.X[test], dataset.y[test], cross_validation.weights(test)
            )
        )
    metrics = {"baseline_score": cross_validation.natural(float(np.mean(fold_scores)))}
    if dataset.has_test:
        fitted = estimator.fit(dataset.X, dataset.y)
        metrics["baseline_test_score"] = cross_validation.test_score(fitted)
        extra = extra_test_metrics(dataset, fitted)
        extra.pop("directional_accuracy", None)  # a constant forecast has no direction
        metrics.update({f"baseline_test_{name}": value for name, value in extra.items()})
    return metrics
