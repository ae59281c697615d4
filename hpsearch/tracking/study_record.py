"""A study and its trials rebuilt from what MLflow recorded: a trial by number or run id,
and the study file as the parent run keeps it, with the seed the trial ran with.

What ``rerun`` and ``export --trial`` train from: nothing but the tracking store (and the
data the study's loader returns, which ``rerun`` checks against the recorded hash).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hpsearch.errors import UserError
from hpsearch.study import Study, read_yaml, redact_text, sqlite_path
from hpsearch.study.reading import apply_overrides, parse_study
from hpsearch.tracking.names import (
    COMPLETE,
    ROLE_TAG,
    SEED_TAG,
    STUDY_DIR_TAG,
    STUDY_TAG,
    TRIAL_TAG,
)
from hpsearch.tracking.tracker import StudyTracker, TrialRecord

STUDY_FILE_SUFFIXES = (".yaml", ".yml")


def find_trial(
    tracker: StudyTracker, *, number: int | None = None, run_id: str | None = None
) -> TrialRecord:
    """The study's trial of that number (or run id), which must have completed."""
    trials = tracker.trials()
    if run_id is not None:
        found = [trial for trial in trials if trial.run_id == run_id]
        what = f"run {run_id}"
    else:
        found = [trial for trial in trials if trial.number == number]
        what = f"trial {number}"
    if not found:
        numbers = [trial.number for trial in trials]
        known = f"trials {min(numbers)}-{max(numbers)}" if numbers else "no trials"
        raise UserError(f"{tracker.study_name}: no {what} in this study (it has {known})")
    # A grid's resumed candidate may have a killed run beside its finished one.
    trial = next((t for t in found if t.state == COMPLETE), found[-1])
    if trial.state != COMPLETE:
        why = f": {trial.error.splitlines()[0][:200]}" if trial.error else ""
        raise UserError(
            f"{tracker.study_name}: trial {trial.number} did not complete"
            f" (it is {trial.state}{why}); choose a COMPLETE trial"
        )
    return trial


def tracker_of_run(run_id: str, tracking_uri: str) -> tuple[StudyTracker, TrialRecord]:
    """The study a trial's run belongs to, and that trial (complete)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    where = redact_text(tracking_uri)
    database = sqlite_path(tracking_uri)
    if database is not None and not database.exists():
        raise UserError(f"{run_id}: no run of that id: {database} does not exist")
    client = MlflowClient(tracking_uri=tracking_uri)
    try:
        run = client.get_run(run_id)
    except MlflowException:
        raise UserError(f"{run_id}: no run of that id in {where}") from None
    tags = run.data.tags
    study_name = tags.get(STUDY_TAG)
    if study_name is None or tags.get(ROLE_TAG) != "trial" or TRIAL_TAG not in tags:
        what = f"the parent run of the study {study_name!r}" if study_name else "another run"
        raise UserError(f"{run_id}: not a trial of an hpsearch study (it is {what})")
    tracker = StudyTracker.find(study_name, tracking_uri)
    return tracker, find_trial(tracker, run_id=run_id)


def recorded_study(tracker: StudyTracker, trial: TrialRecord, tracking_uri: str) -> Study:
    """The study as its parent run recorded it: the study file logged there, its
    references resolved where the study's own file was (else from the current folder),
    with the seed ``trial`` ran with and this tracking store."""
    parent = tracker.parent_run()
    client = tracker.client
    files = [
        artifact.path
        for artifact in client.list_artifacts(parent.info.run_id)
        if not artifact.is_dir and artifact.path.endswith(STUDY_FILE_SUFFIXES)
    ]
    if not files:
        raise UserError(
            f"{tracker.study_name}: the study file is not recorded on its parent run"
            " (it was run from Python without one, or by an older hpsearch)"
        )
    seed = client.get_run(trial.run_id).data.tags.get(SEED_TAG) or parent.data.tags.get(SEED_TAG)
    folder = Path(parent.data.tags.get(STUDY_DIR_TAG) or ".")
    if not folder.is_dir():
        folder = Path(".")
    with tempfile.TemporaryDirectory(prefix="hpsearch-recorded-") as scratch:
        local = Path(client.download_artifacts(parent.info.run_id, files[0], scratch))
        raw = read_yaml(local)
    overrides = {"tracking.uri": tracking_uri, "seed": None if seed is None else int(seed)}
    return parse_study(apply_overrides(raw, overrides), folder / files[0])
