"""scikit-learn's own estimator checks, on a dense and a recurrent builder of each task.

``parametrize_with_checks`` is what scikit-learn asks of every compatible estimator. The
few checks a Keras estimator cannot honestly pass are declared, each with its reason, in
``hpsearch.models.estimator.EXPECTED_FAILED_CHECKS``: a check declared there that passes
fails the suite (strict xfail), so the list cannot outlive its reason. One epoch of a
tiny network keeps each check to a fraction of a second after its first trace.
"""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from hpsearch.models.estimator import expected_failed_checks, make_estimator

TINY = {"units": 3, "epochs": 1, "batch_size": 32}

ESTIMATORS = [
    make_estimator(task, builder, TINY, seed=0)
    for task in ("classification", "regression")
    for builder in ("dense", "simple_rnn")
]


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)
