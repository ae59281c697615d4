"""The leaderboard of a study, read back from MLflow (``hpsearch report``) or after a run."""

from __future__ import annotations

import csv
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TextIO

from hpsearch.tracking.names import (
    BASELINE_TAG,
    BEST_RUN_TAG,
    COMPLETE,
    DIRECTION_TAG,
    FAIL,
    METRIC_TAG,
    PRUNED,
    best_of,
)
from hpsearch.tracking.tracker import StudyTracker, TrialRecord


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
        order = {COMPLETE: 0, PRUNED: 1}

        def key(t: TrialRecord):
            score = sign * t.score if math.isfinite(t.score) else math.inf
            return (order.get(t.state, 2), score, t.number)

        return sorted(self.trials, key=key)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for trial in self.trials:
            counts[trial.state] = counts.get(trial.state, 0) + 1
        return counts

    def errors(self) -> list[tuple[str, int]]:
        """Why the failed trials failed: each distinct error (its first line) with how many
        trials it failed, most frequent first (ties in trial order)."""
        first_lines = (
            (trial.error or "").strip().partition("\n")[0] or "no error recorded"
            for trial in self.trials
            if trial.state == FAIL
        )
        return Counter(first_lines).most_common()

    def shared(self) -> int:
        """Trials scored from a longer trial's fits (Optuna's ``search.share_epochs``)."""
        return sum(1 for trial in self.trials if trial.shared_from is not None)

    def best(self) -> TrialRecord | None:
        return best_of(self.trials, self.direction)

    def as_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "trial": t.number,
                "state": t.state,
                "cv_score": t.score,
                "cv_score_std": t.score_std,
                **t.params,
                "run_id": t.run_id,
                **({} if t.shared_from is None else {"shared_from": t.shared_from}),
                **({} if t.worker is None else {"worker": t.worker}),
            }
            for t in self.ranked()
        ]

    def write_csv(self, stream: TextIO) -> None:
        """Every trial, best first: trial, state, scores, parameters, run id (and, where
        they apply, the trial it was scored from and the worker that ran it)."""
        write_csv_rows(self.as_rows(), stream)

    def summary(self) -> dict[str, Any]:
        """One study in a few numbers: what ``report --compare`` puts side by side."""
        best = self.best()
        return {
            "study": self.study_name,
            "metric": self.metric,
            "direction": self.direction,
            "trials": self.counts(),
            "best_trial": None if best is None else best.number,
            "best_score": None if best is None else best.score,
            "best_score_std": None if best is None else best.score_std,
            "test_score": self.test_score,
            "baseline": self.baseline,
            "baseline_score": self.study_metrics.get("baseline_score"),
            "baseline_test_score": self.study_metrics.get("baseline_test_score"),
            "best_params": None if best is None else best.params,
        }


def load_leaderboard(study_name: str, tracking_uri: str) -> Leaderboard:
    return leaderboard_of(StudyTracker.find(study_name, tracking_uri))


def leaderboard_of(tracker: StudyTracker) -> Leaderboard:
    study_name = tracker.study_name
    parent = tracker.parent_run()
    tags = parent.data.tags
    return Leaderboard(
        study_name=study_name,
        metric=tags.get(METRIC_TAG, "score"),
        direction=tags.get(DIRECTION_TAG, "maximize"),
        trials=tracker.trials(),
        best_run_id=tags.get(BEST_RUN_TAG),
        test_score=parent.data.metrics.get("test_score"),
        study_metrics=dict(parent.data.metrics),
        baseline=tags.get(BASELINE_TAG),
    )


def leaderboard_of_result(result) -> Leaderboard:
    """The leaderboard of a run that just ended (a ``runner.StudyResult``): every trial of
    the study, earlier sessions too."""
    study = result.study
    return Leaderboard(
        study.name,
        study.metric.name,
        study.direction,
        result.trials,
        result.best.run_id if result.best else None,
        result.test_score,
        study_metrics=result.study_metrics,
        baseline=result.baseline,
    )


def write_csv_rows(rows: list[dict[str, Any]], stream: TextIO) -> None:
    """Rows of trials as CSV: every key any row has, in first-seen order (``trial`` alone
    when there are no rows)."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    writer = csv.DictWriter(stream, fieldnames=columns or ["trial"])
    writer.writeheader()
    writer.writerows(rows)
