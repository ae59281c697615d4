"""scikit-learn's own estimator checks, on a dense and a recurrent builder of each task.

Every check runs on the dense builder of each task: the classes under test are the
estimators, whatever model they build. The recurrent builder runs the checks that never
fit and those where the model's kind matters (training on 2-D data turned into
sequences, dtypes, a seeded fit twice, pickling, one sample, predictions independent of
the batch): the others exercise the same wrapper code again, at about three times a
dense model's cost.

``parametrize_with_checks`` is what scikit-learn asks of every compatible estimator. The
few checks a Keras estimator cannot honestly pass are declared, each with its reason, in
``hpsearch.models.estimator.EXPECTED_FAILED_CHECKS``: a check declared there that passes
fails the suite (strict xfail), so the list cannot outlive its reason. One epoch of a
tiny network keeps each check to a fraction of a second after its first trace, and one
training step per call into TensorFlow (Keras's default, ``steps_per_execution=1``) is
cheaper to trace than hpsearch's 32 on data of a batch or two: about 0.35 s a fit instead
of 0.5 s. The checks that fit a model are ``slow``; those that never do (parameters,
tags, errors before fitting) run in the quick tier.
"""

from __future__ import annotations

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from hpsearch.models.estimator import expected_failed_checks, make_estimator

TINY = {"units": 3, "epochs": 1, "batch_size": 32}

ESTIMATORS = [
    make_estimator(task, builder, TINY, seed=0, steps_per_execution=1)
    for task in ("classification", "regression")
    for builder in ("dense", "simple_rnn")
]

# The checks that never fit a model (a few milliseconds each).
WITHOUT_FITTING = {
    "check_all_zero_sample_weights_error",
    "check_array_api_input",
    "check_classifiers_regression_target",
    "check_complex_data",
    "check_decision_proba_consistency",
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_estimator_cloneable",
    "check_estimator_repr",
    "check_estimator_sparse_array",
    "check_estimator_sparse_matrix",
    "check_estimator_sparse_tag",
    "check_estimator_tags_renamed",
    "check_estimators_empty_data_messages",
    "check_estimators_unfitted",
    "check_fit1d",
    "check_get_params_invariance",
    "check_mixin_order",
    "check_no_attributes_set_in_init",
    "check_non_transformer_estimators_n_iter",
    "check_parameters_default_constructible",
    "check_requires_y_none",
    "check_set_params",
    "check_supervised_y_no_nan",
    "check_valid_tag_types",
}


# The checks that fit a model that the recurrent builder runs too (see the module).
RECURRENT_CHECKS = {
    "check_classifiers_train",
    "check_regressors_train",
    "check_estimators_dtypes",
    "check_fit_idempotent",
    "check_estimators_pickle",
    "check_fit2d_1sample",
    "check_fit_check_is_fitted",
    "check_methods_subset_invariance",
}


ParameterSet = type(pytest.param(None))  # what pytest.param makes


def _with_tiers(parametrized):
    """scikit-learn's parametrization, each check that fits a model marked ``slow``, the
    recurrent builder's limited to ``RECURRENT_CHECKS`` among those."""
    argnames, cases = parametrized.mark.args
    tiered = []
    for case in cases:
        case = case if isinstance(case, ParameterSet) else pytest.param(*case)
        estimator, check = case.values
        name = getattr(check, "func", check).__name__
        recurrent = estimator.get_params()["builder"] != "dense"
        if recurrent and name not in WITHOUT_FITTING | RECURRENT_CHECKS:
            continue
        marks = [*case.marks] + ([] if name in WITHOUT_FITTING else [pytest.mark.slow])
        tiered.append(pytest.param(*case.values, marks=marks, id=case.id))
    return pytest.mark.parametrize(argnames, tiered, **parametrized.mark.kwargs)


@_with_tiers(parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks))
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)
