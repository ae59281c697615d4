"""A trial's candidate refitted on all training data and kept in MLflow for ``export``.

One path for every refit: ``run`` refits its best trial (kept on the parent run, where
``export NAME`` finds it), and ``export NAME --trial N`` any other complete trial (kept on
that trial's own run). Both fit in the trainer's worker, seeded from the study's seed as
every fit is, so the same trial refits to the same model whichever command asked.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hpsearch.study import Study
from hpsearch.tracking.names import REFIT_TAG
from hpsearch.tracking.tracker import StudyTracker, TrialRecord

# On a trial's own run: its refitted model (the best trial's is on the parent run).
TRIAL_MODEL_DIR = "refit_model"


def refit_trial(
    study: Study, tracker: StudyTracker, trainer, trial: TrialRecord, *, best: bool
) -> dict[str, float]:
    """Fit ``trial``'s candidate on all training data; keep it for export; score the test set.

    ``best``: the study's best trial, kept on the parent run (``best_model/``) with the test
    metrics and forecast there; otherwise kept on the trial's run (``refit_model/``, its
    test metrics as that run's). Returns the test metrics (``test_score`` and the data
    kind's extras). Skipped when the model of this very trial is kept already (a resumed
    study whose best did not change, a trial exported before).
    """
    if best and tracker.model_trial_run_id() == trial.run_id:
        return _test_metrics(tracker.parent_run().data.metrics)
    kept = None if best else refitted_test_metrics(tracker, trial)
    if kept is not None:
        return kept
    params = refit_params(trial)
    with tempfile.TemporaryDirectory(prefix="hpsearch-model-") as folder:
        folder = Path(folder)
        refitted = trainer.refit(params, folder)
        facts = {
            "trial_run_id": trial.run_id,
            "trial": trial.number,
            "params": params,
            **refitted.facts,
            "task": study.task,
        }
        (folder / "estimator.json").write_text(json.dumps(facts, indent=2, default=str))
        if best:
            tracker.log_model(folder, trial)
        else:
            tracker.client.log_artifacts(trial.run_id, str(folder), TRIAL_MODEL_DIR)
    if best:
        if refitted.forecast is not None:
            _log_forecast(study, tracker, refitted.forecast)
    else:
        _log_on_trial(tracker, trial.run_id, refitted.test_metrics)
    return refitted.test_metrics


def refit_params(trial: TrialRecord) -> dict:
    """The trial's parameters for a fit on all training rows: under early stopping, with
    the epochs its folds chose (``refit_epochs``: no held-out rows stop the refit)."""
    params = dict(trial.params)
    refit_epochs = trial.metrics.get("refit_epochs")
    if refit_epochs is not None:
        params["epochs"] = int(refit_epochs)
    return params


def refitted_test_metrics(tracker: StudyTracker, trial: TrialRecord) -> dict[str, float] | None:
    """The test metrics of ``trial``'s refitted model, where one is kept already (as the
    study's best, or on the trial's run); None when it has not been refitted."""
    if tracker.model_trial_run_id() == trial.run_id:
        return _test_metrics(tracker.parent_run().data.metrics)
    run = tracker.client.get_run(trial.run_id)
    if run.data.tags.get(REFIT_TAG) == "true":
        return _test_metrics(run.data.metrics)
    return None


def download_refitted(tracker: StudyTracker, trial: TrialRecord, destination: Path) -> Path:
    """The folder ``refit_trial`` kept for ``trial`` (on the parent run for the model the
    study refitted as its best), downloaded into ``destination``."""
    if tracker.model_trial_run_id() == trial.run_id:
        return tracker.download_model(destination)
    return Path(tracker.client.download_artifacts(trial.run_id, TRIAL_MODEL_DIR, str(destination)))


def _test_metrics(metrics: dict[str, float]) -> dict[str, float]:
    return {name: value for name, value in metrics.items() if name.startswith("test_")}


def _log_on_trial(tracker: StudyTracker, run_id: str, test_metrics: dict[str, float]) -> None:
    """The refit's test metrics on the trial's run, and the tag saying its model is there."""
    import time

    from mlflow.entities import Metric, RunTag

    now = int(time.time() * 1000)
    tracker.client.log_batch(
        run_id,
        metrics=[Metric(name, float(value), now, 0) for name, value in test_metrics.items()],
        tags=[RunTag(REFIT_TAG, "true")],
    )


def _log_forecast(study: Study, tracker: StudyTracker, table: dict[str, list]) -> None:
    """The test period predicted day by day: a CSV and a plot on the parent run."""
    import pandas as pd

    from hpsearch.results.forecast_plot import forecast_plot

    with tempfile.TemporaryDirectory(prefix="hpsearch-forecast-") as folder:
        csv_path = Path(folder) / "forecast_test.csv"
        pd.DataFrame(table).to_csv(csv_path, index=False)
        tracker.log_study_artifact(csv_path)
        title = f"{study.name}: test period, best model refitted on all training data"
        tracker.log_study_artifact(forecast_plot(table, title, Path(folder) / "forecast_test.png"))
