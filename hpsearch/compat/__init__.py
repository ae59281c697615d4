"""The only place hpsearch touches its dependencies' private names: one module per library,
named after it (``optuna.py``, ``mlflow.py``, ...; ``multiprocessing.py`` for the standard
library's process pools). A module holds plain functions, each doing one private access and
saying in its docstring why (one line) and which public alternative exists, if any, and why
it is not used; where a public way does the job, hpsearch calls it directly (a seam wraps a
public call only beside its private companions, and says so).
Each module also defines ``missing() -> list[str]``: the dotted private names it relies on
that the installed library lacks, found by imports, ``hasattr`` and code objects alone (no
side effects). ``tests/test_compat.py`` finds every module of this package, fails naming the
library, its installed version and what is gone, and exercises each function for real. A
module imports only its library and the standard library, never the rest of hpsearch, and
is imported wherever hpsearch would import that library (inside a function where that import
is lazy); this ``__init__`` imports none of them.
"""
