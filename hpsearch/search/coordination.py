"""One study, many worker processes: the few steps that must not run in two at once.

Workers share an Optuna storage on PostgreSQL and an MLflow tracking server. Most of
their work needs no coordination (Optuna numbers trials atomically, MLflow runs are
independent), but three steps are "look, then act" and would race:

- opening the study: two workers finding no parent run would both create one;
- claiming a trial: the budget ``n_trials`` is a total, so a worker may start a trial
  only if finished + running trials leave room for it;
- finishing the study: the refit of the best candidate and the study's plots.

``StudyMutex`` serialises them with a PostgreSQL advisory lock on the storage's own
server (session-level, so a worker that dies releases it with its connection).
``heartbeat`` keeps a trial that a worker runs outside ``Study.optimize`` from looking
dead to the others.
"""

from __future__ import annotations

import os
import socket
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from hpsearch.errors import UserError


def worker_name() -> str:
    """This worker among the study's: its machine and process (tagged on its trial runs,
    and salting its sampler's seed so that workers started together draw apart)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def is_postgresql(url: str) -> bool:
    return url.split(":", 1)[0].split("+", 1)[0] in ("postgresql", "postgres")


class StudyMutex:
    """A lock named after the study, held by one worker at a time across machines."""

    def __init__(self, storage_url: str, study_name: str):
        if not is_postgresql(storage_url):
            raise UserError(
                f"search.storage: workers share a study through PostgreSQL"
                f" (postgresql://...), not {storage_url.split(':', 1)[0]}"
            )
        import sqlalchemy
        from sqlalchemy.pool import NullPool

        self._engine = sqlalchemy.create_engine(storage_url, poolclass=NullPool)
        # Advisory locks are keyed by a bigint; the study's name hashed, in a namespace.
        self._key = zlib.crc32(f"hpsearch.study:{study_name}".encode())
        self._local = threading.Lock()  # the threads of this process, in turn

        self._connection = None

    def acquire(self) -> None:
        from sqlalchemy import text

        self._local.acquire()
        try:
            connection = self._engine.connect()
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": self._key})
        except BaseException:
            self._local.release()
            raise
        self._connection = connection

    def release(self) -> None:
        """Let the next worker in; a no-op when already released (see the backend's claim)."""
        from sqlalchemy import text

        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
            connection.commit()
        finally:
            connection.close()  # a lost connection releases the lock on the server too
            self._local.release()

    @contextmanager
    def held(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()


@contextmanager
def heartbeat(storage, trial_id: int) -> Iterator[None]:
    """Keep ``trial_id`` alive in a heartbeat storage while this process works on it.

    Only ``Study.optimize`` beats for its trials; one asked for by hand (a worker's trial,
    an Optuna trial's shorter sibling recorded under ``search.share_epochs``) would
    otherwise look dead to the other workers after the grace period, and be failed under
    this process."""
    interval = storage.get_heartbeat_interval()
    if interval is None:  # no heartbeat: nobody fails stale trials
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval):
            storage.record_heartbeat(trial_id)

    # At once: a trial with no heartbeat is never found stale, so if this process died
    # it would stay RUNNING.
    storage.record_heartbeat(trial_id)
    beating = threading.Thread(target=beat, name=f"hpsearch-heartbeat-{trial_id}", daemon=True)
    beating.start()
    try:
        yield
    finally:
        stop.set()
        beating.join()
