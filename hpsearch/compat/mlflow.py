"""MLflow's private API that hpsearch uses: its schema set-up for a new store, and whether the
system-metrics monitor has sent anything.

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
    return names


def _names_used(function) -> tuple[str, ...]:
    """The attribute and global names ``function``'s code uses (``self._x`` gives ``_x``)."""
    return getattr(getattr(function, "__code__", None), "co_names", ())
