"""One tiny study of each task kind on the real shipped data, run for real end to end.

Forecasting (stock prices, time-ordered folds), next-word prediction (Frankenstein,
perplexity), and raw-text classification (IMDB, binary; exported model takes strings).
Each keeps the data and the network small: seconds per study.
"""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from conftest import mlflow_client, study_runs, write_study
from hpsearch.cli import main
from hpsearch.data import load_dataset
from hpsearch.search.evaluation import make_splitter
from hpsearch.study import load_study

STOCK = """
name: tiny-stock
task: regression
seed: 1
data:
  loader: stock_prices
  params: {ticker: AMZN, window: 10, train_start: "2018-03-01"}
model:
  builder: lstm
  params: {normalize: true, residual: true}
search:
  backend: grid
  cv: {timeseries: 2}
  space:
    units: 4
    epochs: 3
    batch_size: 32
"""


def _parent_metrics(name: str) -> dict[str, float]:
    parent, _ = study_runs(name)
    return parent.data.metrics, parent


@pytest.mark.slow
def test_forecast_study_reports_baseline_mae_direction_and_a_plot(workdir, capsys):
    path = write_study(workdir, STOCK, plots=False)
    study = load_study(path)
    dataset = load_dataset(study)
    for train, validation in make_splitter(study).split(dataset.X, dataset.y):
        assert train.max() < validation.min()  # validation always after training, no shuffle

    assert main(["run", str(path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "baseline (last value): rmse" in out and "directional_accuracy" in out

    metrics, parent = _parent_metrics("tiny-stock")
    assert parent.data.tags["hpsearch.baseline"] == "last value"
    for name in ("baseline_score", "baseline_test_score", "baseline_test_mae", "test_mae"):
        assert metrics[name] > 0
    assert metrics["test_score"] == pytest.approx(metrics["test_rmse"])
    assert 0.0 <= metrics["test_directional_accuracy"] <= 1.0
    # The last-value baseline is exactly computable from the data: check the logged number.
    last = dataset.X_test[:, -1, dataset.forecast_feature].astype("float64")
    expected = math.sqrt(np.mean((last - dataset.y_test.astype("float64")) ** 2))
    assert metrics["baseline_test_score"] == pytest.approx(expected, rel=1e-6)

    client = mlflow_client()
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"forecast_test.png", "forecast_test.csv"} <= artifacts
    table = client.download_artifacts(parent.info.run_id, "forecast_test.csv", str(workdir))
    with open(table) as handle:
        rows = list(csv.DictReader(handle))
    assert [row["date"] for row in rows] == dataset.test_labels
    assert len(rows) == 21 and rows[0]["date"] == "2019-01-02"
    predicted = np.array([float(row["predicted"]) for row in rows])
    assert 1000 < predicted.mean() < 2500  # dollars: the target scaling was undone

    # Exported, the model takes a window of prices: given the series of closing prices,
    # predict answers for every complete window, as the run's forecast of the test days.
    assert main(["export", str(path), "--out", str(workdir / "out")]) == 0
    assert dataset.X_test.shape[2] == 1  # one feature: the closing price
    series = np.concatenate([dataset.X_test[0, :, 0], dataset.y_test[:-1]])
    (workdir / "closes.csv").write_text("Close\n" + "\n".join(f"{v:.6f}" for v in series))
    capsys.readouterr()
    assert main(["predict", str(workdir / "out"), str(workdir / "closes.csv")]) == 0
    answers = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert len(answers) == 21 and answers[0]["row"] == "11"  # header + the first window
    served = np.array([float(row["prediction"]) for row in answers])
    np.testing.assert_allclose(served, predicted, rtol=1e-4)


def test_language_model_study_beats_nothing_it_cannot_and_logs_perplexity(workdir, capsys):
    path = write_study(
        workdir,
        """
        name: tiny-lm
        task: classification
        seed: 1
        data:
          loader: text_corpus
          params: {window: 3, vocab_size: 40, max_words: 4000}
        model:
          builder: gru
        search:
          backend: grid
          cv: {holdout: 0.25}
          metric: perplexity
          space:
            units: 8
            embedding_dim: 8
            epochs: 2
            batch_size: 64
        """,
        plots=False,
    )
    assert main(["run", str(path), "--quiet"]) == 0
    assert "baseline (unigram model): perplexity" in capsys.readouterr().out
    metrics, parent = _parent_metrics("tiny-lm")
    assert parent.data.tags["hpsearch.direction"] == "minimize"
    assert metrics["test_score"] == pytest.approx(metrics["test_perplexity"])
    # A perplexity is at least 1 and, for a model that knows the word frequencies, at most
    # the number of classes (40 words: 39 + <unk>).
    for name in ("best_score", "test_perplexity", "baseline_score", "baseline_test_perplexity"):
        assert 1.0 < metrics[name] < 40.0


@pytest.mark.slow
def test_raw_text_study_exports_a_model_that_takes_strings(workdir, capsys):
    path = write_study(
        workdir,
        """
        name: tiny-imdb
        task: classification
        seed: 1
        data:
          loader: imdb
          params: {n_train: 120, n_test: 40, maxlen: 30, num_words: 500}
        model:
          builder: lstm
          params: {pooling: max}  # the full study's model: no mask past the pooling
        search:
          backend: grid
          cv: 2
          space:
            units: 4
            embedding_dim: 8
            epochs: 1
            batch_size: 32
        """,
        plots=False,
    )
    assert main(["run", str(path), "--quiet"]) == 0
    metrics, parent = _parent_metrics("tiny-imdb")
    assert parent.data.tags["hpsearch.baseline"] == "majority class"
    assert metrics["baseline_score"] == pytest.approx(0.5)  # the subset is balanced
    assert 0.0 <= metrics["test_score"] <= 1.0

    assert main(["export", str(path), "--out", str(workdir / "out")]) == 0
    import keras
    import tensorflow as tf

    model = keras.saving.load_model(workdir / "out" / "model.keras", safe_mode=True)
    reviews = tf.constant([["a wonderful film, moving and funny"], ["dull, awful, a waste"]])
    probabilities = model.predict(reviews, verbose=0)
    assert probabilities.shape == (2, 1) and np.all((0 <= probabilities) & (probabilities <= 1))
    serving = tf.saved_model.load(str(workdir / "out" / "saved_model"))
    np.testing.assert_allclose(serving.serve(reviews).numpy(), probabilities, rtol=1e-5)
    card = json.loads((workdir / "out" / "model_card.json").read_text())
    assert card["data"]["classes"] == ["negative", "positive"]

    # predict takes raw text lines (blank lines skipped) and names each answer's line.
    (workdir / "reviews.txt").write_text(
        "a wonderful film, moving and funny\n\ndull, awful, a waste\n"
    )
    capsys.readouterr()
    assert (
        main(["predict", str(workdir / "out"), str(workdir / "reviews.txt"), "--format", "json"])
        == 0
    )
    answers = json.loads(capsys.readouterr().out)
    assert [a["row"] for a in answers] == [1, 3]
    np.testing.assert_allclose(
        [a["probability_positive"] for a in answers], probabilities[:, 0], rtol=1e-5
    )
    assert [a["label"] for a in answers] == [
        "positive" if p > 0.5 else "negative" for p in probabilities[:, 0]
    ]
    assert card["baseline"] == "majority class" and "baseline_score" in card["study_metrics"]
