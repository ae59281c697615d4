"""The ``training:`` section and the user's own metric: early stopping that stops a fit
which stops improving and scores its best epoch, class weights that help the minority
class, callbacks made once per fit (also in worker processes), a metric's direction, and
sample weights that weight the folds' scores the same way in both backends."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

import hpsearch
from conftest import UNLEARNING_BUILDER, mlflow_client, study_runs, write_study
from hpsearch.cli import main
from hpsearch.tracking.tracker import fold_values


def _trial_metrics(name: str) -> dict[int, dict[str, float]]:
    _, trials = study_runs(name)
    return {int(run.data.tags["hpsearch.trial"]): run.data.metrics for run in trials}


EARLY_STOPPING = """
name: {name}
task: classification
seed: 7
data: {{loader: digits, params: {{n_samples: 120, classes: 3}}}}
model: {{builder: "unlearning.py:build"}}
search:
  backend: grid
  cv: 2
  trials_per_process: 0
  space:
    units: 16
    epochs: {epochs}
    batch_size: 8
{training}
"""


def test_early_stopping_stops_a_fit_that_unlearns_and_scores_its_best_epoch(workdir):
    # The builder learns in its first epoch and unlearns after: without early stopping the
    # 10 epochs end far worse than they began.
    (workdir / "unlearning.py").write_text(UNLEARNING_BUILDER)
    stopping = "training: {early_stopping: {patience: 2, monitor: accuracy}}"
    write_study(
        workdir,
        EARLY_STOPPING.format(name="stop", epochs=10, training=stopping),
        "stop.yaml",
        plots=False,
    )
    assert main(["run", "stop.yaml", "--quiet"]) == 0
    (metrics,) = _trial_metrics("stop").values()
    best = fold_values(metrics, "best_epoch")
    stopped = fold_values(metrics, "stopped_epoch")
    assert len(best) == len(stopped) == 2
    assert all(s == b + 2 for s, b in zip(stopped, best, strict=True))  # patience 2
    assert max(stopped) < 10 and metrics["trained_epochs"] == sum(stopped)
    assert metrics["refit_epochs"] == int(np.floor(np.median(best) + 0.5))

    # The fold scores are those of fits trained exactly the best epochs: the weights
    # restored are the best epoch's (the same seed trains the same first epochs).
    assert len(set(best)) == 1, f"the folds chose different epochs: {best}"
    write_study(
        workdir,
        EARLY_STOPPING.format(name="plain", epochs=int(best[0]), training=""),
        "plain.yaml",
        plots=False,
    )
    assert main(["run", "plain.yaml", "--quiet"]) == 0
    (plain,) = _trial_metrics("plain").values()
    assert fold_values(metrics, "cv_score") == pytest.approx(fold_values(plain, "cv_score"))
    assert "best_epoch_fold_0" not in plain

    # Without early stopping, all 10 epochs: worse than the best epoch.
    write_study(
        workdir, EARLY_STOPPING.format(name="ten", epochs=10, training=""), "ten.yaml", plots=False
    )
    assert main(["run", "ten.yaml", "--quiet"]) == 0
    (ten,) = _trial_metrics("ten").values()
    assert ten["trained_epochs"] == 20
    assert metrics["cv_score"] > ten["cv_score"]

    # The refit, with no held-out rows to stop on, trained the epochs the folds chose.
    parent, _ = study_runs("stop")
    folder = mlflow_client().download_artifacts(parent.info.run_id, "best_model", str(workdir))
    facts = json.loads((Path(folder) / "estimator.json").read_text())
    assert facts["params"]["epochs"] == metrics["refit_epochs"]


IMBALANCED = """
import numpy as np


def load(n=400):
    \"\"\"Two classes, about 1 in 12 the minority, whose rows are shifted but overlap.\"\"\"
    rng = np.random.default_rng(0)
    y = (rng.random(n) < 0.08).astype(int)
    X = rng.normal(size=(n, 6)) + 0.8 * y[:, None]
    return X.astype("float32"), np.where(y == 1, "rare", "common")
"""


def test_balanced_class_weights_raise_balanced_accuracy_in_one_grid(workdir):
    (workdir / "imbalanced.py").write_text(IMBALANCED)
    write_study(
        workdir,
        """
        name: weights
        task: classification
        seed: 1
        data: {loader: "imbalanced.py:load"}
        model: {builder: dense}
        search:
          backend: grid
          cv: 2
          metric: balanced_accuracy
          trials_per_process: 0
          space:
            units: 8
            epochs: 10
            learning_rate: 0.01
            batch_size: 32
            class_weight: [none, balanced]
        """,
        plots=False,
    )
    assert main(["run", "study.yaml", "--quiet"]) == 0
    _, trials = study_runs("weights")
    score = {run.data.params["class_weight"]: run.data.metrics["cv_score"] for run in trials}
    assert score["balanced"] > score["none"] + 0.1, score


CALLBACKS = """
import itertools
import os

import keras


MADE = itertools.count()


class Note(keras.callbacks.Callback):
    \"\"\"Writes one line per fit it sees, with its own number: a reused callback repeats it.\"\"\"

    def __init__(self):
        super().__init__()
        self.number = next(MADE)
        self.fits = 0

    def on_train_begin(self, logs=None):
        self.fits += 1
        with open("notes.txt", "a") as notes:  # workers run in the study's folder
            notes.write(f"{os.getpid()}-{self.number} {self.fits}\\n")

    def on_epoch_end(self, epoch, logs=None):
        assert "val_loss" in logs or "val_loss" not in self.params, logs


def make_note():
    return Note()
"""


def test_a_user_callback_is_made_once_per_fit_in_worker_processes(workdir):
    (workdir / "my_callbacks.py").write_text(CALLBACKS)
    notes = workdir / "notes.txt"
    write_study(
        workdir,
        """
        name: callbacks
        task: classification
        seed: 2
        data: {loader: digits, params: {n_samples: 90, classes: 3}}
        model: {builder: dense}
        search:
          backend: grid
          cv: 2
          space:
            units: [3, 5]
            epochs: [1, 2]
            batch_size: 32
        training:
          callbacks: ["my_callbacks.py:make_note"]
        """,
        plots=False,
    )
    assert main(["run", "study.yaml", "--quiet"]) == 0  # in a worker process
    lines = notes.read_text().split()
    callers, counts = lines[0::2], lines[1::2]
    # 4 candidates x 2 folds, and the refit: 9 fits, none sharing epochs, each its own callback.
    assert len(callers) == 9 and len(set(callers)) == 9
    assert set(counts) == {"1"}
    _, trials = study_runs("callbacks")
    for run in trials:  # every epoch of every fold trained: none taken from a longer fit
        assert run.data.metrics["trained_epochs"] == 2 * int(run.data.params["epochs"])


METRICS_FILE = """
import numpy as np


def error_rate(y_true, y_pred):
    return float(np.mean(np.asarray(y_true) != np.asarray(y_pred)))


def brier(y_true, y_pred):
    \"\"\"Squared error of the probability of the positive class: y_pred must be one.\"\"\"
    y_pred = np.asarray(y_pred, dtype=float)
    assert y_pred.ndim == 1 and np.all((0 <= y_pred) & (y_pred <= 1)), y_pred
    return float(np.mean((y_pred - (np.asarray(y_true) == 1)) ** 2))
"""

USER_METRIC = """
name: {name}
task: classification
seed: 3
data: {{loader: digits, params: {{n_samples: 120, classes: {classes}}}}}
model: {{builder: dense}}
search:
  backend: grid
  cv: 2
  trials_per_process: {per_process}
  metric: "my_metrics.py:{metric}"
  direction: {direction}
{extra}
  space:
    units: [2, 8]
    epochs: 3
    batch_size: 16
"""


@pytest.mark.parametrize(
    ("metric", "direction", "classes", "extra"),
    [
        ("error_rate", "minimize", 3, ""),
        ("brier", "minimize", 2, "  metric_input: predict_proba"),
    ],
)
def test_a_user_metric_is_scored_in_its_own_direction(workdir, metric, direction, classes, extra):
    (workdir / "my_metrics.py").write_text(METRICS_FILE)
    text = USER_METRIC.format(
        name=metric, metric=metric, direction=direction, classes=classes, extra=extra, per_process=0
    )
    write_study(workdir, text, plots=False)
    assert main(["run", "study.yaml", "--quiet"]) == 0
    parent, trials = study_runs(metric)
    scores = {int(run.data.tags["hpsearch.trial"]): run.data.metrics["cv_score"] for run in trials}
    assert all(0 <= s <= 1 for s in scores.values())  # the metric's own sign, not negated
    assert len(set(scores.values())) == 2, scores
    best = min(scores, key=scores.get)  # to minimise: the lower is the best
    result = hpsearch.load_results(metric)
    assert result.best_trial == best and result.best_score == pytest.approx(scores[best])
    assert parent.data.tags["hpsearch.metric"] == metric


def test_a_maximised_user_metric_picks_the_highest(workdir):
    (workdir / "my_metrics.py").write_text(METRICS_FILE)
    text = USER_METRIC.format(  # in a worker process: the metric goes as its reference
        name="rate-up",
        metric="error_rate",
        direction="maximize",
        classes=3,
        extra="",
        per_process=5,
    )
    write_study(workdir, text, plots=False)
    assert main(["run", "study.yaml", "--quiet"]) == 0
    _, trials = study_runs("rate-up")
    scores = {int(run.data.tags["hpsearch.trial"]): run.data.metrics["cv_score"] for run in trials}
    assert hpsearch.load_results("rate-up").best_trial == max(scores, key=scores.get)


WEIGHTED = """
import numpy as np

from hpsearch.data import Dataset
from hpsearch.data.digits import load_digits_sequences


def load():
    X, y = load_digits_sequences(n_samples=120, classes=3)
    weights = np.where(np.arange(len(y)) % 3 == 0, 0.0, 1.0)
    weights[y == 2] *= 4.0
    return Dataset(X, y, sample_weight=weights)
"""


def test_sample_weights_weight_training_and_scoring_alike_in_both_backends(workdir):
    from sklearn.dummy import DummyClassifier
    from sklearn.metrics import accuracy_score

    from hpsearch.data import load_dataset
    from hpsearch.search.evaluation import CrossValidation
    from hpsearch.search.trainer import evaluate_fold, grid_results
    from hpsearch.study import load_study

    (workdir / "weighted.py").write_text(WEIGHTED)
    path = write_study(
        workdir,
        """
        name: weighted
        task: classification
        seed: 5
        data: {loader: "weighted.py:load"}
        model: {builder: dense}
        search:
          backend: grid
          cv: 2
          trials_per_process: 0
          space: {units: 4, epochs: 2, batch_size: 16}
        """,
        plots=False,
    )
    study = load_study(path)
    dataset = load_dataset(study)
    cv = CrossValidation(study, dataset, "dense", {}, workdir / "records")
    params = {"units": 4, "epochs": 2, "batch_size": 16}
    optuna_way = [evaluate_fold(cv, params, fold).score for fold in range(2)]
    grid_way = grid_results(cv, [params], n_jobs=1)
    assert [grid_way[f"split{k}_test_score"][0] for k in range(2)] == pytest.approx(optuna_way)

    # By hand: fitted with the training rows' weights, scored with the held-out rows'.
    train, test = cv.splits[0]
    estimator = cv.estimator(params).fit(
        dataset.X[train], dataset.y[train], sample_weight=dataset.sample_weight[train]
    )
    predicted = estimator.predict(dataset.X[test])
    weighted = accuracy_score(dataset.y[test], predicted, sample_weight=dataset.sample_weight[test])
    assert optuna_way[0] == pytest.approx(weighted)
    assert weighted != pytest.approx(accuracy_score(dataset.y[test], predicted))

    # The study runs, its baseline weighted as its trials are.
    assert main(["run", "study.yaml", "--quiet"]) == 0
    parent, (trial,) = study_runs("weighted")
    assert trial.data.metrics["cv_score"] == pytest.approx(np.mean(optuna_way))
    majority = []
    for train, test in cv.splits:
        dummy = DummyClassifier().fit(
            dataset.X[train], dataset.y[train], sample_weight=dataset.sample_weight[train]
        )
        majority.append(dummy.score(dataset.X[test], dataset.y[test], dataset.sample_weight[test]))
    assert parent.data.metrics["baseline_score"] == pytest.approx(np.mean(majority))


@pytest.mark.parametrize(
    ("training", "search", "message"),
    [
        ("", "metric: my_metrics.py:error_rate", "search.direction: a metric of your own needs"),
        ("", "metric_input: predict_proba", "search.metric_input: applies to a metric of your own"),
        (
            "training: {early_stopping: {monitor: rmse}}",
            "",
            "training.early_stopping.monitor: unknown 'rmse'",
        ),
        ("training: {early_stopping: {patience: -1}}", "", "training.early_stopping.patience"),
        ("training: {class_weight: {}}", "", "training.class_weight"),
        (
            "",
            "space: {units: 4, callbacks: [a]}",
            "search.space.callbacks: 'callbacks' belongs in the training section",
        ),
        (
            "training: {callbacks: [my_callbacks.py:needs_arguments]}",
            "",
            "training.callbacks.0: my_callbacks.py:needs_arguments must be callable with no",
        ),
        (
            "training: {callbacks: [my_callbacks.py:absent]}",
            "",
            "training.callbacks.0",
        ),
        (
            "",
            "metric: my_metrics.py:one_argument\n  direction: maximize",
            "search.metric: my_metrics.py:one_argument must take (y_true, y_pred)",
        ),
    ],
)
def test_training_mistakes_are_one_line_errors(workdir, capsys, training, search, message):
    (workdir / "my_metrics.py").write_text(
        METRICS_FILE + "\n\ndef one_argument(y):\n    return 0.0\n"
    )
    (workdir / "my_callbacks.py").write_text("def needs_arguments(factor):\n    return None\n")
    text = textwrap.dedent(
        """
        name: mistakes
        task: classification
        data: {loader: digits}
        model: {builder: dense}
        search:
          backend: grid
        """
    )
    if "space:" not in search:
        text = text.rstrip("\n") + "\n  space: {units: 4}\n"
    if search:
        text = text.rstrip("\n") + "\n  " + search + "\n"
    write_study(workdir, text + training + "\n")
    assert main(["validate", "study.yaml"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err


def test_class_weights_are_for_classification_only(workdir, capsys):
    write_study(
        workdir,
        """
        name: regression-weights
        task: regression
        data: {loader: digits}
        model: {builder: dense}
        training: {class_weight: balanced}
        """,
    )
    assert main(["validate", "study.yaml"]) == 2
    assert "training.class_weight: class weights apply to classification only" in (
        capsys.readouterr().err
    )


def test_early_stopping_switches_off_shared_epochs_with_its_reason(workdir, capsys):
    write_study(
        workdir,
        """
        name: sharing
        task: classification
        data: {loader: digits}
        model: {builder: dense}
        search:
          share_epochs: true
          space: {epochs: [2, 4]}
        training: {early_stopping: {patience: 1}}
        """,
    )
    assert main(["validate", "study.yaml"]) == 2
    assert "does not combine with training.early_stopping" in capsys.readouterr().err


def test_early_stopping_composes_with_pruning_in_an_optuna_study(workdir):
    (workdir / "unlearning.py").write_text(UNLEARNING_BUILDER)
    write_study(
        workdir,
        """
        name: stop-and-prune
        task: classification
        seed: 7
        data: {loader: digits, params: {n_samples: 120, classes: 3}}
        model: {builder: "unlearning.py:build"}
        search:
          backend: optuna
          n_trials: 4
          sampler: random
          pruner: hyperband
          cv: 2
          trials_per_process: 0
          space:
            units: [8, 16]
            epochs: {low: 2, high: 6}
            batch_size: 8
        training:
          early_stopping: {patience: 1, monitor: accuracy}
        """,
        plots=False,
    )
    assert main(["run", "study.yaml", "--quiet"]) == 0
    _, trials = study_runs("stop-and-prune")
    # epochs are hyperband's budget: not drawn, every trial may train 6
    assert {run.data.params["epochs"] for run in trials} == {"6"}
    complete = [run for run in trials if run.data.tags["hpsearch.state"] == "COMPLETE"]
    assert complete
    for run in complete:  # each fold stopped, one epoch after its best
        metrics = run.data.metrics
        stopped = fold_values(metrics, "stopped_epoch")
        best = fold_values(metrics, "best_epoch")
        assert len(stopped) == 2 and all(s == b + 1 < 6 for s, b in zip(stopped, best, strict=True))
        assert metrics["trained_epochs"] == sum(stopped)
    for run in trials:
        if run.data.tags["hpsearch.state"] == "PRUNED":  # stopped at once, its folds untrained
            assert "best_epoch_fold_1" not in run.data.metrics
            assert run.data.metrics["trained_epochs"] >= 2  # not pruned before the bottom
