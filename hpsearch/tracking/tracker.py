"""MLflow tracking: one experiment per study, one parent run, one child run per trial.

Layout (SPEC "Where results live"): experiment NAME; a parent run tagged
``hpsearch.study=NAME`` and reused on resume; a child run per trial with
``mlflow.parentRunId``, ``hpsearch.trial``, ``hpsearch.state``, every hyperparameter as a
param, ``cv_score``/``cv_score_std`` and per-epoch curves. A trial's metrics go to MLflow
in one ``log_batch`` when it ends: one call instead of one per value.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpsearch.compat.mlflow import initialize_tables, published_system_metrics
from hpsearch.errors import UserError
from hpsearch.study import redact_text, sqlite_path
from hpsearch.tracking.names import (
    BEST_PARAMS_TAG,
    BEST_RUN_TAG,
    CUDNN_TAG,
    ERROR_TAG,
    FAIL,
    KILLED_STATUS,
    MODEL_TRIAL_TAG,
    PARAMS_TAG,
    ROLE_TAG,
    RUNNING,
    SHARED_FROM_TAG,
    STATE_TAG,
    STUDY_TAG,
    TRIAL_TAG,
    WORKER_TAG,
    best_of,
    spends_budget,
)

# MLflow 3's UI opens an experiment without this tag on its GenAI (traces) pages; with it,
# on the training runs.
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}

MODEL_ARTIFACT_DIR = "best_model"
_MAX_TAG_LENGTH = 5000
_BATCH = 900  # MLflow accepts at most 1000 metrics per log_batch


def local_artifacts_root(tracking_uri: str) -> str | None:
    """``mlruns/artifacts`` beside a local SQLite store; a server decides its own."""
    database = sqlite_path(tracking_uri)
    return None if database is None else (database.parent / "artifacts").resolve().as_uri()


def default_artifact_location(tracking_uri: str, experiment: str) -> str | None:
    root = local_artifacts_root(tracking_uri)
    return None if root is None else f"{root}/{experiment}"


def prepare_local_store(uri: str) -> None:
    """Create the folder of a SQLite database (``mlruns/``) before anything connects to it."""
    database = sqlite_path(uri)
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)


def prepare_mlflow_store(uri: str) -> None:
    """``prepare_local_store``, and a new SQLite store made from MLflow's empty schema.

    MLflow makes a new SQLite store by running its schema migrations one by one: ~2 s here
    (twice that on a loaded machine) for every new study folder, before the first trial.
    For one MLflow version the result is always the same empty schema, so it is made once
    (in the user's cache folder) and copied; MLflow then finds its tables and adds its
    Default experiment, with this store's own artifact folder, as in a store it made. If
    anything goes wrong here, MLflow makes the store itself, as before.
    """
    prepare_local_store(uri)
    database = sqlite_path(uri)
    if database is None or database.exists():
        return
    partial = database.with_name(f".{database.name}.{os.getpid()}.partial")
    try:
        shutil.copyfile(_empty_mlflow_store(), partial)
        os.link(partial, database)  # never over a store another process made meanwhile
    except Exception:  # noqa: BLE001 - MLflow creates the store itself (or made it already)
        pass
    finally:
        partial.unlink(missing_ok=True)


def _empty_mlflow_store() -> Path:
    """This MLflow version's empty, fully migrated SQLite schema, made on first use."""
    import mlflow

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hpsearch"
    template = cache / f"mlflow-{mlflow.__version__}-empty.db"
    if template.exists():
        return template
    import sqlalchemy

    cache.mkdir(parents=True, exist_ok=True)
    partial = template.with_name(f"{template.name}.{os.getpid()}.partial")
    engine = sqlalchemy.create_engine(f"sqlite:///{partial}")
    try:
        try:
            initialize_tables(engine)  # what MLflow runs on a new store
        finally:
            engine.dispose()
        os.replace(partial, template)  # whole or absent, whoever else makes it at once
    except BaseException:
        partial.unlink(missing_ok=True)  # no half-made schema left in the cache
        raise
    return template


@dataclass
class TrialRecord:
    """A trial as MLflow remembers it."""

    number: int
    run_id: str
    state: str
    status: str
    score: float
    score_std: float
    params: dict[str, Any]
    error: str | None
    fold_scores: list[float] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)  # every scalar MLflow has
    shared_from: int | None = None  # see SHARED_FROM_TAG
    worker: str | None = None  # see WORKER_TAG
    last_activity_ms: int | None = None  # the run's end (or start) time, as MLflow keeps it

    @property
    def counted(self) -> bool:
        """A trial of the budget (``hpsearch.tracking.names.spends_budget``)."""
        return spends_budget(
            self.state,
            own_result=self.status != KILLED_STATUS,
            shared=self.shared_from is not None,
        )

    @property
    def left_open(self) -> bool:
        """Its outcome was recorded (the state tag) but its run never closed: the process
        died in between (``StudyTracker.close_recorded``)."""
        return self.state != RUNNING and self.status == RUNNING


class StudyTracker:
    """The MLflow side of one study: its experiment, parent run and trial runs."""

    def __init__(
        self,
        client,
        experiment_id: str,
        parent_run_id: str,
        study_name: str,
        *,
        tracking_uri: str,
        trial_tags: dict[str, str] | None = None,
        system_metrics_interval: float | None = None,
    ):
        self.client = client
        self.experiment_id = experiment_id
        self.parent_run_id = parent_run_id
        self.study_name = study_name
        self.tracking_uri = tracking_uri
        # Set on every trial run as it starts (backend, sampler, versions, git commit).
        self.trial_tags = dict(trial_tags or {})
        # Seconds between MLflow system-metric samples during a trial; None: not sampled.
        self.system_metrics_interval = system_metrics_interval

    # --- opening -------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        study,
        tracking_uri: str,
        *,
        tags: dict[str, str],
        trial_tags: dict[str, str] | None = None,
    ) -> StudyTracker:
        """Find or create the study's experiment and parent run, and mark it running.

        ``tags`` go on the parent run, ``trial_tags`` on it and on every trial run.
        """
        from mlflow import MlflowClient

        tags = {**(trial_tags or {}), **tags}
        prepare_mlflow_store(tracking_uri)
        client = MlflowClient(tracking_uri=tracking_uri)
        experiment = client.get_experiment_by_name(study.name)
        if experiment is None:
            experiment_id = client.create_experiment(
                study.name,
                artifact_location=default_artifact_location(tracking_uri, study.name),
                tags={STUDY_TAG: study.name, **EXPERIMENT_KIND},
            )
        elif experiment.lifecycle_stage == "deleted":
            raise UserError(
                f"{study.source}: name: the MLflow experiment {study.name!r} was deleted;"
                " restore it (mlflow experiments restore) or choose another name"
            )
        else:
            experiment_id = experiment.experiment_id
            if not set(EXPERIMENT_KIND.items()) <= set(experiment.tags.items()):
                for key, value in EXPERIMENT_KIND.items():
                    client.set_experiment_tag(experiment_id, key, value)
        parent = cls._find_parent(client, experiment_id, study.name)
        if parent is None:
            run = client.create_run(
                experiment_id,
                run_name=study.name,
                tags={STUDY_TAG: study.name, ROLE_TAG: "parent", **tags},
            )
            parent_id = run.info.run_id
        else:
            parent_id = parent.info.run_id
            client.update_run(parent_id, status="RUNNING")
            for key, value in tags.items():
                client.set_tag(parent_id, key, value)
        interval = study.tracking.system_metrics_interval if study.tracking.system_metrics else None
        return cls(
            client,
            experiment_id,
            parent_id,
            study.name,
            tracking_uri=tracking_uri,
            trial_tags=trial_tags,
            system_metrics_interval=interval,
        )

    @classmethod
    def find(cls, study_name: str, tracking_uri: str) -> StudyTracker:
        """The tracker of a study that has run before (for report and export)."""
        from mlflow import MlflowClient

        database = sqlite_path(tracking_uri)
        if database is not None:
            if not database.exists():
                raise UserError(f"{study_name}: no study of that name: {database} does not exist")
        client = MlflowClient(tracking_uri=tracking_uri)
        experiment = client.get_experiment_by_name(study_name)
        parent = experiment and cls._find_parent(client, experiment.experiment_id, study_name)
        if not parent:
            raise UserError(f"{study_name}: no study of that name in {redact_text(tracking_uri)}")
        return cls(
            client,
            experiment.experiment_id,
            parent.info.run_id,
            study_name,
            tracking_uri=tracking_uri,
        )

    @staticmethod
    def _find_parent(client, experiment_id: str, study_name: str):
        runs = client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{ROLE_TAG}` = 'parent' and tags.`{STUDY_TAG}` = '{study_name}'",
            order_by=["attributes.start_time ASC"],
            max_results=1,
        )
        return runs[0] if runs else None

    # --- trials --------------------------------------------------------------------

    @contextmanager
    def trial(
        self, number: int, params: dict[str, Any], *, shared_from: int | None = None
    ) -> Iterator[TrialRun]:
        """A child run for one trial; an exception or Ctrl-C inside marks it failed/killed."""
        run = TrialRun.start(self, number, params, shared_from)
        try:
            yield run
        except BaseException as error:
            if not run.finished:
                interrupted = isinstance(error, (KeyboardInterrupt, SystemExit))
                run.fail(
                    "interrupted" if interrupted else f"{type(error).__name__}: {error}",
                    status=KILLED_STATUS if interrupted else "FAILED",
                )
            raise

    def trials(self) -> list[TrialRecord]:
        """Every trial of the study, in trial order."""
        runs = self._search(f"tags.`{ROLE_TAG}` = 'trial'")
        records = []
        for run in runs:
            tags, metrics = run.data.tags, run.data.metrics
            records.append(
                TrialRecord(
                    number=int(tags.get(TRIAL_TAG, -1)),
                    run_id=run.info.run_id,
                    state=tags.get(STATE_TAG, RUNNING),
                    status=run.info.status,
                    score=metrics.get("cv_score", math.nan),
                    score_std=metrics.get("cv_score_std", math.nan),
                    params=json.loads(tags.get(PARAMS_TAG, "{}")),
                    error=tags.get(ERROR_TAG),
                    fold_scores=fold_values(metrics, "cv_score"),
                    metrics=dict(metrics),
                    shared_from=_int_or_none(tags.get(SHARED_FROM_TAG)),
                    worker=tags.get(WORKER_TAG),
                    last_activity_ms=run.info.end_time or run.info.start_time,
                )
            )
        return sorted(records, key=lambda record: (record.number, record.run_id))

    def best_trial(self, direction: str) -> TrialRecord | None:
        return best_of(self.trials(), direction)

    def close_killed(self, run_id: str) -> None:
        """A trial run whose process died: FAIL, status KILLED."""
        TrialRun(self, run_id).fail("the process running this trial died", status=KILLED_STATUS)

    def close_recorded(self, record: TrialRecord) -> None:
        """A trial run whose process died after recording its outcome (its state tag) but
        before closing the run: the outcome stands, only the run's status is set."""
        self.client.set_terminated(record.run_id, status=_run_status(record.state))

    def delete_run(self, run_id: str) -> None:
        self.client.delete_run(run_id)

    def _search(self, filter_string: str):
        from mlflow.entities import ViewType

        runs, token = [], None
        while True:
            page = self.client.search_runs(
                [self.experiment_id],
                filter_string=f"{filter_string} and tags.`{STUDY_TAG}` = '{self.study_name}'",
                run_view_type=ViewType.ACTIVE_ONLY,
                max_results=1000,
                page_token=token,
            )
            runs.extend(page)
            token = page.token
            if not token:
                return runs

    # --- the study's results -------------------------------------------------------

    def parent_run(self):
        return self.client.get_run(self.parent_run_id)

    def log_study_file(self, path: Path) -> None:
        """The study file as an artifact, with any password in a URI replaced by ***."""
        import tempfile

        redacted = redact_text(path.read_text(encoding="utf-8"))
        with tempfile.TemporaryDirectory(prefix="hpsearch-study-") as folder:
            copy = Path(folder) / path.name
            copy.write_text(redacted, encoding="utf-8")
            self.client.log_artifact(self.parent_run_id, str(copy))

    def log_study_metrics(
        self, metrics: dict[str, float | None], tags: dict[str, str] | None = None
    ) -> None:
        """Metrics (and tags) of the whole study on the parent run, in one call."""
        from mlflow.entities import Metric, RunTag

        now = int(time.time() * 1000)
        self.client.log_batch(
            self.parent_run_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items() if v is not None],
            tags=[RunTag(k, v) for k, v in (tags or {}).items()],
        )

    def log_study_artifact(self, path: Path) -> None:
        self.client.log_artifact(self.parent_run_id, str(path))

    def log_study_artifacts(self, folder: Path, artifact_path: str) -> None:
        self.client.log_artifacts(self.parent_run_id, str(folder), artifact_path)

    def record_best(self, best: TrialRecord, extra_metrics: dict[str, float]) -> None:
        self.log_study_metrics(
            {"best_score": best.score, **extra_metrics},
            tags={
                BEST_RUN_TAG: best.run_id,
                BEST_PARAMS_TAG: _truncate(json.dumps(best.params)),
            },
        )

    def log_model(self, local_dir: Path, best: TrialRecord) -> None:
        """Keep the refitted best model on the parent run, for export."""
        self.client.log_artifacts(self.parent_run_id, str(local_dir), MODEL_ARTIFACT_DIR)
        self.client.set_tag(self.parent_run_id, MODEL_TRIAL_TAG, best.run_id)

    def model_trial_run_id(self) -> str | None:
        return self.parent_run().data.tags.get(MODEL_TRIAL_TAG)

    def download_model(self, destination: Path) -> Path:
        return Path(
            self.client.download_artifacts(self.parent_run_id, MODEL_ARTIFACT_DIR, str(destination))
        )

    def finish(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.parent_run_id, status=status)


class TrialRun:
    """The child run of one trial."""

    def __init__(self, tracker: StudyTracker, run_id: str, monitor=None):
        self.tracker = tracker
        self.run_id = run_id
        self.finished = False
        self._monitor = monitor  # MLflow's SystemMetricsMonitor, while the trial runs

    @classmethod
    def start(
        cls,
        tracker: StudyTracker,
        number: int,
        params: dict[str, Any],
        shared_from: int | None = None,
    ) -> TrialRun:
        """The trial's run. ``shared_from``: the trial is scored from that trial's fits
        (tagged so; no system metrics for a moment's scoring)."""
        from mlflow.entities import Param

        client = tracker.client
        shared = {} if shared_from is None else {SHARED_FROM_TAG: str(shared_from)}
        run = client.create_run(
            tracker.experiment_id,
            run_name=f"trial-{number}",
            tags={
                "mlflow.parentRunId": tracker.parent_run_id,
                STUDY_TAG: tracker.study_name,
                ROLE_TAG: "trial",
                TRIAL_TAG: str(number),
                STATE_TAG: RUNNING,
                PARAMS_TAG: _truncate(json.dumps(params, default=str)),
                **tracker.trial_tags,
                **shared,
            },
        )
        params_list = [Param(k, str(v)) for k, v in params.items()]
        for start in range(0, len(params_list), 100):
            client.log_batch(run.info.run_id, params=params_list[start : start + 100])
        monitor = None
        if tracker.system_metrics_interval and shared_from is None:
            monitor = _start_system_metrics(
                run.info.run_id, tracker.tracking_uri, tracker.system_metrics_interval
            )
        return cls(tracker, run.info.run_id, monitor)

    def finish(self, outcome) -> None:
        """Log the outcome's scores and curves in one batch and close the run."""
        from mlflow.entities import Metric, RunTag

        now = int(time.time() * 1000)
        metrics = []
        if outcome.fold_scores:
            scalars = {
                "cv_score": outcome.score,
                "cv_score_std": outcome.score_std,
                "fit_time": outcome.fit_time,
            }
            scalars.update({f"cv_score_fold_{k}": s for k, s in enumerate(outcome.fold_scores)})
            metrics += [Metric(k, float(v), now, 0) for k, v in scalars.items() if math.isfinite(v)]
        for name in (
            "n_params",
            "trained_epochs",
            "predict_ms",
            "train_time",
            "fits_reused",
            "refit_epochs",
        ):
            value = getattr(outcome, name)
            if value is not None:
                metrics.append(Metric(name, float(value), now, 0))
        for name, values in (
            ("stopped_epoch", outcome.stopped_epochs),
            ("best_epoch", outcome.best_epochs),
        ):
            metrics += [Metric(f"{name}_fold_{k}", float(v), now, 0) for k, v in enumerate(values)]
        metrics += [
            Metric("epoch_time", float(t), now, epoch)
            for epoch, t in enumerate(outcome.epoch_times, start=1)
        ]
        for key, values in outcome.curves.items():
            metrics += [
                Metric(key, float(v), now, epoch)
                for epoch, v in enumerate(values, start=1)
                if math.isfinite(v)
            ]
        tags = [RunTag(STATE_TAG, outcome.state)]
        if outcome.cudnn is not None:
            tags.append(RunTag(CUDNN_TAG, "true" if outcome.cudnn else "false"))
        if outcome.error:
            tags.append(RunTag(ERROR_TAG, _truncate(outcome.error)))
        self._stop_system_metrics()
        client = self.tracker.client
        if outcome.model_summary:
            client.log_text(self.run_id, outcome.model_summary, "model_summary.txt")
        for start in range(0, max(len(metrics), 1), _BATCH):
            client.log_batch(
                self.run_id,
                metrics=metrics[start : start + _BATCH],
                tags=tags if start == 0 else [],
            )
        client.set_terminated(self.run_id, status=_run_status(outcome.state))
        self.finished = True

    def fail(self, error: str, *, status: str = "FAILED") -> None:
        self._stop_system_metrics()
        client = self.tracker.client
        client.set_tag(self.run_id, STATE_TAG, FAIL)
        client.set_tag(self.run_id, ERROR_TAG, _truncate(error))
        client.set_terminated(self.run_id, status=status)
        self.finished = True

    def _stop_system_metrics(self) -> None:
        monitor, self._monitor = self._monitor, None
        if monitor is None:
            return
        monitor.finish()  # stops its thread and sends what it had batched
        if not published_system_metrics(monitor):
            # A trial shorter than one sampling interval: MLflow's loop stops before its
            # first batch; send one sample taken now, so that every trial has them.
            monitor.collect_metrics()
            monitor.publish_metrics(monitor.aggregate_metrics())
            monitor.mlflow_logger.flush()


def _run_status(state: str) -> str:
    """The MLflow status that closes a trial run of this outcome."""
    return "FAILED" if state == FAIL else "FINISHED"


def _start_system_metrics(run_id: str, tracking_uri: str, interval: float):
    """MLflow's own sampler of CPU, memory, disk and network (``system/...`` metrics, shown
    in the UI's "System metrics" tab) in a thread, for one trial run."""
    import logging

    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    # It announces every start and stop at INFO: one line per trial on stderr.
    logging.getLogger("mlflow.system_metrics").setLevel(logging.WARNING)
    monitor = SystemMetricsMonitor(run_id, sampling_interval=interval, tracking_uri=tracking_uri)
    monitor.start()
    return monitor


def fold_values(metrics: dict[str, float], name: str) -> list[float]:
    """``{name}_fold_0``, ``{name}_fold_1``, ... of a trial's metrics, in fold order."""
    folds = []
    while f"{name}_fold_{len(folds)}" in metrics:
        folds.append(metrics[f"{name}_fold_{len(folds)}"])
    return folds


def _int_or_none(text: str | None) -> int | None:
    return None if text is None else int(text)


def _truncate(text: str) -> str:
    return text if len(text) <= _MAX_TAG_LENGTH else text[: _MAX_TAG_LENGTH - 3] + "..."
