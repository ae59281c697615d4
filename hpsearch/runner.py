"""``hpsearch run``: a study file in, tracked trials and a refitted best model out.

The steps, in order: read and check the study; load and check the data; open the MLflow
parent run; let the backend run (or resume) the trials; refit the best candidate of every
session on all training data, score it on the test set, and keep it on the parent run for
``export``.
"""

from __future__ import annotations

import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpsearch.errors import UserError
from hpsearch.study import Study, redact_text
from hpsearch.tracking.lock import StudyLock
from hpsearch.tracking.names import (
    BASELINE_TAG,
    DATA_SHA_TAG,
    DATA_TAG,
    DIRECTION_TAG,
    METRIC_TAG,
    PARETO_TAG,
    SEED_TAG,
    STORAGE_TAG,
    STUDY_DIR_TAG,
    WORKER_TAG,
)
from hpsearch.tracking.tracker import StudyTracker, TrialRecord


@dataclass
class StudyResult:
    study: Study
    trials: list[TrialRecord]
    best: TrialRecord | None
    test_score: float | None
    tracking_uri: str
    parent_run_id: str
    study_metrics: dict[str, float]
    baseline: str | None
    study_tags: dict[str, str]


def run_study(study: Study, *, on_trial=None, on_start=None, worker: bool = False) -> StudyResult:
    """Run or resume ``study``; returns what the CLI prints.

    ``worker``: join a study that other processes (on other machines) run against the same
    PostgreSQL storage and MLflow server (``hpsearch worker``). No local lock then; the
    steps that must not race go through the study's mutex (hpsearch.search.coordination).
    """
    from hpsearch.data import load_dataset
    from hpsearch.models.routing import check_model
    from hpsearch.search.trainer import start_fork_server

    mutex = _worker_mutex(study) if worker else None
    start_fork_server(study)  # its TensorFlow import overlaps what follows
    dataset = load_dataset(study)
    builder_params = check_model(study, dataset.facts)
    tracking_uri = study.tracking_uri()
    with StudyLock(study, tracking_uri, shared=worker) as lock:
        with _held(mutex):
            tracker = StudyTracker.open(
                study, tracking_uri, tags=_run_tags(study, dataset), trial_tags=_trial_tags(study)
            )
            _log_study_file(study, tracker)
        if worker:  # on its trials only: the parent run is every worker's
            from hpsearch.search.coordination import worker_name

            tracker.trial_tags[WORKER_TAG] = worker_name()
        with tempfile.TemporaryDirectory(prefix="hpsearch-folds-") as records_dir:
            best, test_score = _search_and_refit(
                study,
                dataset,
                builder_params,
                tracker,
                records_dir,
                exclusive=lock.held,
                mutex=mutex,
                on_trial=on_trial,
                on_start=on_start,
            )
        parent = tracker.parent_run()
        return StudyResult(
            study,
            tracker.trials(),
            best,
            test_score,
            tracking_uri,
            tracker.parent_run_id,
            study_metrics=dict(parent.data.metrics),
            baseline=parent.data.tags.get(BASELINE_TAG),
            study_tags=dict(parent.data.tags),
        )


def _log_study_file(study: Study, tracker: StudyTracker) -> None:
    """The study file on the parent run; a study given from Python, written as one
    (``NAME.yaml``, a function as its ``module:name``)."""
    if study.source.is_file():
        tracker.log_study_file(study.source)
        return
    from hpsearch.study.reading import study_yaml

    with tempfile.TemporaryDirectory(prefix="hpsearch-study-") as folder:
        path = Path(folder) / f"{study.name}.yaml"
        path.write_text(study_yaml(study), encoding="utf-8")
        tracker.log_study_file(path)


def _worker_mutex(study: Study):
    from hpsearch.search.coordination import StudyMutex

    if study.search.backend != "optuna":
        raise UserError.at(
            study.source,
            "search.backend",
            "workers share Optuna studies; a grid runs on one machine (hpsearch run)",
        )
    try:
        return StudyMutex(study.optuna_storage(), study.name)
    except UserError as error:
        raise UserError(f"{study.source}: {error}") from None


@contextmanager
def _held(mutex):
    if mutex is None:
        yield
    else:
        with mutex.held():
            yield


def _search_and_refit(
    study, dataset, builder_params, tracker, records_dir, *, exclusive, mutex, on_trial, on_start
):
    from hpsearch.deploy.refit import refit_trial
    from hpsearch.models.routing import builder_reference
    from hpsearch.results.savings import log_savings
    from hpsearch.search import backend_class
    from hpsearch.search.baseline import baseline_metrics
    from hpsearch.search.evaluation import CrossValidation
    from hpsearch.search.trainers import make_trainer

    cross_validation = CrossValidation(
        study, dataset, builder_reference(study), builder_params, records_dir
    )
    tracker.log_study_metrics(baseline_metrics(cross_validation))
    try:
        with make_trainer(study, cross_validation) as trainer:
            backend = backend_class(study.search.backend)(
                study,
                cross_validation,
                tracker,
                trainer,
                on_trial=on_trial,
                exclusive=exclusive,
                mutex=mutex,
            )
            if on_start is not None:
                on_start(backend, tracker)
            backend.run()
            # Workers end one after the other: each finishes the study in turn, and a
            # refit already done for the same best trial is skipped.
            with _held(mutex):
                plots = _start_plots(study, tracker, backend)
                try:
                    best = tracker.best_trial(study.direction)
                    test_score = None
                    if best is not None:
                        test_metrics = refit_trial(study, tracker, trainer, best, best=True)
                        test_score = test_metrics.get("test_score")
                        tracker.record_best(best, test_metrics)
                    _log_leaderboard(tracker)
                    log_savings(study, tracker)
                    if study.multi_objective:
                        _log_pareto_front(study, tracker)
                finally:
                    if plots is not None:
                        plots.join()
                tracker.finish("FINISHED")
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the backend recorded the running trial
        if mutex is None:  # other workers go on with a shared study
            tracker.finish("KILLED")
        raise
    except BaseException:
        if mutex is None:
            tracker.finish("FAILED")
        raise
    return best, test_score


def _log_leaderboard(tracker: StudyTracker) -> None:
    """``leaderboard.csv`` (every trial, best first) and ``best_params.json`` on the parent."""
    from hpsearch.results.report import leaderboard_of

    leaderboard = leaderboard_of(tracker)
    with tempfile.TemporaryDirectory(prefix="hpsearch-leaderboard-") as folder:
        path = Path(folder) / "leaderboard.csv"
        with path.open("w", newline="") as stream:
            leaderboard.write_csv(stream)
        tracker.log_study_artifact(path)
        best = leaderboard.best()
        if best is not None:
            path = Path(folder) / "best_params.json"
            _save_json(path, {"trial": best.number, "run_id": best.run_id, **best.params})
            tracker.log_study_artifact(path)


def _log_pareto_front(study: Study, tracker: StudyTracker) -> None:
    """The trials no other trial beats on every objective: tag and ``pareto_front.csv``."""
    import json

    from hpsearch.results.report import write_csv_rows
    from hpsearch.results.study_plots import as_optuna_study, objective_values, pareto_front

    records = tracker.trials()
    front = set(pareto_front(as_optuna_study(study, records)))
    rows = []
    for record in records:
        if record.number in front:
            values = objective_values(study, record) or []
            rows.append(
                {
                    "trial": record.number,
                    **dict(zip(study.objective_names, values, strict=True)),
                    **record.params,
                    "run_id": record.run_id,
                }
            )
    rows.sort(key=lambda row: row[study.objective_names[0]], reverse=study.direction == "maximize")
    tracker.log_study_metrics({}, tags={PARETO_TAG: json.dumps([row["trial"] for row in rows])})
    with tempfile.TemporaryDirectory(prefix="hpsearch-pareto-") as folder:
        path = Path(folder) / "pareto_front.csv"
        with path.open("w", newline="") as stream:
            write_csv_rows(rows, stream)
        tracker.log_study_artifact(path)


def _start_plots(study: Study, tracker: StudyTracker, backend) -> threading.Thread | None:
    """Draw and log the study's plots in a thread, while the best candidate is refitted.

    They read only the recorded trials, and the refit trains in the worker process (the
    study's own process waits), so on a second core they cost no wall time: ~2 s of
    matplotlib for six PNGs here.
    """
    if not study.tracking.plots:
        return None
    thread = threading.Thread(
        target=_log_plots, args=(study, tracker, backend), name="hpsearch-plots", daemon=True
    )
    thread.start()
    return thread


def _log_plots(study: Study, tracker: StudyTracker, backend) -> None:
    """Optuna's plots of the whole study (all sessions) under ``plots/`` on the parent run.

    A plot that cannot be drawn is named, with the reason, in ``plots.html``; a failure of
    the plotting itself is reported but does not fail a study whose trials are recorded.
    """
    import sys

    from hpsearch.results.study_plots import as_optuna_study, write_plots

    try:
        with tempfile.TemporaryDirectory(prefix="hpsearch-plots-") as folder:
            plotted = as_optuna_study(study, tracker.trials(), backend.reported_values())
            objectives = ", ".join(study.objective_names)
            title = f"{study.name}: {study.search.backend} search, {objectives}"
            files = write_plots(
                plotted,
                Path(folder),
                metric=study.metric.name,
                title=title,
                objectives=study.objective_names,
            )
            if files.html is not None:
                tracker.log_study_artifacts(Path(folder), "plots")
    except Exception as error:  # plots are a view of recorded results, never a reason to fail
        print(f"warning: the study's plots were not drawn ({error})", file=sys.stderr)


def _save_json(path: Path, payload: dict[str, Any]) -> None:
    import json

    path.write_text(json.dumps(payload, indent=2, default=str))


def _run_tags(study: Study, dataset) -> dict[str, str]:
    """The parent run's own tags: the data (and its content's hash), its baseline, the
    metric; where the study file's references resolve and the Optuna storage (for
    ``rerun``, ``export --trial`` and ``delete``)."""
    import json

    from hpsearch.data.fingerprint import data_sha256
    from hpsearch.search.baseline import baseline_description
    from hpsearch.study.references import reference_text

    optuna = study.search.backend == "optuna"
    loader = reference_text(study.data.loader)
    data = {"loader": loader, "params": study.data.params, "shape": dataset.describe()}
    return {
        BASELINE_TAG: baseline_description(dataset, study.task),
        DATA_TAG: redact_text(json.dumps(data, default=str))[:5000],
        METRIC_TAG: study.metric.name,
        DIRECTION_TAG: study.direction,
        DATA_SHA_TAG: data_sha256(dataset.X, dataset.y),
        STUDY_DIR_TAG: str(study.base_dir.resolve()),
        **({STORAGE_TAG: redact_text(study.optuna_storage())} if optuna else {}),
    }


def _trial_tags(study: Study) -> dict[str, str]:
    """Tags of the parent and of every trial: how it was searched (and seeded), with which
    code."""
    from hpsearch.search import backend_class
    from hpsearch.tracking.provenance import provenance_tags

    return {
        **backend_class(study.search.backend).search_tags(study),
        **provenance_tags(study.source.resolve().parent),
        SEED_TAG: str(study.seed),
    }
