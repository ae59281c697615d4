"""hpsearch: hyperparameter search and experiment tracking for Keras models.

The package reads as its layers: ``schema`` (the study file) -> ``data`` (loaders) ->
``models`` (builders and the scikit-learn estimator) -> ``search`` (grid and Optuna
backends) -> ``tracking`` (MLflow) -> ``export`` -> ``cli``. Importing it is cheap:
TensorFlow is only imported by the layers that train.
"""

__version__ = "0.1.0"
