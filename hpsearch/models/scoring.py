"""The scorer of a study's metric: scikit-learn's, hpsearch's own, or one made from the
user's function. In the models layer because a fit scores itself too: early stopping
watches the metric on the fold's held-out rows after every epoch.

Every scorer here is called as ``scorer(estimator, X, y, sample_weight=None)`` and pickles
to worker processes (a user's function travels as its reference).
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import numpy as np

from hpsearch.study.metrics import USER_SCORER, Metric
from hpsearch.study.references import reference_text, resolve_reference


def mean_log_loss(estimator, X, y, sample_weight=None) -> float:
    """Mean negative log-likelihood, over the classes the estimator knows (folds may lack some)."""
    from sklearn.metrics import log_loss

    return float(
        log_loss(
            y, estimator.predict_proba(X), labels=estimator.classes_, sample_weight=sample_weight
        )
    )


def perplexity(estimator, X, y, sample_weight=None) -> float:
    return math.exp(mean_log_loss(estimator, X, y, sample_weight))


def neg_log_loss(estimator, X, y, sample_weight=None) -> float:
    """scikit-learn's ``neg_log_loss``, but over the estimator's classes: a fold may lack some."""
    return -mean_log_loss(estimator, X, y, sample_weight)


def neg_perplexity(estimator, X, y, sample_weight=None) -> float:
    return -perplexity(estimator, X, y, sample_weight)


_OWN_SCORERS = {"neg_log_loss": neg_log_loss, "neg_perplexity": neg_perplexity}


class UserMetric:
    """The user's ``(y_true, y_pred) -> float``, pickled as its reference and resolved where
    it is called (a file's module is loaded once per process): a function from a file
    (``my_metrics.py:fn``) has no module pickle could import it from. Sample weights reach
    it when it takes a ``sample_weight`` parameter."""

    def __init__(self, reference: Any):
        self.reference = reference
        self.__name__ = reference_text(reference)  # how scikit-learn shows a scorer

    def __call__(self, y_true, y_pred, sample_weight=None) -> float:
        function = resolve_reference(self.reference, {}, kind="metric", where="search.metric")
        if sample_weight is not None and _takes_sample_weight(function):
            return float(function(y_true, y_pred, sample_weight=sample_weight))
        return float(function(y_true, y_pred))


def _takes_sample_weight(function) -> bool:
    try:
        parameters = inspect.signature(function).parameters
    except ValueError:
        return False
    return "sample_weight" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


def make_scorer(metric: Metric, y) -> Any:
    """``scorer(estimator, X, y, sample_weight=None)`` for ``metric`` (``y``: the study's
    target, for the multi-class form of ROC AUC)."""
    from sklearn.metrics import get_scorer
    from sklearn.metrics import make_scorer as sklearn_make_scorer

    if metric.scorer == USER_SCORER:
        return sklearn_make_scorer(
            UserMetric(metric.function),
            greater_is_better=metric.greater_is_better,
            response_method=metric.response,
        )
    name = metric.scorer
    if name in _OWN_SCORERS:
        return _OWN_SCORERS[name]
    if name == "roc_auc" and len(np.unique(y)) > 2:
        name = "roc_auc_ovr"
    return get_scorer(name)


def natural(metric: Metric, score: float) -> float:
    """A scorer's value in the metric's natural sign (an RMSE is positive)."""
    return -score if metric.negated else score
