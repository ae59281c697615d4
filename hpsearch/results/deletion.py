"""``hpsearch delete``: a study removed from both stores, so that its name is free again.

From MLflow: the study's experiment, its runs and their artifacts, for good on a database
store (MLflow's own ``delete_experiment`` only marks them deleted, and the name stays
taken). From Optuna: the study of that name in its storage. Registered model versions stay
(with the files they point to) unless asked; the study's lock refuses while it runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from hpsearch.errors import UserError
from hpsearch.study import DEFAULT_OPTUNA_STORAGE, absolute_sqlite, redact_text, sqlite_path
from hpsearch.tracking.lock import StoreLock, lock_path
from hpsearch.tracking.names import BACKEND_TAG, STORAGE_TAG
from hpsearch.tracking.tracker import StudyTracker


@dataclass
class Deletion:
    """What deleting a study removes (and keeps)."""

    name: str
    tracking_uri: str
    experiment_id: str
    run_ids: list[str]
    artifact_uris: dict[str, str]  # by run id
    optuna_storage: str | None  # None: a grid study, no Optuna study to delete
    versions: list[tuple[str, str]]  # (version, run id) registered from the study's runs
    delete_models: bool
    # Filled in as it happens.
    removed_for_good: bool = False
    optuna_deleted: bool = False
    kept_versions: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """The question to confirm: what goes, what stays."""
        parts = [f"{len(self.run_ids)} MLflow runs and their artifacts"]
        if self.optuna_storage is not None:
            parts.append(f"the Optuna study in {redact_text(self.optuna_storage)}")
        if self.versions:
            versions = ", ".join(version for version, _ in self.versions)
            what = "deleted" if self.delete_models else "kept"
            parts.append(f"registered model versions {versions} {what}")
        return f"delete study {self.name!r}: " + "; ".join(parts)


def delete_study(
    name: str,
    tracking_uri: str,
    *,
    storage: str | None = None,
    models: bool = False,
    confirm: Callable[[str], bool] | None = None,
) -> Deletion | None:
    """Delete the study ``name``; None when ``confirm`` (asked what will go) said no.

    ``storage``: the Optuna storage (default: the one the study recorded, else the
    default beside the command's folder). ``models``: delete the model versions registered
    from the study's runs too (and the registered model, once it has no version left).
    """
    tracker = StudyTracker.find(name, tracking_uri)
    parent = tracker.parent_run()
    optuna_storage = None
    if parent.data.tags.get(BACKEND_TAG, "optuna") == "optuna":
        optuna_storage = _optuna_storage(storage, parent.data.tags.get(STORAGE_TAG))
    uris = [tracking_uri] if optuna_storage is None else [optuna_storage, tracking_uri]
    with _study_lock(name, uris):
        deletion = _plan(tracker, optuna_storage, models)
        if confirm is not None and not confirm(deletion.describe()):
            return None
        _delete_models(tracker, deletion)
        _delete_runs(tracker, deletion)
        if optuna_storage is not None:
            deletion.optuna_deleted = _delete_optuna_study(name, optuna_storage)
    return deletion


def _optuna_storage(given: str | None, recorded: str | None) -> str:
    if given:
        return absolute_sqlite(given)
    if recorded and "***" not in recorded:  # a password was not recorded: ask for it
        return recorded
    return absolute_sqlite(DEFAULT_OPTUNA_STORAGE)


@contextmanager
def _study_lock(name: str, uris: list[str]) -> Iterator[None]:
    """The study's lock held (a ``run`` starting meanwhile is refused), or a refusal."""
    lock = StoreLock(lock_path(name, *uris), name, name)
    with ExitStack() as stack:
        try:
            stack.enter_context(lock)
        except UserError:
            raise UserError(
                f"{name}: the study is running (its lock {lock.path} is held); delete it once"
                " that run has ended"
            ) from None
        yield


def _plan(tracker: StudyTracker, optuna_storage: str | None, models: bool) -> Deletion:
    from mlflow.entities import ViewType

    client = tracker.client
    runs, token = [], None
    while True:
        page = client.search_runs(
            [tracker.experiment_id], run_view_type=ViewType.ALL, max_results=1000, page_token=token
        )
        runs.extend(page)
        token = page.token
        if not token:
            break
    run_ids = [run.info.run_id for run in runs]
    owned = set(run_ids)
    versions = []
    if _registered(client, tracker.study_name):
        found = client.search_model_versions(f"name = '{tracker.study_name}'")
        versions = sorted(
            ((str(v.version), v.run_id) for v in found if v.run_id in owned),
            key=lambda pair: int(pair[0]),
        )
    return Deletion(
        name=tracker.study_name,
        tracking_uri=tracker.tracking_uri,
        experiment_id=tracker.experiment_id,
        run_ids=run_ids,
        artifact_uris={run.info.run_id: run.info.artifact_uri for run in runs},
        optuna_storage=optuna_storage,
        versions=versions,
        delete_models=models,
    )


def _registered(client, name: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        return False
    return True


def _delete_models(tracker: StudyTracker, deletion: Deletion) -> None:
    """The study's registered versions, with ``--models``; the registered model too once
    it has no version left."""
    client = tracker.client
    if not deletion.delete_models:
        deletion.kept_versions = [version for version, _ in deletion.versions]
        return
    for version, _ in deletion.versions:
        client.delete_model_version(deletion.name, version)
    if deletion.versions and not client.search_model_versions(f"name = '{deletion.name}'"):
        client.delete_registered_model(deletion.name)


def _delete_runs(tracker: StudyTracker, deletion: Deletion) -> None:
    """The experiment, its runs and their artifacts (but those a kept model version points
    to). On a tracking server, where runs cannot be removed for good, the experiment is
    renamed before it is deleted, so that its name is free; the server's ``mlflow gc``
    removes it."""
    from hpsearch.compat.mlflow import can_hard_delete, hard_delete

    client = tracker.client
    kept = set(deletion.kept_versions)
    kept_runs = {run_id for version, run_id in deletion.versions if version in kept}
    experiment = client.get_experiment(deletion.experiment_id)
    if not can_hard_delete(client):
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
        client.rename_experiment(deletion.experiment_id, f"{deletion.name}.deleted-{stamp}")
        client.delete_experiment(deletion.experiment_id)
        return
    client.delete_experiment(deletion.experiment_id)  # its runs are marked deleted with it
    for run_id, uri in deletion.artifact_uris.items():
        if run_id not in kept_runs:
            _delete_artifacts(uri)
    hard_delete(client, deletion.run_ids, deletion.experiment_id)
    deletion.removed_for_good = True
    _remove_if_empty(_local_folder(experiment.artifact_location))


def _delete_artifacts(uri: str) -> None:
    """A run's artifacts; on this machine, its folder too (``RUN_ID/artifacts``: MLflow's
    own deletion leaves ``RUN_ID/``)."""
    from mlflow.exceptions import MlflowException
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    try:
        get_artifact_repository(uri).delete_artifacts()
    except (MlflowException, OSError):  # already gone, or a store that cannot delete
        pass
    folder = _local_folder(uri)
    if folder is not None:
        _remove_if_empty(folder)
        _remove_if_empty(folder.parent)


def _local_folder(uri: str | None) -> Path | None:
    if not uri or not uri.startswith("file:"):
        return None
    from urllib.parse import unquote, urlparse

    return Path(unquote(urlparse(uri).path))


def _remove_if_empty(folder: Path | None) -> None:
    """An empty folder on this machine (a run's, the experiment's)."""
    if folder is None:
        return
    try:
        folder.rmdir()
    except OSError:  # not empty (a kept model version's files), or gone
        pass


def _delete_optuna_study(name: str, storage: str) -> bool:
    """The Optuna study ``name``; False when the storage has none of that name."""
    import optuna

    database = sqlite_path(storage)
    if database is not None and not database.exists():
        return False
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        optuna.delete_study(study_name=name, storage=storage)
    except KeyError:
        return False
    return True
