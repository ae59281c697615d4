"""The trivial baselines and the test set's extra metrics, on numbers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier

from hpsearch.data import Dataset
from hpsearch.models.scoring import neg_log_loss, perplexity
from hpsearch.search.baseline import LastValueRegressor, baseline_description, baseline_estimator
from hpsearch.search.held_out_metrics import directional_accuracy, extra_test_metrics


def test_last_value_regressor_repeats_the_windows_last_value_of_its_feature():
    windows = np.arange(24, dtype="float32").reshape(2, 3, 4)  # 2 windows, 3 steps, 4 features
    assert LastValueRegressor(feature=2).fit(windows, [0, 0]).predict(windows).tolist() == [
        10.0,
        22.0,
    ]


def test_directional_accuracy_compares_moves_from_the_last_value():
    last = np.array([10.0, 10.0, 10.0, 10.0])
    actual = np.array([11.0, 9.0, 12.0, 8.0])
    predicted = np.array([10.5, 9.5, 9.0, 11.0])  # right, right, wrong, wrong
    assert directional_accuracy(last, actual, predicted) == 0.5


def test_unigram_perplexity_is_the_exponent_of_the_cross_entropy_of_word_frequencies():
    y_train = np.array(["the"] * 6 + ["cat"] * 3 + ["<unk>"] * 1, dtype=object)
    X_train = np.zeros((10, 1))
    unigram = DummyClassifier(strategy="prior").fit(X_train, y_train)
    y_test = np.array(["the", "cat"], dtype=object)
    expected = math.exp(-(math.log(0.6) + math.log(0.3)) / 2)
    assert perplexity(unigram, np.zeros((2, 1)), y_test) == pytest.approx(expected)
    # A fold whose targets miss some training classes still scores (labels = classes_).
    assert neg_log_loss(unigram, np.zeros((1, 1)), np.array(["cat"])) == pytest.approx(
        math.log(0.3)
    )


def test_forecast_metrics_and_the_baselines_per_kind():
    windows = np.array([[[1.0], [2.0]], [[2.0], [4.0]]])
    forecast = Dataset(
        X=windows,
        y=np.array([3.0, 3.0]),
        X_test=windows,
        y_test=np.array([3.0, 3.0]),
        kind="forecast",
        forecast_feature=0,
    )
    last_value = baseline_estimator(forecast, "regression").fit(forecast.X, forecast.y)
    metrics = extra_test_metrics(forecast, last_value)
    assert metrics["mae"] == pytest.approx(1.0)  # |2 - 3| and |4 - 3|
    assert metrics["rmse"] == pytest.approx(1.0)
    assert baseline_description(forecast, "regression") == "last value"
    plain = Dataset(X=windows, y=np.array([0, 1]))
    assert baseline_description(plain, "classification") == "majority class"
    assert baseline_description(plain, "regression") == "training mean"
    assert extra_test_metrics(plain, last_value) == {}


def test_a_classifier_reports_balanced_accuracy_and_macro_f1_beside_accuracy():
    from sklearn.dummy import DummyClassifier

    y = np.array(["common"] * 6 + ["rare"] * 2)
    imbalanced = Dataset(X=np.zeros((8, 1)), y=y, X_test=np.zeros((8, 1)), y_test=y)
    majority = DummyClassifier(strategy="most_frequent").fit(imbalanced.X, imbalanced.y)
    metrics = extra_test_metrics(imbalanced, majority)
    assert metrics["accuracy"] == pytest.approx(0.75)
    assert metrics["balanced_accuracy"] == pytest.approx(0.5)
    assert metrics["f1_macro"] == pytest.approx((6 / 7 + 0) / 2)
