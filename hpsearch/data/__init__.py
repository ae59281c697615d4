"""Data loaders: built-in ones by name, the user's by reference, and the checks on what they return.

A loader is ``def load(**params)`` returning ``(X, y)`` or ``(X_train, y_train, X_test,
y_test)``. Whatever it returns is checked here, before any training, so that bad data is a
one-line error and not a TensorFlow traceback twenty minutes in.
"""

from hpsearch.data.dataset import Dataset, load_dataset, resolve_loader
from hpsearch.data.loaders import LOADERS

__all__ = ["LOADERS", "Dataset", "load_dataset", "resolve_loader"]
