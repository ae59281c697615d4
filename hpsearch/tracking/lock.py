"""One ``run`` of a study at a time on a local (SQLite) store.

Two processes running the same study on the same SQLite files would race for the same
candidates. The first takes an exclusive lock beside the store; the second refuses with a
clear message. The lock is a ``flock``: the operating system releases it when its process
dies, even by SIGKILL, so a crashed run never blocks the next one. Holding it also tells
the backends that any trial still marked RUNNING was abandoned by a dead process.

Stores on servers (an MLflow tracking server, PostgreSQL for Optuna) are meant to be
shared by many workers and take no lock: there, Optuna's heartbeats find dead workers.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from hpsearch.errors import UserError
from hpsearch.study import sqlite_path


def _local_folder(*uris: str) -> Path | None:
    for uri in uris:
        database = sqlite_path(uri)
        if database is not None:
            return database.parent
    return None


def lock_path(study_name: str, *uris: str) -> Path | None:
    """The lock file of a study whose stores are ``uris`` (the Optuna storage first, for an
    optuna study); None when none of them is local."""
    folder = _local_folder(*uris)
    return folder / ".locks" / f"{study_name}.lock" if folder else None


class StoreLock:
    """``with StoreLock(path, name, source):`` holds the lock file ``path`` (None: nothing to
    hold); refused with a line naming ``source`` and the study ``name``."""

    def __init__(self, path: Path | None, name: str, source: object):
        self.path = path
        self.name, self.source = name, source
        self._handle = None

    @property
    def held(self) -> bool:
        return self._handle is not None

    def __enter__(self) -> StoreLock:
        if self.path is None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 - held until __exit__
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            handle.close()
            raise UserError(
                f"{self.source}: name: the study {self.name!r} is already running"
                f" (process {owner}) on this store; wait for it, or give this one another name"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle
        return self

    def __exit__(self, *exc_info) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


class StudyLock(StoreLock):
    """``with StudyLock(study):`` holds the study's lock, if its stores are local."""

    def __init__(self, study, tracking_uri: str, *, shared: bool = False):
        uris = [tracking_uri]
        if study.search.backend == "optuna":
            uris.insert(0, study.optuna_storage())
        # A worker (``shared``) expects company: its storage coordinates, not a file lock.
        path = None if shared else lock_path(study.name, *uris)
        super().__init__(path, study.name, study.source)
