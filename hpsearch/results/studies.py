"""``hpsearch list``: the studies a tracking store holds, each in one line.

A study is an MLflow experiment with hpsearch's parent run; each is read as ``report``
reads it (``hpsearch.results.report``): its trials by state, its best score, and when it
was last active (the latest start or end of any of its runs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hpsearch.errors import UserError
from hpsearch.study import sqlite_path
from hpsearch.tracking.names import BACKEND_TAG, STUDY_TAG
from hpsearch.tracking.tracker import StudyTracker


@dataclass
class StudySummary:
    name: str
    backend: str | None
    metric: str
    direction: str
    trials: dict[str, int]  # by state
    best_trial: int | None
    best_score: float | None
    last_activity_ms: int | None  # milliseconds since the epoch, as MLflow keeps times

    def as_row(self) -> dict[str, Any]:
        import datetime as dt

        last = None
        if self.last_activity_ms is not None:
            moment = dt.datetime.fromtimestamp(self.last_activity_ms / 1000, dt.timezone.utc)
            last = moment.isoformat(timespec="seconds")
        return {
            "name": self.name,
            "backend": self.backend,
            "metric": self.metric,
            "direction": self.direction,
            "trials": dict(self.trials),
            "best_trial": self.best_trial,
            "best_score": self.best_score,
            "last_activity": last,
        }


def list_studies(tracking_uri: str) -> list[StudySummary]:
    """Every study in the store, most recently active first. A local store that does not
    exist yet holds none (and is not created)."""
    from mlflow import MlflowClient

    from hpsearch.results.report import leaderboard_of

    database = sqlite_path(tracking_uri)
    if database is not None and not database.exists():
        return []
    client = MlflowClient(tracking_uri=tracking_uri)
    summaries = []
    for experiment in _experiments(client):
        name = experiment.tags.get(STUDY_TAG)
        if name is None or name != experiment.name:
            continue  # not a study of hpsearch's (MLflow's Default experiment, others')
        try:
            tracker = StudyTracker.find(name, tracking_uri)
        except UserError:  # its experiment has no parent run (yet)
            continue
        parent = tracker.parent_run()
        leaderboard = leaderboard_of(tracker)
        best = leaderboard.best()
        times = [parent.info.start_time, parent.info.end_time]
        times += [trial.last_activity_ms for trial in leaderboard.trials]
        known = [moment for moment in times if moment]
        summaries.append(
            StudySummary(
                name=name,
                backend=parent.data.tags.get(BACKEND_TAG),
                metric=leaderboard.metric,
                direction=leaderboard.direction,
                trials=leaderboard.counts(),
                best_trial=None if best is None else best.number,
                best_score=None if best is None else best.score,
                last_activity_ms=max(known) if known else None,
            )
        )
    summaries.sort(key=lambda summary: -(summary.last_activity_ms or 0))
    return summaries


def _experiments(client):
    experiments, token = [], None
    while True:
        page = client.search_experiments(max_results=1000, page_token=token)
        experiments.extend(page)
        token = page.token
        if not token:
            return experiments
