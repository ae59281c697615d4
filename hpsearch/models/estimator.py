"""SciKeras estimators that scikit-learn recognises, trained with the study's names.

SciKeras 0.13 (the last release) lists ``BaseWrapper`` before ``ClassifierMixin``, so with
scikit-learn >= 1.6 ``is_classifier(KerasClassifier())`` is False and GridSearchCV silently
uses unstratified folds. ``HpsearchClassifier`` and ``HpsearchRegressor`` fix the tags and
add what a tracked search needs from every fit:

- the study's names as constructor parameters (``units=64, learning_rate=1e-3``), routed to
  the builder or to training, so that ``get_params``/``set_params``/``clone`` and
  GridSearchCV's ``param_grid`` speak the study file's language;
- validation on the held-out fold of the cross-validation the fit is part of (per-epoch
  ``val_loss``), found through a ``FoldPlan`` passed as fit parameter;
- a loss that becomes NaN stops training and fails the fit with a clear message.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from scikeras.wrappers import KerasClassifier, KerasRegressor
from sklearn.utils import ClassifierTags, RegressorTags

from hpsearch.errors import TrialFailed
from hpsearch.models.folds import FoldPlan
from hpsearch.models.heads import default_loss, default_metrics


def build_model(
    meta: dict[str, Any],
    compile_kwargs: dict[str, Any],
    params: dict[str, Any],
    **hyperparameters: Any,
):
    """SciKeras's ``model`` callable: resolve the builder, build, compile with the study's names.

    SciKeras hands every constructor keyword the wrapper did not define itself to this
    function: the builder reference, ``learning_rate`` and the builder's own parameters.
    """
    from hpsearch.models.routing import resolve_builder_reference

    builder = resolve_builder_reference(hyperparameters.pop("builder"))
    learning_rate = hyperparameters.pop("learning_rate", None)
    if params.get("random_state") is not None:
        keras.utils.set_random_seed(int(params["random_state"]))
    model = builder(meta=meta, **hyperparameters)
    if not model.compiled:
        model.compile(
            optimizer=make_optimizer(params["optimizer"], learning_rate),
            loss=params.get("loss") or default_loss(meta),
            metrics=default_metrics(meta),
        )
    elif learning_rate is not None:
        model.optimizer.learning_rate = float(learning_rate)
    return model


def make_optimizer(optimizer: Any, learning_rate: float | None):
    """A Keras optimizer from its name, with the searched learning rate when there is one."""
    instance = keras.optimizers.get(optimizer)
    if learning_rate is None:
        return instance
    return type(instance)(learning_rate=float(learning_rate))


class _StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Keras's TerminateOnNaN without its print: the fit itself reports the failure."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.model.stop_training = True


class _TrackedFitMixin:
    """What every hpsearch fit adds to SciKeras's: fold validation, NaN checks, records."""

    def fit(self, X, y, sample_weight=None, *, row_index=None, fold_plan=None, **kwargs):
        fold = fold_plan.fold_of(row_index) if fold_plan is not None else None
        self._validation_rows = fold_plan.validation_rows(fold) if fold is not None else None
        self.y_shape_ = np.shape(y)  # read by the regression head through ``meta``
        try:
            super().fit(X, y, sample_weight=sample_weight, **kwargs)
            self._raise_if_diverged()
        except BaseException as error:
            if fold is not None:
                fold_plan.record(
                    self.get_params(),
                    fold,
                    history=getattr(self, "history_", {}),
                    error=f"{type(error).__name__}: {error}",
                )
            raise
        finally:
            self._validation_rows = None
        if fold is not None:
            fold_plan.record(self.get_params(), fold, history=self.history_)
        return self

    def _fit_keras_model(self, X, y, sample_weight, warm_start, epochs, initial_epoch, **kwargs):
        if getattr(self, "_validation_rows", None) is not None:
            X_val, y_val = self._validate_data(*self._validation_rows)
            kwargs["validation_data"] = (
                self.feature_encoder_.transform(X_val),
                self.target_encoder_.transform(y_val),
            )
        if not any(isinstance(c, _StopOnNonFiniteLoss) for c in self._fit_callbacks):
            self._fit_callbacks = [*self._fit_callbacks, _StopOnNonFiniteLoss()]
        return super()._fit_keras_model(
            X, y, sample_weight, warm_start, epochs, initial_epoch, **kwargs
        )

    def _raise_if_diverged(self) -> None:
        losses = self.history_.get("loss", [])
        for epoch, value in enumerate(losses, start=1):
            if not math.isfinite(value):
                raise TrialFailed(f"the training loss became {value} at epoch {epoch}")


class HpsearchClassifier(_TrackedFitMixin, KerasClassifier):
    """``KerasClassifier`` seen by scikit-learn as a classifier: stratified folds, proba scorers."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "classifier"
        tags.classifier_tags = ClassifierTags()
        tags.target_tags.required = True
        tags.input_tags.three_d_array = True
        tags.input_tags.string = True
        return tags


class HpsearchRegressor(_TrackedFitMixin, KerasRegressor):
    """``KerasRegressor`` that scikit-learn sees as a regressor."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "regressor"
        tags.regressor_tags = RegressorTags()
        tags.target_tags.required = True
        tags.input_tags.three_d_array = True
        return tags


def make_estimator(
    task: str,
    builder: str,
    parameters: dict[str, Any],
    *,
    loss: str | None = None,
    seed: int | None = None,
):
    """An unfitted estimator for ``task`` whose parameters are the study's names.

    ``builder`` is a reference (``lstm``, ``pkg.mod:fn``, ``/abs/path/file.py:fn``) so that
    the estimator pickles to other processes without pickling functions.
    """
    estimator_class = HpsearchClassifier if task == "classification" else HpsearchRegressor
    return estimator_class(
        model=build_model,
        builder=builder,
        loss=loss,
        random_state=seed,
        verbose=0,
        **parameters,
    )


__all__ = [
    "FoldPlan",
    "HpsearchClassifier",
    "HpsearchRegressor",
    "build_model",
    "make_estimator",
    "make_optimizer",
]
