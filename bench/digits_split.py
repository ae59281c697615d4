"""The search benchmarks' data: scikit-learn's 1,797 digits read row by row, 20% held out.

A loader (``file.py:function``) for hpsearch's study and the rows KerasTuner's script
trains on, so both tools see the same training rows, the same validation rows (hpsearch's
holdout split, ``validation_split``) and the same test rows.
"""

from __future__ import annotations

from pathlib import Path

TEST_SIZE = 0.2
SEED = 7
# What a study's ``data.loader`` says to load these digits.
LOADER = f"{Path(__file__).resolve()}:load"


def load():
    """``(X_train, y_train, X_test, y_test)``: a stratified 80/20 split of all the digits."""
    from sklearn.model_selection import train_test_split

    from hpsearch.data.digits import load_digits_sequences

    X, y = load_digits_sequences()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=TEST_SIZE, stratify=y, random_state=SEED
    )
    return X_train, y_train, X_test, y_test


def validation_split(study_path: str):
    """Training and validation rows of ``load()``'s training part, split as the study's
    ``cv: {holdout: ...}`` splits them in hpsearch."""
    from hpsearch.search.evaluation import make_splitter
    from hpsearch.study import load_study

    X, y, X_test, y_test = load()
    ((train, validation),) = make_splitter(load_study(study_path)).split(X, y)
    return (X[train], y[train]), (X[validation], y[validation]), (X, y), (X_test, y_test)
