"""``search.warm_start``: a new Optuna search starts from what an earlier study learnt.

The best ``top`` complete trials of the other study (same MLflow store, ranked by its own
metric and direction) become starts queued like ``search.enqueue``'s, each cut to this
study's space: a name the space lacks, or a value it cannot produce, is dropped with a
note, and the sampler draws that name itself.
"""

from __future__ import annotations

import json
import math

from hpsearch.errors import UserError
from hpsearch.study import Study, redact_text
from hpsearch.study.checks import start_problems
from hpsearch.tracking.names import COMPLETE, DIRECTION_TAG
from hpsearch.tracking.tracker import StudyTracker


def warm_starts(study: Study, tracking_uri: str) -> tuple[list[dict], list[str]]:
    """(the starts to queue, best first; notes on what was dropped and why)."""
    warm = study.search.warm_start
    if warm is None:
        return [], []
    try:
        other = StudyTracker.find(warm.study, tracking_uri)
    except UserError:
        raise UserError.at(
            study.source,
            "search.warm_start.study",
            f"no study {warm.study!r} in {redact_text(tracking_uri)}",
        ) from None
    direction = other.parent_run().data.tags.get(DIRECTION_TAG, "maximize")
    sign = -1 if direction == "maximize" else 1
    complete = [t for t in other.trials() if t.state == COMPLETE and math.isfinite(t.score)]
    best = sorted(complete, key=lambda t: (sign * t.score, t.number))[: warm.top]
    notes, starts = [], []
    for trial in best:
        problems = start_problems(study.search.space, trial.params)
        where = f"warm start: {warm.study}'s trial {trial.number}"
        if problems:
            dropped = ", ".join(f"{name} ({_short(problem)})" for name, problem in problems.items())
            notes.append(f"{where}: dropped {dropped}")
        start = {k: v for k, v in trial.params.items() if k not in problems}
        if not start:
            notes.append(f"{where}: nothing of it fits this study's space; not queued")
        elif start not in starts:
            starts.append(start)
    if not complete:
        notes.append(f"warm start: {warm.study} has no complete trial; nothing queued")
    else:
        shown = ", ".join(json.dumps(start) for start in starts)
        notes.append(
            f"warm start: {len(starts)} start(s) from the best {len(best)} trial(s) of"
            f" {warm.study}, queued first: {shown}"
        )
    return starts, notes


def _short(problem: str) -> str:
    """A start's problem (``start_problems``) said for a name this study does not search."""
    return "not in this study's space" if "is not in search.space" in problem else problem
