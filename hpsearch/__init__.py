"""hpsearch: hyperparameter search and experiment tracking for Keras models.

The package reads as its layers, each a folder that imports only those below it
(``tests/test_layers.py``): ``compat`` (the seams to dependencies' private names) ->
``study`` (the study file) -> ``data`` (loaders, input kinds) -> ``models`` (builders and
the scikit-learn estimators) -> ``tracking`` (MLflow) -> ``search`` (grid and Optuna
backends, trainers) -> ``results`` (leaderboard, plots) -> ``deploy`` (export, predict) ->
``runner``, ``console`` and ``cli``. Importing it is cheap: TensorFlow is only imported by
the layers that train.
"""

import logging
import os

__version__ = "0.1.0"

# TensorFlow's C++ logging (start-up notes, and in 2.21 a harmless tf.data "NodeDef mentions
# attribute" error at every fit) buries hpsearch's output; Python errors still raise. Set
# before TensorFlow is first imported, which is why it lives here. Override by setting
# TF_CPP_MIN_LOG_LEVEL yourself.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# "triggered tf.function retracing" is expected when every trial builds a new model.
logging.getLogger("tensorflow").setLevel(logging.ERROR)
