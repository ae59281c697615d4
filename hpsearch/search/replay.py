"""A recorded study's cross-validation and trainer, outside ``run``: for training a trial
again (``rerun``) or refitting one (``export --trial``).

The same pieces as ``run`` (``hpsearch.runner``): the study's data through its loader, the
builder's parameters, the splits from the study's seed, and the trainer the study trains
with (its worker process and threads), so that a fit here is the fit the search made. A
grid that ran on Dask trains here in a worker process of ours: one trial needs no cluster.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from hpsearch.search.evaluation import CrossValidation
from hpsearch.search.trainer import Trainer, WorkerTrainer, start_fork_server, uses_dask
from hpsearch.search.trainers import make_trainer
from hpsearch.study import Study


@contextmanager
def study_trainer(study: Study) -> Iterator[tuple[CrossValidation, Trainer]]:
    """The study's ``CrossValidation`` and a trainer of it, released on exit."""
    from hpsearch.data import load_dataset
    from hpsearch.models.routing import builder_reference, check_model

    start_fork_server(study)  # its TensorFlow import overlaps loading the data
    dataset = load_dataset(study)
    builder_params = check_model(study, dataset.facts)
    with tempfile.TemporaryDirectory(prefix="hpsearch-folds-") as records_dir:
        cross_validation = CrossValidation(
            study, dataset, builder_reference(study), builder_params, records_dir
        )
        if uses_dask(study):
            trainer = WorkerTrainer(
                cross_validation, trials_per_process=1, threads=study.search.threads
            )
        else:
            trainer = make_trainer(study, cross_validation)
        with trainer:
            yield cross_validation, trainer
