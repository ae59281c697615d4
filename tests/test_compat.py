"""hpsearch.compat: every private name hpsearch relies on is still there, and each seam does
what hpsearch uses it for, against the installed libraries (no mocks)."""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import multiprocessing
import os
import pkgutil
import platform
import subprocess
import sys
import textwrap
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

import hpsearch
import hpsearch.compat

SEAMS = sorted(module.name for module in pkgutil.iter_modules(hpsearch.compat.__path__))


def installed(library: str) -> str:
    """``library`` and the version this environment has ("Python 3.11.9" for the stdlib)."""
    if library in sys.stdlib_module_names:
        return f"Python {platform.python_version()}"
    try:
        return f"{library} {importlib.metadata.version(library)}"
    except importlib.metadata.PackageNotFoundError:
        distributions = importlib.metadata.packages_distributions().get(library, [])
        found = [f"{name} {importlib.metadata.version(name)}" for name in distributions]
        return ", ".join(found) or f"{library} (version unknown)"


def test_the_seams_are_found():
    assert {"optuna", "mlflow", "tensorflow", "multiprocessing"} <= set(SEAMS)


@pytest.mark.parametrize("library", SEAMS)
def test_no_private_name_a_seam_relies_on_is_missing(library):
    seam = importlib.import_module(f"hpsearch.compat.{library}")
    assert callable(getattr(seam, "missing", None)), f"hpsearch/compat/{library}.py: no missing()"
    missing = seam.missing()
    assert missing == [], (
        f"{installed(library)} lacks what hpsearch/compat/{library}.py uses: "
        f"{', '.join(missing)}; find the public way or the name's new place there, "
        "or bound the version in pyproject.toml"
    )


@pytest.mark.parametrize("library", SEAMS)
def test_a_seam_imports_nothing_of_hpsearch(library):
    """So that any layer may use a seam without importing a layer above it."""
    path = os.path.join(hpsearch.compat.__path__[0], f"{library}.py")
    with open(path) as file:
        tree = ast.parse(file.read())
    imported = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    ]
    imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert not [name for name in imported if name.split(".")[0] == "hpsearch"]


# --- optuna --------------------------------------------------------------------------------


def test_running_trial_reports_as_the_trial_another_process_asked_for():
    import optuna

    from hpsearch.compat.optuna import running_trial

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = optuna.storages.InMemoryStorage()
    optuna.create_study(storage=storage, study_name="seam").ask()
    asked = optuna.create_study(storage=storage, study_name="seam", load_if_exists=True).ask()
    study_id = storage.get_study_id_from_name("seam")
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, asked.number)

    trial = running_trial(optuna.load_study(study_name="seam", storage=storage), trial_id)
    trial.report(0.25, step=1)

    assert trial.number == asked.number == 1
    assert storage.get_trial(trial_id).intermediate_values == {1: 0.25}
    assert trial.should_prune() is False  # the default MedianPruner, before its warm-up


# --- mlflow --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mlflow_store(tmp_path_factory):
    """A SQLite store made by the seam, as hpsearch makes its template."""
    import sqlalchemy

    from hpsearch.compat.mlflow import initialize_tables

    database = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    engine = sqlalchemy.create_engine(f"sqlite:///{database}")
    try:
        initialize_tables(engine)
        tables = set(sqlalchemy.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    return f"sqlite:///{database}", tables


def test_initialize_tables_makes_a_store_mlflow_takes_as_it_is(mlflow_store):
    from mlflow import MlflowClient

    uri, tables = mlflow_store
    assert {"experiments", "runs", "metrics", "params", "tags", "alembic_version"} <= tables
    client = MlflowClient(uri)  # would migrate (and log so) if the schema were behind
    assert client.get_experiment(client.create_experiment("seam")).name == "seam"


def test_published_system_metrics_turns_true_with_the_first_batch(mlflow_store):
    from mlflow import MlflowClient
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    from hpsearch.compat.mlflow import published_system_metrics

    uri, _ = mlflow_store
    client = MlflowClient(uri)
    run = client.create_run(client.create_experiment("monitored"))
    monitor = SystemMetricsMonitor(run.info.run_id, tracking_uri=uri)  # not started
    assert published_system_metrics(monitor) is False
    monitor.collect_metrics()
    monitor.publish_metrics(monitor.aggregate_metrics())
    monitor.mlflow_logger.flush()
    assert published_system_metrics(monitor) is True
    assert any(key.startswith("system/") for key in client.get_run(run.info.run_id).data.metrics)


def test_hard_delete_frees_a_deleted_experiment_s_name(mlflow_store):
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from hpsearch.compat.mlflow import can_hard_delete, hard_delete

    uri, _ = mlflow_store
    client = MlflowClient(uri)
    experiment = client.create_experiment("deleted-for-good")
    run = client.create_run(experiment)
    client.log_metric(run.info.run_id, "score", 0.5)
    client.delete_experiment(experiment)
    with pytest.raises(MlflowException):  # only marked deleted: the name is still taken
        client.create_experiment("deleted-for-good")
    assert can_hard_delete(client)
    hard_delete(client, [run.info.run_id], experiment)
    with pytest.raises(MlflowException):
        client.get_run(run.info.run_id)
    again = client.create_experiment("deleted-for-good")  # SQLite may give it the same id
    assert client.search_runs([again]) == []
    assert can_hard_delete(MlflowClient("http://127.0.0.1:9")) is False  # a server's REST store


# --- multiprocessing ------------------------------------------------------------------------


def test_worker_processes_are_the_pool_s_own_until_it_shuts_down():
    from hpsearch.compat.multiprocessing import worker_processes

    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    with pool:
        pid = pool.submit(os.getpid).result()
        assert [process.pid for process in worker_processes(pool)] == [pid]
    assert worker_processes(pool) == []


def test_close_fork_server_alive_fd_lets_go_of_the_pipe_in_a_forked_worker(tmp_path):
    """In a fresh interpreter: a fork server is one per process and lives on."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        textwrap.dedent(
            """
            import multiprocessing
            import os
            from concurrent.futures import ProcessPoolExecutor
            from multiprocessing import forkserver

            from hpsearch.compat.multiprocessing import close_fork_server_alive_fd

            def in_worker():
                held = forkserver._forkserver._forkserver_alive_fd
                close_fork_server_alive_fd()
                try:
                    os.fstat(held)
                except OSError:
                    still_open = False
                else:
                    still_open = True
                return held is not None, still_open, forkserver._forkserver._forkserver_alive_fd

            if __name__ == "__main__":
                context = multiprocessing.get_context("forkserver")
                with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
                    print(pool.submit(in_worker).result())
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(probe)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(True, False, None)"


# --- tensorflow -----------------------------------------------------------------------------


@pytest.fixture
def tensorflow_state():
    """TensorFlow's global seed and op determinism, put back as they were after the test."""
    import tensorflow as tf
    from tensorflow.python.eager import context

    from hpsearch.compat.tensorflow import disable_op_determinism, op_determinism_enabled

    eager = context.context()
    saved = {name: vars(eager)[name] for name in ("_seed", "_rng") if name in vars(eager)}
    determinism = op_determinism_enabled()
    yield tf
    for name in ("_seed", "_rng"):
        vars(eager).pop(name, None)
    vars(eager).update(saved)
    if not determinism:
        disable_op_determinism()


def test_global_seed_is_what_set_seed_set(tensorflow_state):
    from hpsearch.compat.tensorflow import global_seed

    tensorflow_state.random.set_seed(17)
    assert global_seed() == 17


def test_set_global_seed_keeping_kernels_draws_the_same_op_seeds_and_keeps_the_streams(
    tensorflow_state,
):
    from hpsearch.compat.tensorflow import (
        can_set_global_seed_keeping_kernels,
        global_seed,
        set_global_seed_keeping_kernels,
    )

    tf = tensorflow_state
    tf.random.set_seed(11)
    op_seeds = [tf.compat.v1.random.get_seed(None) for _ in range(3)]  # drawn from the global seed
    first = tf.random.uniform([4], seed=1).numpy()
    assert can_set_global_seed_keeping_kernels()

    set_global_seed_keeping_kernels(11)
    assert global_seed() == 11
    assert [tf.compat.v1.random.get_seed(None) for _ in range(3)] == op_seeds
    # The stateful op's kernel was kept: its stream goes on instead of starting again.
    assert (tf.random.uniform([4], seed=1).numpy() != first).any()
    tf.random.set_seed(11)  # what the seam avoids: the kernels are dropped
    assert (tf.random.uniform([4], seed=1).numpy() == first).all()


def test_op_determinism_is_switched_and_read(tensorflow_state):
    from hpsearch.compat.tensorflow import (
        disable_op_determinism,
        enable_op_determinism,
        op_determinism_enabled,
    )

    enable_op_determinism()
    assert op_determinism_enabled() is True
    disable_op_determinism()
    assert op_determinism_enabled() is False


def test_concrete_functions_are_every_trace(tensorflow_state):
    from hpsearch.compat.tensorflow import concrete_functions

    tf = tensorflow_state
    double = tf.function(lambda x: x * 2)
    double(tf.constant(1.0))
    double(tf.constant([1.0, 2.0]))
    traced = concrete_functions(double)
    assert len(traced) == double.experimental_get_tracing_count() == 2
    assert all(concrete.graph.as_graph_def().node for concrete in traced)


def test_python_random_for_builds_gives_a_build_its_own_seeds():
    import random

    import keras

    def build():
        return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])

    from hpsearch.compat import keras as keras_seam

    weights = []
    for _ in range(2):
        keras.utils.set_random_seed(1)
        random.random()  # another thread's draw from the shared generator
        with keras_seam.python_random_for_builds(5):
            weights.append(build().get_weights()[0])
    np.testing.assert_array_equal(*weights)


def test_validation_results_are_what_evaluate_says():
    import keras

    from hpsearch.compat import keras as keras_seam

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(3, kernel_regularizer="l2"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(loss="binary_crossentropy", metrics=["accuracy"])
    X = np.random.default_rng(0).normal(size=(20, 4)).astype("float32")
    y = (X[:, 0] > 0).astype("float32")
    assert keras_seam.loss_needs_only_prediction(model)
    ours = keras_seam.validation_results(model, y, keras.ops.convert_to_tensor(model.predict(X)))
    theirs = model.evaluate(X, y, verbose=0, return_dict=True)
    assert ours.keys() == theirs.keys()
    for name in theirs:
        assert float(ours[name]) == pytest.approx(theirs[name], rel=1e-5)


def test_a_layer_adding_a_loss_in_its_call_is_validated_by_evaluate():
    import keras

    from hpsearch.compat import keras as keras_seam

    class Penalty(keras.layers.Layer):
        def call(self, inputs):
            self.add_loss(keras.ops.mean(inputs))
            return inputs

    model = keras.Sequential([keras.Input((2,)), Penalty(), keras.layers.Dense(1)])
    model.compile(loss="mse")
    model.predict(np.zeros((1, 2), dtype="float32"), verbose=0)
    assert not keras_seam.loss_needs_only_prediction(model)


def test_all_layers_sees_the_layer_a_wrapper_holds():
    import keras

    from hpsearch.compat import keras as keras_seam

    inputs = keras.Input((5, 2))
    outputs = keras.layers.Bidirectional(keras.layers.LSTM(3, name="inner"))(inputs)
    model = keras.Model(inputs, outputs)
    assert "inner" not in [layer.name for layer in model.layers]
    assert any("inner" in layer.name for layer in keras_seam.all_layers(model))


def test_build_training_state_creates_the_metrics_variables_before_the_fit():
    import keras

    from hpsearch.compat import keras as keras_seam

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(loss="mse", metrics=["mae"], optimizer="adam")
    assert not model.optimizer.built
    batch = (np.zeros((1, 2), "float32"), np.zeros((1, 1), "float32"), None)
    assert keras_seam.build_training_state(model, batch)
    assert model.optimizer.built and model.metrics_names


def test_scikeras_hooks_call_the_public_names():
    """SciKeras builds, fits and predicts through the public names WrapperHooks gives its
    private hooks, so that hpsearch's estimators override public names only."""
    import keras

    from hpsearch.compat.scikeras import WrapperHooks

    calls = []

    class Recorded(WrapperHooks):
        def build_keras_model(self):
            calls.append("build")
            return super().build_keras_model()

        def train_keras_model(self, *args, **kwargs):
            calls.append("train")
            assert self.fit_seed == 3 and self.fit_callbacks == []
            return super().train_keras_model(*args, **kwargs)

        def predict_raw(self, X, **kwargs):
            calls.append("predict")
            return super().predict_raw(X, **kwargs)

        def validate_arrays(self, X=None, y=None, reset=False, **kwargs):
            calls.append("validate")
            return super().validate_arrays(X=X, y=y, reset=reset, **kwargs)

        def target_type(self, y):
            calls.append("target")
            return super().target_type(y)

    def model(meta):
        return keras.Sequential([keras.Input((meta["n_features_in_"],)), keras.layers.Dense(1)])

    X, y = np.zeros((8, 2), "float32"), np.arange(8, dtype="float32")
    estimator = Recorded(model=model, loss="mse", random_state=3, verbose=0).fit(X, y)
    estimator.predict(X)
    assert calls == ["validate", "target", "build", "train", "predict", "validate"]
    assert estimator.metadata()["n_features_in_"] == 2
    assert estimator.predict_settings() == {"batch_size": None, "verbose": 0}


PRIVATE_MODULES = ("tensorflow.python", "keras.src", "scikeras._", "mlflow.store.db.utils")


def test_no_private_name_of_a_dependency_outside_the_seams():
    """Outside hpsearch/compat, no ``obj._name`` of another object than self or cls (or
    hpsearch's own ``_hpsearch_*`` marks on a Keras model), no ``from lib import _name``
    and no import of a private module."""
    root = os.path.dirname(hpsearch.__file__)
    found = []
    for folder, _, files in os.walk(root):
        if os.path.basename(folder) == "compat":
            continue
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            with open(path) as file:
                tree = ast.parse(file.read())
            where = os.path.relpath(path, os.path.dirname(root))
            for node in ast.walk(tree):
                if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
                    owner = node.value
                    own = isinstance(owner, ast.Name) and owner.id in ("self", "cls")
                    dunder = node.attr.startswith("__") and node.attr.endswith("__")
                    if not (own or dunder or node.attr.startswith("_hpsearch")):
                        found.append(f"{where}:{node.lineno} .{node.attr}")
                elif isinstance(node, ast.ImportFrom) and node.module:
                    if node.module.startswith(PRIVATE_MODULES) or any(
                        alias.name.startswith("_") and not node.module.startswith("hpsearch")
                        for alias in node.names
                    ):
                        found.append(f"{where}:{node.lineno} from {node.module} import ...")
                elif isinstance(node, ast.Import):
                    found += [
                        f"{where}:{node.lineno} import {alias.name}"
                        for alias in node.names
                        if alias.name.startswith(PRIVATE_MODULES)
                    ]
    assert found == [], "private names outside hpsearch/compat: " + ", ".join(found)
