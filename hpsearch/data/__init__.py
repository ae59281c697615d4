"""Data loaders: built-in ones by name, the user's by reference, and the checks on what they return.

A loader is ``def load(**params)`` returning ``(X, y)`` or ``(X_train, y_train, X_test,
y_test)``. Whatever it returns is checked here, before any training, so that bad data is a
one-line error and not a TensorFlow traceback twenty minutes in.
"""

from hpsearch.data.dataset import Dataset, load_dataset, resolve_loader

LOADERS: dict[str, str] = {
    "digits": "hpsearch.data.digits:load_digits_sequences",
    "imdb": "hpsearch.data.text:load_imdb",
    "gop_tweets": "hpsearch.data.text:load_gop_tweets",
    "text_corpus": "hpsearch.data.text:load_text_corpus",
    "stock_prices": "hpsearch.data.stocks:load_stock_prices",
    "moving_pattern": "hpsearch.data.synthetic:load_moving_pattern",
}

__all__ = ["LOADERS", "Dataset", "load_dataset", "resolve_loader"]
