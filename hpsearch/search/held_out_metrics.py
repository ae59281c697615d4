"""What a held-out test set says beyond the study's metric, per kind of data.

A classifier reports accuracy, balanced accuracy and macro-F1 side by side.
A forecast reports RMSE, MAE and directional accuracy (did the prediction move the same way
as the price, from the window's last value?); a language model reports perplexity (exp of
the mean negative log-likelihood of the actual next word).
"""

from __future__ import annotations

import numpy as np

from hpsearch.data import Dataset
from hpsearch.models.scoring import perplexity


def directional_accuracy(last, actual, predicted) -> float:
    """Share of samples where prediction and truth move the same way from the last value."""
    return float(np.mean(np.sign(predicted - last) == np.sign(actual - last)))


def forecast_table(dataset: Dataset, estimator) -> dict[str, list]:
    """Per test day: date, actual, predicted and the last known value (the baseline)."""
    predicted = np.asarray(estimator.predict(dataset.X_test), dtype="float64").reshape(-1)
    last = np.asarray(dataset.X_test, dtype="float64")[:, -1, dataset.forecast_feature]
    labels = dataset.test_labels or [str(i) for i in range(len(predicted))]
    return {
        "date": list(labels),
        "actual": np.asarray(dataset.y_test, dtype="float64").reshape(-1).tolist(),
        "predicted": predicted.tolist(),
        "last_value": last.tolist(),
    }


def extra_test_metrics(dataset: Dataset, estimator) -> dict[str, float]:
    """The kind's extra metrics on the test set; empty without a test set or a kind."""
    if not dataset.has_test:
        return {}
    if dataset.kind == "forecast":
        table = forecast_table(dataset, estimator)
        actual, predicted, last = (
            np.asarray(table[key]) for key in ("actual", "predicted", "last_value")
        )
        return {
            "rmse": float(np.sqrt(np.mean((predicted - actual) ** 2))),
            "mae": float(np.mean(np.abs(predicted - actual))),
            "directional_accuracy": directional_accuracy(last, actual, predicted),
        }
    if dataset.kind == "language_model":
        return {"perplexity": perplexity(estimator, dataset.X_test, dataset.y_test)}
    from sklearn.base import is_classifier

    if is_classifier(estimator):
        return class_balance_metrics(dataset.y_test, estimator.predict(dataset.X_test))
    return {}


def class_balance_metrics(y_true, y_pred) -> dict[str, float]:
    """Accuracy with the two scores that weigh every class alike: with one class at 61% of
    the rows (the GOP tweets), accuracy alone rewards predicting it everywhere."""
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "f1_macro": float(f1_score(y_true, y_pred, average="macro")),
    }
