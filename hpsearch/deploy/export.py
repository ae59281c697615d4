"""``hpsearch export``: the best trial's model, ready to deploy, and registered in MLflow.

Writes into the output folder (SPEC "Export"):

- ``model.keras``: the Keras model, loadable with ``keras.saving.load_model`` in safe mode;
- ``saved_model/``: a TensorFlow SavedModel for TF Serving;
- ``mlflow_model/``: an MLflow model (signature and input example) for ``mlflow models serve``
  and ``hpsearch predict``, answering with class labels and probabilities (or values);
- ``model_card.json``: study, metric, scores, parameters, run ids, data and versions.

The best trial's model is the one ``run`` refitted on all training data: exporting it
trains nothing. Another complete trial (``--trial N``) is refitted the same way first
(``hpsearch.deploy.refit``) and kept on its run, so that it trains once. The MLflow model
is also logged on the trial's run and registered under the study's name: the best one's
version with the alias ``champion``, another's with the alias asked for, if any.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpsearch.errors import UserError
from hpsearch.tracking.names import (
    BASELINE_TAG,
    BEST_RUN_TAG,
    DATA_TAG,
    DIRECTION_TAG,
    METRIC_TAG,
    STUDY_TAG,
)
from hpsearch.tracking.provenance import GIT_COMMIT_TAG, package_versions
from hpsearch.tracking.tracker import StudyTracker

CHAMPION_ALIAS = "champion"
# What the served model needs to know of its data (``hpsearch.deploy.serving_model``).
SERVING_FACTS = ("classes", "target_type", "input_shape", "input_dtype")


@dataclass
class ExportResult:
    out_dir: Path
    model_name: str
    model_version: str
    card: dict[str, Any]


def export_model(
    study_name: str,
    tracking_uri: str,
    out_dir: Path,
    *,
    number: int | None = None,
    run_id: str | None = None,
    alias: str | None = None,
) -> ExportResult:
    """``hpsearch export``: the best trial's model (alias ``champion`` unless another is
    given), or with ``number`` or ``run_id`` that trial's (no alias unless given)."""
    if number is None and run_id is None:
        return export_best(study_name, tracking_uri, out_dir, alias=alias or CHAMPION_ALIAS)
    return export_trial(
        study_name, tracking_uri, out_dir, number=number, run_id=run_id, alias=alias
    )


def export_best(
    study_name: str, tracking_uri: str, out_dir: Path, *, alias: str | None = CHAMPION_ALIAS
) -> ExportResult:
    """The model ``run`` refitted for the study's best trial; its version gets ``alias``."""
    tracker = StudyTracker.find(study_name, tracking_uri)
    parent = tracker.parent_run()
    best_run_id = parent.data.tags.get(BEST_RUN_TAG)
    if not best_run_id or tracker.model_trial_run_id() is None:
        raise UserError(f"{study_name}: no completed trial to export yet (run the study first)")
    _check_out_dir(out_dir)
    test_metrics = {k: v for k, v in parent.data.metrics.items() if k.startswith("test_")}
    return _export(tracker, best_run_id, tracker.download_model, out_dir, alias, test_metrics)


def export_trial(
    study_name: str,
    tracking_uri: str,
    out_dir: Path,
    *,
    number: int | None = None,
    run_id: str | None = None,
    alias: str | None = None,
) -> ExportResult:
    """Any complete trial (by ``number`` or ``run_id``), refitted on all training data as
    ``run`` refits the best (``hpsearch.deploy.refit``), written as ``export_best`` writes
    and registered as a version of its own; ``alias`` (none by default: the champion stays
    where it is) goes to that version."""
    from hpsearch.deploy.refit import download_refitted, refit_trial, refitted_test_metrics
    from hpsearch.tracking.study_record import find_trial

    tracker = StudyTracker.find(study_name, tracking_uri)
    trial = find_trial(tracker, number=number, run_id=run_id)
    _check_out_dir(out_dir)
    test_metrics = refitted_test_metrics(tracker, trial)
    if test_metrics is None:
        from hpsearch.search.replay import study_trainer
        from hpsearch.tracking.study_record import recorded_study

        study = recorded_study(tracker, trial, tracking_uri)
        with study_trainer(study) as (_, trainer):
            test_metrics = refit_trial(study, tracker, trainer, trial, best=False)

    def download(destination: Path) -> Path:
        return download_refitted(tracker, trial, destination)

    return _export(tracker, trial.run_id, download, out_dir, alias, test_metrics)


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and any(out_dir.iterdir()):
        raise UserError(f"{out_dir}: --out: the folder is not empty; choose a new one")


def _export(
    tracker: StudyTracker,
    run_id: str,
    download,
    out_dir: Path,
    alias: str | None,
    test_metrics: dict[str, float],
) -> ExportResult:
    """Write the refitted model of trial run ``run_id`` (``download(folder)`` fetches its
    folder) into ``out_dir``, register it, write its card."""
    import keras
    import numpy as np

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hpsearch-export-") as scratch:
        downloaded = download(Path(scratch))
        model = keras.saving.load_model(downloaded / "model.keras", safe_mode=True)
        example = np.load(downloaded / "input_example.npy", allow_pickle=False)
        facts = json.loads((downloaded / "estimator.json").read_text())
        shutil.copy(downloaded / "model.keras", out_dir / "model.keras")
        model.export(str(out_dir / "saved_model"), format="tf_saved_model", verbose=False)
        _save_mlflow_model(model, facts, example, out_dir, Path(scratch))

    name = tracker.study_name
    version = _register(tracker, name, run_id, out_dir / "mlflow_model", alias)
    parent = tracker.parent_run()
    card = _model_card(name, tracker, parent, run_id, facts, version, alias, test_metrics)
    (out_dir / "model_card.json").write_text(json.dumps(card, indent=2, default=str))
    return ExportResult(out_dir, name, version, card)


def _save_mlflow_model(model, facts: dict, example, out_dir: Path, scratch: Path) -> None:
    """``mlflow_model/``: ``hpsearch.deploy.serving_model`` (copied in as code) around the Keras
    model, with its signature, an input example and exact requirements (given, because
    MLflow would otherwise load the model in a subprocess to infer them)."""
    import logging

    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature

    from hpsearch.deploy import serving_model

    logging.getLogger("mlflow.pyfunc").setLevel(logging.WARNING)  # "Validating input example"

    serving_facts = {key: facts.get(key) for key in SERVING_FACTS}
    facts_path = scratch / "serving_facts.json"
    facts_path.write_text(json.dumps(serving_facts, default=str))
    predictor = serving_model.KerasPredictor().configure(model, serving_facts)
    if predictor.text:
        example = pd.DataFrame({"text": example.reshape(-1).astype(str)})
    else:
        example = example.astype("float32")
    versions = package_versions()
    # Integer class labels make MLflow hint about missing values in integer columns.
    warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
    mlflow.pyfunc.save_model(
        str(out_dir / "mlflow_model"),
        python_model=serving_model.__file__,
        artifacts={"keras_model": str(out_dir / "model.keras"), "facts": str(facts_path)},
        signature=infer_signature(example, predictor.predict(None, example)),
        input_example=example,
        pip_requirements=[
            f"{package}=={versions[package]}"
            for package in ("tensorflow", "keras", "mlflow", "numpy", "pandas")
            if package in versions
        ],
    )


def _register(
    tracker: StudyTracker, name: str, run_id: str, mlflow_model_dir: Path, alias: str | None
) -> str:
    """Log the MLflow model on the trial's run, register it once, give it ``alias``.

    Only ``MlflowClient`` calls: ``mlflow.set_tracking_uri`` would change the process's
    (and its children's) default store.
    """
    from mlflow.exceptions import MlflowException

    client = tracker.client
    existing = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    if existing:
        version = existing[0].version
    else:
        client.log_artifacts(run_id, str(mlflow_model_dir), "model")
        try:
            client.create_registered_model(name, tags={STUDY_TAG: name})
        except MlflowException as error:
            if error.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        source = f"{client.get_run(run_id).info.artifact_uri}/model"
        version = client.create_model_version(
            name, source, run_id=run_id, tags={STUDY_TAG: name}
        ).version
    if alias:
        client.set_registered_model_alias(name, alias, version)
    return str(version)


def _model_card(
    study_name, tracker, parent, run_id, facts, version, alias, test_metrics
) -> dict[str, Any]:
    tags, metrics = parent.data.tags, parent.data.metrics
    trial = tracker.client.get_run(run_id)
    return {
        "study": study_name,
        "task": facts.get("task"),
        "metric": tags.get(METRIC_TAG),
        "direction": tags.get(DIRECTION_TAG),
        "cv_score": trial.data.metrics.get("cv_score"),
        "cv_score_std": trial.data.metrics.get("cv_score_std"),
        "test_score": test_metrics.get("test_score"),
        # The trivial baseline (see hpsearch.search.baseline) and the data kind's extras.
        "baseline": tags.get(BASELINE_TAG),
        "study_metrics": dict(
            sorted(
                {
                    **{k: v for k, v in metrics.items() if k.startswith("baseline_")},
                    **test_metrics,
                }.items()
            )
        ),
        "parameters": facts.get("params"),
        "trial": facts.get("trial"),
        "run_id": run_id,
        "parent_run_id": parent.info.run_id,
        "registered_model": {"name": study_name, "version": version, "alias": alias},
        "data": {
            **json.loads(tags.get(DATA_TAG, "{}")),
            "input_shape": facts.get("input_shape"),
            "input_dtype": facts.get("input_dtype"),
            "target_type": facts.get("target_type"),
            "classes": facts.get("classes"),
        },
        "outputs": _describe_outputs(facts),
        "versions": package_versions(),
        "git_commit": tags.get(GIT_COMMIT_TAG),
        "exported_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _describe_outputs(facts: dict[str, Any]) -> str:
    target = facts.get("target_type") or ""
    if target == "binary":
        return f"one column: the probability of class {facts['classes'][1]!r}"
    if target.startswith("multiclass"):
        return "one column per class, in the order of data.classes: class probabilities"
    return "the predicted value(s)"
