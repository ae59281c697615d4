"""The metrics a study can optimise: which task they fit, their direction, their scorer.

A plain table, so that the schema can check a study without importing scikit-learn.
Scores are reported in the metric's natural sign (an RMSE is positive); scikit-learn's
``neg_*`` scorers are negated back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

USER_SCORER = "<user>"  # ``Metric.scorer`` of a metric the user's own function computes


@dataclass(frozen=True)
class Metric:
    name: str
    task: str  # "classification" | "regression"
    greater_is_better: bool
    scorer: str  # scikit-learn scorer name, or USER_SCORER
    # The user's function ``(y_true, y_pred) -> float``: a reference any process resolves
    # (or, trained in this process, the function), and the estimator's method giving y_pred.
    function: Any = None
    response: str = "predict"

    @property
    def direction(self) -> str:
        return "maximize" if self.greater_is_better else "minimize"

    @property
    def negated(self) -> bool:
        """True when the scikit-learn scorer returns the negative of the metric (scikit-learn's
        ``make_scorer`` negates a user's metric that is to be minimised)."""
        if self.scorer == USER_SCORER:
            return not self.greater_is_better
        return self.scorer.startswith("neg_")


def user_metric(function: Any, *, task: str, greater_is_better: bool, response: str) -> Metric:
    """The user's own metric, named after its function (``my_metrics.py:macro_recall`` is
    ``macro_recall``: the name its scores carry in MLflow and the leaderboard)."""
    text = function if isinstance(function, str) else getattr(function, "__name__", "metric")
    name = text.rpartition(":")[2] or "metric"
    if name == "<lambda>":
        name = "metric"
    return Metric(name, task, greater_is_better, USER_SCORER, function, response)


def _metrics(*rows: tuple[str, str, bool, str]) -> dict[str, Metric]:
    return {name: Metric(name, task, better, scorer) for name, task, better, scorer in rows}


METRICS: dict[str, Metric] = _metrics(
    ("accuracy", "classification", True, "accuracy"),
    ("balanced_accuracy", "classification", True, "balanced_accuracy"),
    ("f1", "classification", True, "f1"),
    ("f1_macro", "classification", True, "f1_macro"),
    ("f1_weighted", "classification", True, "f1_weighted"),
    ("precision_macro", "classification", True, "precision_macro"),
    ("recall_macro", "classification", True, "recall_macro"),
    ("roc_auc", "classification", True, "roc_auc"),  # one-vs-rest when multi-class
    ("log_loss", "classification", False, "neg_log_loss"),
    ("perplexity", "classification", False, "neg_perplexity"),  # exp(log_loss): language models
    ("rmse", "regression", False, "neg_root_mean_squared_error"),
    ("mse", "regression", False, "neg_mean_squared_error"),
    ("mae", "regression", False, "neg_mean_absolute_error"),
    ("mape", "regression", False, "neg_mean_absolute_percentage_error"),
    ("r2", "regression", True, "r2"),
    ("explained_variance", "regression", True, "explained_variance"),
)

DEFAULT_METRIC = {"classification": "accuracy", "regression": "rmse"}

# Objectives that may follow the metric in a multi-objective study
# (``metric: [accuracy, n_params]``): facts of the trained model, always to minimise.
SECONDARY_OBJECTIVES = {
    # Trainable and non-trainable weights of the model (Keras's count_params()).
    "n_params": "number of model parameters",
    # Milliseconds per row for the model to predict the first fold's validation rows,
    # timed after a first (tracing) call.
    "predict_ms": "milliseconds per predicted row",
}
