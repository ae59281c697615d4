"""The metrics a study can optimise: which task they fit, their direction, their scorer.

A plain table, so that the schema can check a study without importing scikit-learn.
Scores are reported in the metric's natural sign (an RMSE is positive); scikit-learn's
``neg_*`` scorers are negated back.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    name: str
    task: str  # "classification" | "regression"
    greater_is_better: bool
    scorer: str  # scikit-learn scorer name

    @property
    def direction(self) -> str:
        return "maximize" if self.greater_is_better else "minimize"

    @property
    def negated(self) -> bool:
        """True when the scikit-learn scorer returns the negative of the metric."""
        return self.scorer.startswith("neg_")


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
