"""Where the training happens: a worker process replaced every few trials, or this process.

TensorFlow keeps about 11 MB of every model it has built, even after
``keras.backend.clear_session()`` and garbage collection (docs/benchmarks.md), so a study
of hundreds of trials in one process grows by gigabytes: the classic complaint about
tuners. hpsearch therefore trains in a worker process and replaces it after
``search.trials_per_process`` trials; the study's own process only decides what to try and
records it. Workers are forked from a fork server that has already imported TensorFlow,
so a new one is ready in about a second instead of the six a fresh interpreter needs.

Both trainers speak the same three verbs (``evaluate_fold``, ``evaluate_grid``, ``refit``)
and give the same numbers: every fit seeds itself from the study's seed.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
from abc import ABC, abstractmethod
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpsearch.compat.multiprocessing import close_fork_server_alive_fd, worker_processes
from hpsearch.data.inputs import is_text
from hpsearch.errors import TrialFailed
from hpsearch.models.reuse import BUILT_MODELS, freeze_long_lived_objects, release_keras_memory
from hpsearch.models.tensorflow_import import hide_tensorflow_start_up
from hpsearch.search.evaluation import FoldResult
from hpsearch.search.gpus import MEMORY_GROWTH, visible_gpus, worker_gpu_environment

# Imported by the fork server once, so that every worker starts with TensorFlow loaded
# and frozen (the estimator module imports Keras; the study's own process never does).
_PRELOAD = ["hpsearch.search.worker_preload"]


@dataclass
class RefitResult:
    """The best candidate refitted on all training data, as the study's process needs it."""

    test_metrics: dict[str, float]
    facts: dict[str, Any]
    forecast: dict[str, list] | None = field(default=None)


class Trainer(ABC):
    """Fits and scores candidates of one study's ``CrossValidation``."""

    # Trials this trainer runs at once (from as many threads): >1 for ParallelTrainer.
    jobs = 1

    def __init__(self, cross_validation) -> None:
        self.cross_validation = cross_validation
        # Set when Ctrl-C or SIGTERM stopped the workers: a trial failing now was cut short
        # by the interruption (recorded KILLED, redone on resume), not by its own error.
        self.stopping = False

    @abstractmethod
    def evaluate_fold(
        self, params: dict[str, Any], fold: int, reports=None, trial: int | None = None
    ) -> FoldResult:
        """One candidate fitted and scored on one fold; ``reports`` makes the fit report
        each epoch to its Optuna trial; ``trial`` names the fit's records
        (``FoldPlan.for_trial``)."""

    def score_kept_epochs(
        self, params: dict[str, Any], shorter: list[int], trial: int | None = None
    ) -> dict[int, list[FoldResult]]:
        """``params`` with each of the ``shorter`` epochs, scored on every fold from the
        states the folds of ``params`` just passed through (no training): by epochs, the
        fold results, their records under ``trial``'s name. An epochs value some fold did
        not reach is left out; a trainer that keeps no states scores none."""
        return {}

    @abstractmethod
    def evaluate_grid(self, candidates: list[dict[str, Any]], n_jobs: int) -> dict[str, Any]:
        """GridSearchCV's ``cv_results_`` for exactly these candidates, in their order."""

    @abstractmethod
    def refit(self, params: dict[str, Any], model_dir: Path) -> RefitResult:
        """Fit on all training data, save the deployable model into ``model_dir``, score."""

    @abstractmethod
    def trial_done(self, *, recycle: bool = True) -> None:
        """Called after every trial: the moment to release what it held (``recycle``
        False: not yet, the next trial builds on it)."""

    def chunk_size(self, n_jobs: int) -> int:
        """Grid candidates to give one GridSearchCV at a time."""
        return n_jobs

    @abstractmethod
    def close(self, *, interrupted: bool = False) -> None:
        """Release the worker (at once, killing its fit, when ``interrupted``)."""

    def __enter__(self) -> Trainer:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        self.close(interrupted=error is not None)


class InProcessTrainer(Trainer):
    """Trains in this process (``search.trials_per_process: 0``): no isolation, no start-up."""

    def __enter__(self) -> InProcessTrainer:
        hide_tensorflow_start_up()
        import hpsearch.models.estimator  # noqa: F401 - TensorFlow, before the freeze

        freeze_long_lived_objects()
        return self

    def evaluate_fold(self, params, fold, reports=None, trial=None):
        return evaluate_fold(self.cross_validation, params, fold, reports, trial)

    def score_kept_epochs(self, params, shorter, trial=None):
        return score_kept_epochs(self.cross_validation, params, shorter, trial)

    def evaluate_grid(self, candidates, n_jobs):
        return grid_results(self.cross_validation, candidates, n_jobs)

    def refit(self, params, model_dir):
        return refit_and_save(self.cross_validation, params, model_dir)

    def trial_done(self, *, recycle: bool = True) -> None:
        # This process lives on after the study: keep no model between trials.
        if recycle:
            BUILT_MODELS.forget()
            release_keras_memory()

    def close(self, *, interrupted: bool = False) -> None:
        """This process lives on: its objects are the collector's again."""
        import gc

        gc.unfreeze()


class WorkerTrainer(Trainer):
    """Trains in one worker process at a time, replaced after ``trials_per_process`` trials."""

    def __init__(
        self,
        cross_validation,
        *,
        trials_per_process: int,
        threads: int | None = None,
        slot: int = 0,
    ) -> None:
        super().__init__(cross_validation)
        self.trials_per_process = trials_per_process
        # TensorFlow's intra-op threads in the worker (None: one per core, TF's default).
        self.threads = threads
        # Which parallel job this is: with several GPUs, job k trains on GPU k mod their
        # number (hpsearch.search.gpus).
        self.slot = slot
        self._executor: ProcessPoolExecutor | None = None
        self._trials_in_worker = 0

    def evaluate_fold(self, params, fold, reports=None, trial=None):
        return self._call(_worker_evaluate_fold, params, fold, reports, trial)

    def score_kept_epochs(self, params, shorter, trial=None):
        return self._call(_worker_score_kept_epochs, params, shorter, trial)

    def evaluate_grid(self, candidates, n_jobs):
        return self._call(_worker_evaluate_grid, candidates, n_jobs)

    def refit(self, params, model_dir):
        return self._call(_worker_refit, params, str(model_dir))

    def trial_done(self, *, recycle: bool = True) -> None:
        self._trials_in_worker += 1
        if recycle and self._trials_in_worker >= self.trials_per_process:
            self.close()

    def close(self, *, interrupted: bool = False) -> None:
        executor, self._executor = self._executor, None
        self._trials_in_worker = 0
        if executor is None:
            return
        if interrupted:
            # Ctrl-C or SIGTERM reached this process: stop the fit now, not when it ends.
            for process in worker_processes(executor):
                process.kill()
        executor.shutdown(wait=True, cancel_futures=True)

    def _call(self, function, *args):
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=1,
                mp_context=_forkserver_context(),
                initializer=_start_worker,
                initargs=(
                    self.cross_validation,
                    os.getcwd(),
                    self.threads,
                    worker_gpu_environment(self.slot),
                ),
            )
        try:
            return self._executor.submit(function, *args).result()
        except TrialFailed:
            raise  # the candidate failed, not the worker: it trains the next one
        except BrokenProcessPool:
            # The worker died (killed, out of memory, a crash in native code): this
            # candidate fails, the next one gets a new worker.
            self.close()
            raise TrialFailed("the worker process training this trial died") from None
        except BaseException:
            self.close(interrupted=True)
            raise


class ParallelTrainer(Trainer):
    """One worker process per thread of a parallel Optuna study (``n_jobs`` > 1).

    Optuna runs ``n_jobs`` trials at once in threads of this process; each thread trains
    in a worker of its own, so the trials really run in parallel (the threads only wait),
    and each worker's TensorFlow uses its share of the cores.
    """

    def __init__(
        self,
        cross_validation,
        *,
        trials_per_process: int,
        n_jobs: int,
        threads: int | None = None,
    ) -> None:
        super().__init__(cross_validation)
        self.jobs = n_jobs
        self.trials_per_process = trials_per_process
        self.threads = threads or threads_per_job(n_jobs)
        self._local = threading.local()
        self._trainers: list[WorkerTrainer] = []
        self._lock = threading.Lock()
        self._handlers: dict[int, Any] = {}

    def __enter__(self) -> ParallelTrainer:
        """Ctrl-C and SIGTERM first stop the workers, so that the threads waiting on them
        return at once (Python delivers signals to the main thread only, and Optuna's and
        our thread pools wait for their threads before the interruption can propagate)."""
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._handlers[signum] = signal.getsignal(signum)
                signal.signal(signum, self._interrupted)
        return self

    def _interrupted(self, signum, frame) -> None:
        self.stopping = True
        self.close(interrupted=True)
        previous = self._handlers.get(signum)
        if callable(previous):
            previous(signum, frame)  # raises KeyboardInterrupt (or the CLI's Terminated)
        raise KeyboardInterrupt

    def _trainer(self) -> WorkerTrainer:
        if self.stopping:  # interrupted: no thread starts a new fit
            raise KeyboardInterrupt
        trainer = getattr(self._local, "trainer", None)
        if trainer is None:
            with self._lock:
                trainer = WorkerTrainer(
                    self.cross_validation,
                    trials_per_process=self.trials_per_process,
                    threads=self.threads,
                    slot=len(self._trainers),
                )
                self._trainers.append(trainer)
            self._local.trainer = trainer
        return trainer

    def evaluate_fold(self, params, fold, reports=None, trial=None):
        return self._trainer().evaluate_fold(params, fold, reports, trial)

    def score_kept_epochs(self, params, shorter, trial=None):
        # The thread's own worker: the one that just trained ``params``.
        return self._trainer().score_kept_epochs(params, shorter, trial)

    def evaluate_grid(self, candidates, n_jobs):
        return self._trainer().evaluate_grid(candidates, n_jobs)

    def refit(self, params, model_dir):
        # After the trials (the threads are done): a worker that exists already will do.
        with self._lock:
            trainer = self._trainers[0] if self._trainers else None
        return (trainer or self._trainer()).refit(params, model_dir)

    def trial_done(self, *, recycle: bool = True) -> None:
        self._trainer().trial_done(recycle=recycle)

    def close(self, *, interrupted: bool = False) -> None:
        with self._lock:
            trainers = list(self._trainers)
        for trainer in trainers:
            trainer.close(interrupted=interrupted)

    def __exit__(self, kind, error, traceback) -> None:
        super().__exit__(kind, error, traceback)
        for signum, handler in self._handlers.items():
            signal.signal(signum, handler)
        self._handlers.clear()


def threads_per_job(n_jobs: int) -> int:
    """TensorFlow intra-op threads for each of ``n_jobs`` processes sharing the cores."""
    return max(1, usable_cores() // n_jobs)


def usable_cores() -> int:
    """The cores this process may run on (``taskset``, a container's cpuset, a batch
    scheduler's allocation), as TensorFlow counts them for its own default: the machine's
    count would give two jobs pinned to two of 16 cores eight threads each."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def start_fork_server(study) -> None:
    """Start the fork server that workers are forked from, if the study will have workers.

    It imports TensorFlow (~4 s here) before it can fork the first worker. Started when
    the first trial asks for a worker, that import held up the first trial; started as
    soon as the study and its data are checked, it overlaps the study's own preparation
    (the MLflow store and parent run, folds, baseline) on the other core. Returns at once.
    """
    if study.search.trials_per_process == 0 or uses_dask(study):
        return
    from multiprocessing import forkserver

    _forkserver_context()
    forkserver.ensure_running()


def _forkserver_context():
    """The multiprocessing context workers come from: a fork server that has imported
    ``_PRELOAD`` (TensorFlow) once."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    return context


def uses_dask(study) -> bool:
    """A grid whose fits run on a Dask cluster (``search.grid_backend: dask``)."""
    return study.search.backend == "grid" and study.search.grid_backend == "dask"


# --- the work itself (in a worker, or in this process) ----------------------------------
# Each runs its fits one after the other, scoring each before the next starts: the folds
# and candidates of one architecture may share one built model (hpsearch.models.reuse).


def evaluate_fold(
    cross_validation, params: dict[str, Any], fold: int, reports=None, trial: int | None = None
):
    with _reusing(cross_validation):
        return cross_validation.evaluate_fold(params, fold, reports, trial)


def score_kept_epochs(
    cross_validation, params: dict[str, Any], shorter: list[int], trial: int | None = None
):
    """See ``Trainer.score_kept_epochs``: each fold of each shorter fit takes the state the
    longer fit kept (``hpsearch.models.reuse``), so that only its scoring runs here."""
    folds = range(len(cross_validation.splits))
    kept = BUILT_MODELS.kept_epochs()
    results = {}
    with _reusing(cross_validation):
        for epochs in shorter:
            if all((fold, epochs) in kept for fold in folds):
                sibling = {**params, "epochs": epochs}
                results[epochs] = [
                    cross_validation.evaluate_fold(sibling, f, trial=trial) for f in folds
                ]
    return results


def _reusing(cross_validation):
    """Built models shared between fits; epoch states kept where a shorter fit can take
    them: a grid's candidates that differ only in ``epochs``, Optuna's shared epochs."""
    study = cross_validation.study
    return BUILT_MODELS.reusing(
        study.search.reuse_models,
        keep_epochs=study.search.backend == "grid" or bool(study.shared_epochs),
    )


def grid_results(cross_validation, candidates: list[dict[str, Any]], n_jobs: int):
    """scikit-learn's GridSearchCV over exactly ``candidates``, fold by fold."""
    import warnings

    from sklearn.model_selection import GridSearchCV

    search = GridSearchCV(
        cross_validation.estimator(candidates[0]),
        [{name: [value] for name, value in candidate.items()} for candidate in candidates],
        scoring=cross_validation.grid_scorer(),
        cv=cross_validation.splits,
        n_jobs=n_jobs,
        error_score=float("nan"),
        refit=False,  # the runner refits the best of all sessions of the study
    )
    with warnings.catch_warnings(), _reusing(cross_validation), _threads_per_job(n_jobs):
        warnings.simplefilter("ignore")  # failures are recorded per trial instead
        search.fit(
            cross_validation.dataset.X,
            cross_validation.dataset.y,
            **cross_validation.fold_plan.fit_params(),
        )
    n_splits = len(cross_validation.splits)
    keys = [f"split{k}_test_score" for k in range(n_splits)] + ["mean_fit_time", "mean_score_time"]
    return {key: [float(v) for v in search.cv_results_[key]] for key in keys}


@contextmanager
def _threads_per_job(n_jobs: int):
    """TensorFlow thread pools sized so that ``n_jobs`` joblib workers share the cores.

    Each worker would otherwise size its pools to every core: two workers on two cores
    then run four busy threads. TensorFlow reads these variables when it starts in the
    worker (joblib's workers are new processes); values the user set are kept. Those
    workers also hide TensorFlow's start-up lines, as ours do (unless ``--verbose``).
    """
    if n_jobs <= 1:
        yield
        return
    from joblib import parallel_config

    environment = tf_thread_environment(n_jobs)
    saved = {name: os.environ.get(name) for name in environment}
    for name, value in environment.items():
        os.environ.setdefault(name, value)
    try:
        with parallel_config(backend="loky", initializer=hide_tensorflow_start_up):
            yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)


def tf_thread_environment(n_jobs: int) -> dict[str, str]:
    """The variables TensorFlow reads at start-up to size its pools for one of ``n_jobs``
    processes sharing the cores (for processes started by others: joblib, Dask), and on a
    machine with GPUs memory taken as it grows, so that they can share one."""
    environment = {
        "TF_NUM_INTRAOP_THREADS": str(threads_per_job(n_jobs)),
        "TF_NUM_INTEROP_THREADS": "1",
    }
    if visible_gpus():  # the workers share the GPUs as they come: memory growth only
        environment.update(MEMORY_GROWTH)
    return environment


def refit_and_save(cross_validation, params: dict[str, Any], model_dir: Path) -> RefitResult:
    """Fit on all training data; save ``model.keras`` and the input example; score the test set."""
    import numpy as np

    from hpsearch.models.estimator import deployable_model
    from hpsearch.search.held_out_metrics import extra_test_metrics, forecast_table

    dataset = cross_validation.dataset
    with _reusing(cross_validation):
        estimator = cross_validation.refit(params)
    metrics = {"test_score": cross_validation.test_score(estimator)}
    metrics.update(
        {f"test_{name}": value for name, value in extra_test_metrics(dataset, estimator).items()}
    )
    model_dir = Path(model_dir)
    deployable_model(estimator).save(model_dir / "model.keras")
    example = np.asarray(dataset.X[:5])
    if is_text(example):  # raw text: a fixed-width string array needs no pickle
        example = example.astype(str)
    np.save(model_dir / "input_example.npy", example, allow_pickle=False)
    classes = getattr(estimator, "classes_", None)
    facts = {
        "classes": None
        if classes is None
        else [c.item() if hasattr(c, "item") else c for c in classes],
        "target_type": getattr(estimator, "target_type_", None),
        "input_shape": list(estimator.X_shape_[1:]),
        "input_dtype": str(estimator.X_dtype_),
    }
    forecast = None
    if dataset.kind == "forecast" and dataset.has_test:
        forecast = forecast_table(dataset, estimator)
    return RefitResult(
        test_metrics={k: v for k, v in metrics.items() if v is not None},
        facts=facts,
        forecast=forecast,
    )


# --- inside the worker process -----------------------------------------------------------

_cross_validation = None


def _start_worker(
    cross_validation, working_dir: str, threads: int | None, gpu_environment: dict[str, str]
) -> None:
    global _cross_validation
    _cross_validation = cross_validation
    # Before TensorFlow first touches a device (the fork server imported it, never
    # initialised one): this worker's GPU, and memory taken as it grows.
    os.environ.update(gpu_environment)
    # Forked from the fork server, which kept the folder it started in: use the study's.
    os.chdir(working_dir)
    if threads is not None:
        # Before this worker's first TensorFlow operation creates the thread pools.
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    # Ctrl-C reaches the whole terminal's process group: the study's process decides what
    # an interruption means and stops this worker itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The fork server lives while any process holds the write end of its "alive" pipe,
    # and it hands that end to every process it forks. A worker keeping it would keep the
    # fork server alive after the study's process is SIGKILLed, and the fork server would
    # keep this worker alive (below): both orphaned for good. Let go of it.
    close_fork_server_alive_fd()
    if sys.platform.startswith("linux"):
        # Die with the fork server, which exits when the study's process dies (even on
        # SIGKILL): no orphan keeps training.
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    freeze_long_lived_objects()  # TensorFlow and the study's data: never walked again


def _in_worker(function, *args):
    """Run ``function``; errors cross back as plain text.

    TensorFlow's exceptions do not survive pickling, so the parent gets a ``TrialFailed``
    carrying ``"Type: message"``.
    """
    try:
        return function(_cross_validation, *args)
    except Exception as error:
        raise TrialFailed(describe_error(error)) from None


def _worker_evaluate_fold(params, fold, reports, trial):
    return _in_worker(evaluate_fold, params, fold, reports, trial)


def _worker_score_kept_epochs(params, shorter, trial):
    return _in_worker(score_kept_epochs, params, shorter, trial)


def _worker_evaluate_grid(candidates, n_jobs):
    return _in_worker(grid_results, candidates, n_jobs)


def _worker_refit(params, model_dir):
    return _in_worker(refit_and_save, params, Path(model_dir))


def describe_error(error: BaseException) -> str:
    """``"Type: message"``; a ``TrialFailed`` (already described) keeps its message."""
    if isinstance(error, TrialFailed):
        return str(error)
    return f"{type(error).__name__}: {error}"
