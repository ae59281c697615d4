"""Finding the user's and the built-in loaders and builders by name.

A reference is one of:

- a built-in name (``lstm``, ``digits``), looked up in a plain dict;
- ``package.module:function``, imported;
- ``path/to/file.py:function``, loaded from a file relative to the study file. This runs
  the user's own code, as any Python script would.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hpsearch.errors import UserError


def is_file_reference(reference: str) -> bool:
    return ".py:" in reference


def canonical_reference(reference: str, base_dir: Path) -> str:
    """The reference with a file path made absolute, so it resolves from any process."""
    if is_file_reference(reference):
        path, _, function = reference.rpartition(":")
        return f"{(base_dir / path).resolve()}:{function}"
    return reference


def resolve(
    reference: str,
    builtins: Mapping[str, str],
    *,
    kind: str,
    where: str,
    base_dir: Path = Path("."),
) -> Callable[..., Any]:
    """Turn a reference into the function it names; ``where`` prefixes the error message."""
    if reference in builtins:
        return _import_function(builtins[reference], where=where, kind=kind)
    if is_file_reference(reference):
        path_text, _, function = reference.rpartition(":")
        return _load_from_file(base_dir / path_text, function, where=where, kind=kind)
    if ":" in reference:
        return _import_function(reference, where=where, kind=kind)
    close = difflib.get_close_matches(reference, list(builtins), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    known = ", ".join(sorted(builtins))
    raise UserError(
        f"{where}: unknown {kind} {reference!r}{hint} (built-in: {known};"
        " or 'package.module:function' or 'file.py:function')"
    )


def _import_function(target: str, *, where: str, kind: str) -> Callable[..., Any]:
    module_name, _, function = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise UserError(
            f"{where}: cannot import {module_name!r} for the {kind} ({error})"
        ) from None
    return _function_of(module, function, target, where=where, kind=kind)


_FILE_MODULES: dict[Path, Any] = {}


def _load_from_file(path: Path, function: str, *, where: str, kind: str) -> Callable[..., Any]:
    path = path.resolve()
    if not path.is_file():
        raise UserError(f"{where}: the {kind} file {str(path)!r} does not exist")
    module = _FILE_MODULES.get(path)
    if module is None:
        digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
        name = f"hpsearch_user_{path.stem}_{digest}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # so that pickle and dataclasses find it
        try:
            spec.loader.exec_module(module)
        except Exception:
            del sys.modules[name]
            raise
        _FILE_MODULES[path] = module
    return _function_of(module, function, f"{path.name}:{function}", where=where, kind=kind)


def _function_of(module: Any, function: str, target: str, *, where: str, kind: str):
    found = getattr(module, function, None)
    if not callable(found):
        names = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")]
        close = difflib.get_close_matches(function, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UserError(f"{where}: {target!r} has no {kind} function {function!r}{hint}")
    return found


def accepted_parameters(function: Callable[..., Any]) -> set[str] | None:
    """The keyword names a function takes, or None when it takes ``**kwargs``."""
    parameters = inspect.signature(function).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return {
        p.name
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }


def check_parameters(
    function: Callable[..., Any], names: Mapping[str, str], *, kind: str, reference: str
) -> None:
    """Raise a UserError for the first name (mapped to its study-file key) it does not take."""
    accepted = accepted_parameters(function)
    if accepted is None:
        return
    for name, key in names.items():
        if name not in accepted:
            close = difflib.get_close_matches(name, sorted(accepted - {"meta"}), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            takes = ", ".join(sorted(accepted - {"meta"})) or "nothing"
            raise UserError(
                f"{key}: the {kind} {reference!r} takes no parameter {name!r}{hint}"
                f" (it takes: {takes})"
            )
