"""The leaderboard of a study, read back from MLflow (``hpsearch report``) or after a run."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hpsearch.tracking import BASELINE_TAG, StudyTracker, TrialRecord


@dataclass
class Leaderboard:
    study_name: str
    metric: str
    direction: str
    trials: list[TrialRecord]
    best_run_id: str | None
    test_score: float | None
    # The parent run's metrics: baseline_score, test_* and baseline_test_* (see runner).
    study_metrics: dict[str, float] = field(default_factory=dict)
    baseline: str | None = None  # what the baseline is ("majority class", "last value"...)

    def ranked(self) -> list[TrialRecord]:
        """Complete trials best first, then pruned, then failed."""
        sign = -1 if self.direction == "maximize" else 1
        order = {"COMPLETE": 0, "PRUNED": 1}

        def key(t: TrialRecord):
            score = sign * t.score if math.isfinite(t.score) else math.inf
            return (order.get(t.state, 2), score, t.number)

        return sorted(self.trials, key=key)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for trial in self.trials:
            counts[trial.state] = counts.get(trial.state, 0) + 1
        return counts

    def best(self) -> TrialRecord | None:
        ranked = [t for t in self.ranked() if t.state == "COMPLETE"]
        return ranked[0] if ranked else None

    def as_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "trial": t.number,
                "state": t.state,
                "cv_score": t.score,
                "cv_score_std": t.score_std,
                **t.params,
                "run_id": t.run_id,
            }
            for t in self.ranked()
        ]


def load_leaderboard(study_name: str, tracking_uri: str) -> Leaderboard:
    tracker = StudyTracker.find(study_name, tracking_uri)
    parent = tracker.parent_run()
    tags = parent.data.tags
    return Leaderboard(
        study_name=study_name,
        metric=tags.get("hpsearch.metric", "score"),
        direction=tags.get("hpsearch.direction", "maximize"),
        trials=tracker.trials(),
        best_run_id=tags.get("hpsearch.best_run_id"),
        test_score=parent.data.metrics.get("test_score"),
        study_metrics=dict(parent.data.metrics),
        baseline=tags.get(BASELINE_TAG),
    )
