"""hpsearch: hyperparameter search and experiment tracking for Keras models.

The package reads as its layers, each a folder that imports only those below it
(``tests/test_layers.py``): ``compat`` (the seams to dependencies' private names) ->
``study`` (the study file) -> ``data`` (loaders, input kinds) -> ``models`` (builders and
the scikit-learn estimators) -> ``tracking`` (MLflow) -> ``search`` (grid and Optuna
backends, trainers) -> ``results`` (leaderboard, plots) -> ``deploy`` (export, predict) ->
``runner``, ``console`` and ``cli``. Importing it is cheap: TensorFlow is only imported by
the layers that train.

From Python (``hpsearch/api.py``): ``hpsearch.load_study``, ``hpsearch.run`` and
``hpsearch.load_results``, returning a ``StudyResult``; with ``Study`` and ``UserError``.
They are imported on first use, so that ``import hpsearch`` stays cheap.
"""

import importlib
import logging
import os

__version__ = "0.1.0"

# The public names and the module of each, imported when first asked for (``__getattr__``).
_PUBLIC = {
    "load_study": "hpsearch.api",
    "run": "hpsearch.api",
    "load_results": "hpsearch.api",
    "StudyResult": "hpsearch.api",
    "Study": "hpsearch.study",
    "UserError": "hpsearch.errors",
}
__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'hpsearch' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})


# TensorFlow's C++ logging (start-up notes, and in 2.21 a harmless tf.data "NodeDef mentions
# attribute" error at every fit) buries hpsearch's output; Python errors still raise. Set
# before TensorFlow is first imported, which is why it lives here. Override by setting
# TF_CPP_MIN_LOG_LEVEL yourself.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# "triggered tf.function retracing" is expected when every trial builds a new model.
logging.getLogger("tensorflow").setLevel(logging.ERROR)
