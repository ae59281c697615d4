"""``hpsearch export``: the best trial's model, ready to deploy, and registered in MLflow.

Writes into the output folder (SPEC "Export"):

- ``model.keras``: the Keras model, loadable with ``keras.saving.load_model`` in safe mode;
- ``saved_model/``: a TensorFlow SavedModel for TF Serving;
- ``mlflow_model/``: an MLflow model (signature and input example) for ``mlflow models serve``
  and ``hpsearch predict``, answering with class labels and probabilities (or values);
- ``model_card.json``: study, metric, scores, parameters, run ids, data and versions.

The model is the one ``run`` refitted on all training data; export trains nothing. The
MLflow model is also logged on the best trial's run and registered under the study's name,
with the alias ``champion`` on that version.
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


def export_best(study_name: str, tracking_uri: str, out_dir: Path) -> ExportResult:
    import keras
    import numpy as np

    tracker = StudyTracker.find(study_name, tracking_uri)
    parent = tracker.parent_run()
    best_run_id = parent.data.tags.get(BEST_RUN_TAG)
    if not best_run_id or tracker.model_trial_run_id() is None:
        raise UserError(f"{study_name}: no completed trial to export yet (run the study first)")
    if out_dir.exists() and any(out_dir.iterdir()):
        raise UserError(f"{out_dir}: --out: the folder is not empty; choose a new one")
    out_dir.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="hpsearch-export-") as scratch:
        downloaded = tracker.download_model(Path(scratch))
        model = keras.saving.load_model(downloaded / "model.keras", safe_mode=True)
        example = np.load(downloaded / "input_example.npy", allow_pickle=False)
        facts = json.loads((downloaded / "estimator.json").read_text())
        shutil.copy(downloaded / "model.keras", out_dir / "model.keras")
        model.export(str(out_dir / "saved_model"), format="tf_saved_model", verbose=False)
        _save_mlflow_model(model, facts, example, out_dir, Path(scratch))

    version = _register(tracker, study_name, best_run_id, out_dir / "mlflow_model")
    card = _model_card(study_name, tracker, parent, best_run_id, facts, version)
    (out_dir / "model_card.json").write_text(json.dumps(card, indent=2, default=str))
    return ExportResult(out_dir, study_name, version, card)


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


def _register(tracker: StudyTracker, name: str, run_id: str, mlflow_model_dir: Path) -> str:
    """Log the MLflow model on the best trial's run, register it once, alias it champion.

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
    client.set_registered_model_alias(name, CHAMPION_ALIAS, version)
    return str(version)


def _model_card(study_name, tracker, parent, best_run_id, facts, version) -> dict[str, Any]:
    tags, metrics = parent.data.tags, parent.data.metrics
    best = tracker.client.get_run(best_run_id)
    return {
        "study": study_name,
        "task": facts.get("task"),
        "metric": tags.get(METRIC_TAG),
        "direction": tags.get(DIRECTION_TAG),
        "cv_score": best.data.metrics.get("cv_score"),
        "cv_score_std": best.data.metrics.get("cv_score_std"),
        "test_score": metrics.get("test_score"),
        # The trivial baseline (see hpsearch.search.baseline) and the data kind's extras.
        "baseline": tags.get(BASELINE_TAG),
        "study_metrics": {
            name: value
            for name, value in sorted(metrics.items())
            if name.startswith(("test_", "baseline_"))
        },
        "parameters": facts.get("params"),
        "trial": facts.get("trial"),
        "run_id": best_run_id,
        "parent_run_id": parent.info.run_id,
        "registered_model": {"name": study_name, "version": version, "alias": CHAMPION_ALIAS},
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
