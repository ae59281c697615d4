"""What the fork server imports once, before it forks any worker (``trainer._PRELOAD``).

TensorFlow and Keras (through the estimator module; their start-up lines hidden unless
``--verbose``, hpsearch.models.tensorflow_import) and what a worker needs to report to an
Optuna storage (SQLAlchemy, Alembic), then every object alive is frozen
out of the garbage collector's reach (``freeze_long_lived_objects``): each worker forked
from here starts with ~500,000 objects already frozen, so its own freeze at start-up
walks only what it was sent, and its pages are not copied by the collector touching them;
the fork server itself, when the study's process exits, ends in ~0.1 s instead of the
~1.3 s a final collection over TensorFlow's objects took (docs/benchmarks.md).
"""

from hpsearch.models.tensorflow_import import hide_tensorflow_start_up


def _load_and_freeze() -> None:
    hide_tensorflow_start_up()  # first: TensorFlow's start-up lines off the terminal
    # Besides Keras and TensorFlow, what opening the Optuna storage a worker reports
    # epochs to imports (SQLAlchemy, Alembic: ~280 modules, ~0.4 s): here once, not again
    # in each worker of a pruned study.
    import alembic.command  # noqa: F401
    import alembic.migration  # noqa: F401
    import alembic.script  # noqa: F401
    import sqlalchemy.orm  # noqa: F401

    import hpsearch.models.estimator  # noqa: F401 - Keras and TensorFlow
    import hpsearch.search.evaluation  # noqa: F401
    import hpsearch.search.held_out_metrics  # noqa: F401
    import hpsearch.search.pruning  # noqa: F401 - Optuna
    from hpsearch.models.reuse import freeze_long_lived_objects

    freeze_long_lived_objects()


_load_and_freeze()
