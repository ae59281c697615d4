"""A grid's fits on a Dask cluster, through joblib's Dask backend (``grid_backend: dask``).

GridSearchCV does not change: scikit-learn hands its fits to joblib, and joblib's Dask
backend sends them to the cluster's workers — a ``LocalCluster`` of ``n_jobs`` worker
processes on this machine when ``search.dask_scheduler`` gives no address, or the
scheduler at that address (``tcp://host:8786``) for many machines. Every fit builds its
own model there (no model reuse across fits), and each local worker's TensorFlow gets its
share of the cores. The refit of the best candidate runs in a worker process of ours, as
without Dask.

Per-epoch curves travel as files in the study's records folder: workers on other machines
need that folder on a shared filesystem (set ``TMPDIR`` to a shared mount); without it
their candidates keep their scores but lose their curves.
"""

from __future__ import annotations

from hpsearch.errors import TrialFailed, UserError
from hpsearch.models.tensorflow_import import hide_tensorflow_start_up
from hpsearch.search.trainer import (
    Trainer,
    WorkerTrainer,
    describe_error,
    grid_results,
    tf_thread_environment,
    usable_cores,
)


class DaskTrainer(Trainer):
    """Grid chunks on a Dask cluster; everything else in a worker process of ours."""

    def __init__(self, cross_validation, *, trials_per_process: int) -> None:
        super().__init__(cross_validation)
        search = cross_validation.study.search
        self.scheduler = search.dask_scheduler
        self.n_workers = search.n_jobs if search.n_jobs > 1 else usable_cores()
        self._local = WorkerTrainer(cross_validation, trials_per_process=trials_per_process)
        self._client = None
        self._cluster = None

    def _connect(self):
        if self._client is not None:
            return self._client
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise UserError(
                f"{self.cross_validation.study.source}: search.grid_backend: 'dask' needs"
                " Dask's distributed scheduler (pip install 'hpsearch[dask]')"
            ) from None
        if self.scheduler:
            self._client = Client(self.scheduler)
            return self._client
        self._cluster = LocalCluster(
            n_workers=self.n_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            env=tf_thread_environment(self.n_workers),  # each worker's share of the cores
        )
        self._client = Client(self._cluster)
        # Its workers write to this terminal: TensorFlow's start-up lines hidden there too.
        self._client.run(hide_tensorflow_start_up)
        return self._client

    def chunk_size(self, n_jobs: int) -> int:
        """Candidates per GridSearchCV: every thread of the cluster busy."""
        client = self._connect()
        return max(n_jobs, sum(client.nthreads().values()), 1)

    def evaluate_grid(self, candidates, n_jobs):
        from joblib import parallel_config

        self._connect()
        try:
            with parallel_config(backend="dask"):
                return grid_results(self.cross_validation, candidates, n_jobs=-1)
        except Exception as error:
            if not type(error).__module__.startswith("distributed"):
                raise
            # A worker died or the scheduler dropped the work (KilledWorker, a cancelled
            # future, a closed connection): these candidates fail, the grid goes on.
            raise TrialFailed(f"the Dask cluster lost this work: {describe_error(error)}") from None

    def evaluate_fold(self, params, fold, reports=None, trial=None):
        return self._local.evaluate_fold(params, fold, reports, trial)

    def refit(self, params, model_dir):
        return self._local.refit(params, model_dir)

    def trial_done(self, *, recycle: bool = True) -> None:
        """The cluster's workers keep running; nothing of ours to release per trial."""

    def close(self, *, interrupted: bool = False) -> None:
        self._local.close(interrupted=interrupted)
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
