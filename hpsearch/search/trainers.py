"""Which trainer a study gets: worker processes of ours (one, or one per job), this process
(``trials_per_process: 0``) or a Dask cluster (a grid with ``grid_backend: dask``).

Apart from ``hpsearch.search.trainer`` (the trainers) and ``hpsearch.search.dask_cluster``
(the Dask one, built on them), so that neither imports the other's module.
"""

from __future__ import annotations

from hpsearch.search.trainer import (
    InProcessTrainer,
    ParallelTrainer,
    Trainer,
    WorkerTrainer,
    uses_dask,
)


def make_trainer(study, cross_validation) -> Trainer:
    """Workers of our own (one, or one per job); in this process with ``trials_per_process:
    0``, where a grid's ``n_jobs`` goes to GridSearchCV (joblib's worker processes)."""
    per_process = study.search.trials_per_process
    n_jobs = study.search.n_jobs
    if uses_dask(study):
        from hpsearch.search.dask_cluster import DaskTrainer

        return DaskTrainer(cross_validation, trials_per_process=max(per_process, 1))
    if per_process == 0:
        return InProcessTrainer(cross_validation)
    threads = study.search.threads  # None: TensorFlow's default (every core) for one job
    if n_jobs > 1:
        return ParallelTrainer(
            cross_validation, trials_per_process=per_process, n_jobs=n_jobs, threads=threads
        )
    return WorkerTrainer(cross_validation, trials_per_process=per_process, threads=threads)
