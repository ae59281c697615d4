"""SciKeras 0.13's private API that hpsearch uses: the hooks of its ``BaseWrapper``.

SciKeras builds, fits and predicts through private methods (``_build_keras_model``,
``_fit_keras_model``, ``_predict_raw``, ``_validate_data``, ``_type_of_target``) and keeps a
fit's seed and callbacks in private attributes. ``WrapperHooks`` is the one class that
overrides or reads them: each hook calls a public method of ours (``build_keras_model``,
``train_keras_model``...) whose default is SciKeras's own behaviour, so hpsearch's
estimators override public names only. SciKeras is unmaintained (0.13.0 is its last
release, pinned exactly), so these names will not move under us; a replacement of SciKeras
starts here.
"""

from __future__ import annotations

from typing import Any

from scikeras._utils import route_params
from scikeras.wrappers import BaseWrapper

# The hooks SciKeras calls, and the public names they are called by here.
HOOKS = {
    "_build_keras_model": "build_keras_model",
    "_fit_keras_model": "train_keras_model",
    "_predict_raw": "predict_raw",
    "_validate_data": "validate_arrays",
    "_type_of_target": "target_type",
}
# Private attributes read or set: the fit's seed, its callbacks, the predict keywords.
ATTRIBUTES = ("_random_state", "_fit_callbacks", "_predict_callbacks", "_fit_kwargs")


class WrapperHooks(BaseWrapper):
    """``BaseWrapper`` whose private hooks call public methods (see the module)."""

    # -- hooks SciKeras calls: why each exists is said by the public method it calls.
    def _build_keras_model(self):
        return self.build_keras_model()

    def _fit_keras_model(self, X, y, sample_weight, warm_start, epochs, initial_epoch, **kwargs):
        return self.train_keras_model(
            X, y, sample_weight, warm_start, epochs, initial_epoch, **kwargs
        )

    def _predict_raw(self, X, **kwargs):
        return self.predict_raw(X, **kwargs)

    def _validate_data(self, X=None, y=None, reset: bool = False, **kwargs):
        return self.validate_arrays(X=X, y=y, reset=reset, **kwargs)

    def _type_of_target(self, y):
        return self.target_type(y)

    # -- SciKeras's own behaviour, under the public names.
    def build_keras_model(self):
        """A new Keras model from ``model`` and the routed ``model__`` parameters."""
        return BaseWrapper._build_keras_model(self)

    def train_keras_model(self, X, y, sample_weight, warm_start, epochs, initial_epoch, **kw):
        """``model_.fit`` with the routed ``fit__`` parameters, seeded by ``fit_seed``;
        ``history_`` from its history."""
        return BaseWrapper._fit_keras_model(
            self, X, y, sample_weight, warm_start, epochs, initial_epoch, **kw
        )

    def predict_raw(self, X, **kwargs):
        """``model_.predict`` of encoded X (probabilities for a classifier)."""
        return BaseWrapper._predict_raw(self, X, **kwargs)

    def validate_arrays(self, X=None, y=None, reset: bool = False, **kwargs):
        """X and y as arrays; with ``reset`` their shapes and dtypes become the fit's."""
        return BaseWrapper._validate_data(self, X=X, y=y, reset=reset, **kwargs)

    def target_type(self, y) -> str:
        """scikit-learn's ``type_of_target``: what kind of target ``y`` is."""
        return BaseWrapper._type_of_target(self, y)

    # -- private state, under public names.
    def metadata(self) -> dict[str, Any]:
        """What a builder receives as ``meta`` (``_get_metadata``)."""
        return self._get_metadata()

    @property
    def fit_seed(self):
        """The integer seed of the fit under way; SciKeras seeds ``model_.fit`` with it
        while it is set (``_random_state``)."""
        return self._random_state

    @fit_seed.setter
    def fit_seed(self, seed) -> None:
        self._random_state = seed

    @property
    def fit_callbacks(self) -> list:
        """The callbacks ``model_.fit`` receives (``_fit_callbacks``, made by ``fit``)."""
        return getattr(self, "_fit_callbacks", None) or []

    @fit_callbacks.setter
    def fit_callbacks(self, callbacks: list) -> None:
        self._fit_callbacks = list(callbacks)

    @property
    def predict_callbacks(self) -> list:
        """The callbacks ``model_.predict`` receives (``_predict_callbacks``)."""
        return getattr(self, "_predict_callbacks", None) or []

    def predict_settings(self) -> dict[str, Any]:
        """The ``predict__*`` parameters routed as SciKeras routes them for
        ``model_.predict`` (``scikeras._utils.route_params`` with ``_predict_kwargs``)."""
        return route_params(
            self.get_params(), destination="predict", pass_filter=self._predict_kwargs, strict=True
        )

    # Parameters that SciKeras would pass to ``model_.fit`` but a subclass handles itself
    # (a classifier turns ``class_weight`` into sample weights).
    handled_fit_keywords: tuple[str, ...] = ()

    @property
    def _fit_kwargs(self) -> set[str]:
        """SciKeras's keywords for ``model_.fit`` less ``handled_fit_keywords``."""
        return set(BaseWrapper._fit_kwargs) - set(self.handled_fit_keywords)


def missing() -> list[str]:
    """The private names above that this SciKeras lacks."""
    gone = [f"BaseWrapper.{name}" for name in HOOKS if not hasattr(BaseWrapper, name)]
    gone += [
        f"BaseWrapper.{name}"
        for name in ("_get_metadata", "_predict_kwargs", "_fit_kwargs")
        if not hasattr(BaseWrapper, name)
    ]
    import inspect

    source = inspect.getsource(BaseWrapper)
    gone += [f"BaseWrapper.{name}" for name in ATTRIBUTES if f"self.{name}" not in source]
    return gone
