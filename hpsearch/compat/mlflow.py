"""MLflow's private API that hpsearch uses: its schema set-up for a new store, whether the
system-metrics monitor has sent anything, and removing a deleted study's runs for good.

MLflow is imported inside the functions: ``hpsearch.tracking.tracker`` imports this module at
its top and MLflow only when it talks to a store.
"""

from __future__ import annotations


def initialize_tables(engine) -> None:
    """Create MLflow's tables in the empty database behind the SQLAlchemy ``engine`` and run
    every migration, as MLflow does for a new store.

    Why: hpsearch makes that empty schema once per MLflow version and copies it for every new
    local store (the migrations take about a second). Public alternative: none that makes the
    bare schema (``SqlAlchemyStore`` also creates the default experiment, whose artifact
    location would be the template's).
    """
    from mlflow.store.db import utils  # looked up at each call: a test replaces it

    utils._initialize_tables(engine)


def published_system_metrics(monitor) -> bool:
    """True once ``monitor`` (a ``SystemMetricsMonitor``) has handed its logger a batch of
    samples; a run shorter than one sampling interval has none.

    Why: hpsearch then sends one sample itself, so that every trial has them. Public
    alternative: reading the run's ``system/`` metrics back from the store, one more request
    per trial.
    """
    return monitor._logging_step > 0


def can_hard_delete(client) -> bool:
    """Whether the store behind ``client`` (an ``MlflowClient``) can remove runs and
    experiments for good (a database store can; a tracking server's REST store cannot)."""
    store = client._tracking_client.store
    return hasattr(store, "_hard_delete_run") and hasattr(store, "_hard_delete_experiment")


def hard_delete(client, run_ids: list[str], experiment_id: str) -> None:
    """Remove ``run_ids`` and the experiment (both deleted already, ``delete_experiment``)
    from the database behind ``client`` for good, as ``mlflow gc`` does
    (``can_hard_delete`` says whether it can).

    Why: ``hpsearch delete`` removes a study, and only then is its name free for a new one.
    Public alternative: ``mlflow gc --experiment-ids``, which also deletes every artifact of
    the runs, the models that registered versions point to among them, and is a process
    of its own.
    """
    store = client._tracking_client.store
    for run_id in run_ids:
        store._hard_delete_run(run_id)
    store._hard_delete_experiment(experiment_id)


def missing() -> list[str]:
    """The private names above that this MLflow lacks."""
    names = []
    try:
        from mlflow.store.db import utils
    except ImportError:
        utils = None
    if not hasattr(utils, "_initialize_tables"):
        names.append("mlflow.store.db.utils._initialize_tables")
    try:
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor
    except ImportError:
        SystemMetricsMonitor = None
    methods = (
        getattr(SystemMetricsMonitor, name, None) for name in ("__init__", "publish_metrics")
    )
    if not all("_logging_step" in _names_used(method) for method in methods):
        names.append(
            "mlflow.system_metrics.system_metrics_monitor.SystemMetricsMonitor._logging_step"
        )
    from mlflow import MlflowClient
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    if "_tracking_client" not in _names_used(MlflowClient.__init__):
        names.append("mlflow.MlflowClient._tracking_client")
    for name in ("_hard_delete_run", "_hard_delete_experiment"):
        if not hasattr(SqlAlchemyStore, name):
            names.append(f"mlflow.store.tracking.sqlalchemy_store.SqlAlchemyStore.{name}")
    return names


def _names_used(function) -> tuple[str, ...]:
    """The attribute and global names ``function``'s code uses (``self._x`` gives ``_x``)."""
    return getattr(getattr(function, "__code__", None), "co_names", ())
