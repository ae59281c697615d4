"""Finding the user's and the built-in loaders and builders by name.

A reference is one of:

- a built-in name (``lstm``, ``digits``), looked up in a plain dict;
- ``package.module:function``, imported;
- ``path/to/file.py:function``, loaded from a file relative to the study file. This runs
  the user's own code, as any Python script would;
- from Python, the function itself (``{"model": {"builder": build}}``): ``resolve_reference``
  returns it as it is. Trials that train in other processes find it by importing
  ``module:name``, so there it must be a module's own function (``importable_name``);
  ``check_functions_reach_workers`` says so, before anything runs, for a lambda, a nested
  function or one of ``__main__`` (a notebook, the script being run).

Checking a study (``validate``) needs only the parameter names of a ``file.py:function``,
and a user's builder file starts with ``import keras``: 3-4 s of TensorFlow to learn them.
Within ``signatures_from_source()`` such a reference resolves to a ``SourceFunction``
instead, its signature read from the file with ``ast``, the file imported only if it is
called. A function ``ast`` cannot answer for (decorated, defined by an assignment, bound
twice, a file that does not parse) is imported as before, so its errors are the same.
"""

from __future__ import annotations

import ast
import contextvars
import difflib
import hashlib
import importlib
import importlib.util
import inspect
import pickle
import sys
import types
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, PlainSerializer, PlainValidator, WithJsonSchema

from hpsearch.errors import UserError


def is_file_reference(reference: str) -> bool:
    return ".py:" in reference


def canonical_reference(reference: str, base_dir: Path) -> str:
    """The reference with a file path made absolute, so it resolves from any process."""
    if is_file_reference(reference):
        path, _, function = reference.rpartition(":")
        return f"{(base_dir / path).resolve()}:{function}"
    return reference


# --- a reference, or a function given from Python ---------------------------------------


def _reference_or_function(value: Any) -> Any:
    if isinstance(value, str):
        if not value:
            raise ValueError("String should have at least 1 character")
        return value
    if callable(value) and not isinstance(value, type):
        return value
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    raise ValueError(f"Input should be a valid string or, from Python, a function (got {shown})")


# A study-file key naming a function: a reference (text), or from Python the function
# itself. The JSON Schema (a file's view) says string; dumped as JSON or YAML, a function
# is its ``module:name``.
ReferenceOrFunction = Annotated[
    Any,
    PlainValidator(_reference_or_function),
    PlainSerializer(lambda value: reference_text(value), when_used="json"),
    WithJsonSchema({"type": "string", "minLength": 1}),
]


def reference_text(value: Any) -> str:
    """How a reference is shown and recorded: the text as given; a function given from
    Python as ``module:name`` (``__main__:build``, ``__main__:<lambda>``)."""
    if isinstance(value, str):
        return value
    module = getattr(value, "__module__", None) or "?"
    name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    return f"{module}:{name or type(value).__name__}"


def resolve_reference(
    value: Any,
    builtins: Mapping[str, str],
    *,
    kind: str,
    where: str,
    base_dir: Path = Path("."),
) -> Callable[..., Any]:
    """The function a study names: ``value`` itself when it is one (given from Python),
    else the function its reference names (``resolve``)."""
    if callable(value):
        return value
    return resolve(value, builtins, kind=kind, where=where, base_dir=base_dir)


def portable_reference(value: Any, base_dir: Path) -> Any:
    """``value`` as another process resolves it to the same function: a reference with a
    file's path made absolute, a function as the ``module:name`` that imports it. A function
    no import finds stays itself, for this process's own use (``check_functions_reach_workers``
    refuses it where trials train elsewhere)."""
    if isinstance(value, str):
        return canonical_reference(value, base_dir)
    return importable_name(value) or value


def importable_name(function: Any) -> str | None:
    """``module:name`` when importing it gives back this very function, as in another
    process (pickle finds functions the same way); None otherwise."""
    return None if _why_not_importable(function) else reference_text(function)


def _why_not_importable(function: Any) -> str | None:
    """Why another process cannot import ``function`` by its module and name (None: it can)."""
    module_name = getattr(function, "__module__", None)
    name = getattr(function, "__qualname__", None)
    shown = reference_text(function)
    if not isinstance(module_name, str) or not isinstance(name, str):
        return f"{shown} is not a function of a module"
    if name == "<lambda>" or name.endswith(".<lambda>"):
        return "a lambda"
    if "<locals>" in name:
        return f"the function {name.rpartition('.')[2]!r} is defined inside another function"
    if module_name == "__main__":
        return f"the function {name!r} is defined in __main__ (a notebook, or the script being run)"
    module = sys.modules.get(module_name)
    if "." in name or module is None or getattr(module, name, None) is not function:
        return f"importing {shown} does not give this function back"
    return None


def _why_not_sent(value: Any) -> str | None:
    """Why ``value`` cannot reach another process as the study is sent there (None: it
    can): a function goes by its module and name, any other callable (a
    ``functools.partial``, an object with ``__call__``) as pickle writes it."""
    if isinstance(value, types.FunctionType):
        return _why_not_importable(value)
    if type(value).__module__ == "__main__":
        return f"an object of {type(value).__qualname__!r}, a class defined in __main__"
    try:
        pickle.dumps(value)
    except Exception as error:  # pickle raises several kinds
        return f"{reference_text(value)} (it cannot be pickled: {str(error)[:100]})"
    return None


def functions_in(value: Any, key: str = "") -> Iterator[tuple[str, Callable[..., Any]]]:
    """Every function given from Python in a study or a part of it, with its dotted key
    (``("model.builder", build)``)."""
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from functions_in(getattr(value, name), f"{key}.{name}" if key else name)
    elif isinstance(value, Mapping):
        for name, inner in value.items():
            yield from functions_in(inner, f"{key}.{name}")
    elif isinstance(value, (list, tuple)):
        for index, inner in enumerate(value):
            yield from functions_in(inner, f"{key}.{index}")
    elif callable(value) and not isinstance(value, type):
        yield key, value


def settings_that_train_elsewhere(study) -> list[str]:
    """The settings that would train ``study``'s trials in its own process, where they now
    train in other processes (worker processes, a grid's joblib workers, Dask: as
    ``hpsearch.search.trainers.make_trainer`` decides); empty when they train here."""
    search = study.search
    dask = search.backend == "grid" and search.grid_backend == "dask"
    settings = []
    if dask:
        settings.append("search.grid_backend: workers")
    if search.trials_per_process > 0 or dask:
        settings.append("search.trials_per_process: 0")
    if search.n_jobs > 1:  # a grid's joblib workers; Optuna's parallel trials need workers
        settings.append("search.n_jobs: 1")
    return settings


def check_functions_reach_workers(study) -> None:
    """Where trials train in other processes, every function the study was given from
    Python must be one those processes can import; raise a ``UserError`` otherwise."""
    settings = settings_that_train_elsewhere(study)
    if not settings:
        return
    for key, function in functions_in(study):
        why = _why_not_sent(function)
        if why is not None:
            raise UserError.at(
                study.source,
                key,
                f"{why}, which worker processes cannot import; set {', '.join(settings)}"
                " to train in this process, or give it as 'file.py:function' or"
                " 'module:function'",
            )


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
        if _FROM_SOURCE.get():
            declared = SourceFunction.read(base_dir / path_text, function, where=where, kind=kind)
            if declared is not None:
                return declared
        return _load_from_file(base_dir / path_text, function, where=where, kind=kind)
    if ":" in reference:
        return _import_function(reference, where=where, kind=kind)
    close = difflib.get_close_matches(reference, list(builtins), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    known = f"built-in: {', '.join(sorted(builtins))}; or " if builtins else ""
    raise UserError(
        f"{where}: unknown {kind} {reference!r}{hint} ({known}"
        "'package.module:function' or 'file.py:function')"
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


_FROM_SOURCE = contextvars.ContextVar("hpsearch_signatures_from_source", default=False)


@contextmanager
def signatures_from_source() -> Iterator[None]:
    """Within it, ``resolve`` reads a ``file.py:function``'s signature from the file's
    source rather than importing the file, wherever the source answers (see the module)."""
    token = _FROM_SOURCE.set(True)
    try:
        yield
    finally:
        _FROM_SOURCE.reset(token)


class SourceFunction:
    """A ``file.py:function`` known from its source: ``inspect.signature`` gives the
    signature ``ast`` read (literal defaults as values, others as their source text);
    calling it imports the file, once per process, and calls the function."""

    def __init__(self, path: Path, name: str, signature: inspect.Signature, *, where, kind):
        self.path = path
        self.__name__ = self.__qualname__ = name
        self.__signature__ = signature
        self._where = where
        self._kind = kind

    @classmethod
    def read(cls, path: Path, name: str, *, where: str, kind: str) -> SourceFunction | None:
        """The function ``name`` of the file at ``path``, or None when only importing the
        file can tell (no such file, no such plain function, a syntax error...)."""
        path = path.resolve()
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (OSError, SyntaxError, ValueError):
            return None
        definition = _only_definition(tree, name)
        if definition is None:
            return None
        return cls(path, name, _signature_of(definition.args), where=where, kind=kind)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        function = _load_from_file(self.path, self.__name__, where=self._where, kind=self._kind)
        return function(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<function {self.__name__}{self.__signature__} from {self.path}>"


def _only_definition(tree: ast.Module, name: str) -> ast.FunctionDef | None:
    """The module's ``def name(...)`` when it is a statement of the module's own (not under
    an ``if``), has no decorator and is the only thing that binds ``name`` at the module's
    level: what importing the file would find. Anything the source leaves open returns
    None: a decorator, an ``async def``, an assignment or an import of the name, a
    ``global`` of it, ``from x import *``, two definitions."""
    bindings = list(_module_level_bindings(tree, name))
    if len(bindings) != 1:
        return None
    (definition,) = bindings
    if (
        isinstance(definition, ast.FunctionDef)
        and not definition.decorator_list
        and definition in tree.body
    ):
        return definition
    return None


def _module_level_bindings(tree: ast.Module, name: str) -> Iterator[ast.AST]:
    """Every node that may bind ``name`` in the module's namespace. Bodies of functions,
    lambdas and classes have scopes of their own and are skipped (but a ``global name``
    anywhere counts); the rest is walked, so an ``if`` or ``try`` at the top counts too.
    Over-counting is harmless: it only means importing the file."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Global, ast.Nonlocal)) and name in node.names:
            yield node
        elif isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
            yield node
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name == name:
                yield node
            # Decorators and defaults run at the module's level; the body does not.
            pending.extend(node.decorator_list)
            if not isinstance(node, ast.ClassDef):
                pending.extend(d for d in (*node.args.defaults, *node.args.kw_defaults) if d)
            continue
        if isinstance(node, ast.Lambda):
            continue
        if isinstance(node, ast.Name) and node.id == name and not isinstance(node.ctx, ast.Load):
            yield node
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if (alias.asname or alias.name.partition(".")[0]) == name:
                    yield node
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)):
            if getattr(node, "name", None) == name:
                yield node
        elif isinstance(node, ast.MatchMapping) and node.rest == name:
            yield node
        pending.extend(ast.iter_child_nodes(node))


class _SourceDefault:
    """A default that is not a literal, shown as its source text (``np.float32``)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _default_value(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _SourceDefault(ast.unparse(node))


def _signature_of(arguments: ast.arguments) -> inspect.Signature:
    """The signature ``def f(<arguments>)`` has, defaults included, annotations left out."""
    Parameter = inspect.Parameter
    positional = [*arguments.posonlyargs, *arguments.args]
    defaults = [Parameter.empty] * (len(positional) - len(arguments.defaults)) + [
        _default_value(node) for node in arguments.defaults
    ]
    parameters = [
        Parameter(
            argument.arg,
            Parameter.POSITIONAL_ONLY
            if index < len(arguments.posonlyargs)
            else Parameter.POSITIONAL_OR_KEYWORD,
            default=default,
        )
        for index, (argument, default) in enumerate(zip(positional, defaults, strict=True))
    ]
    if arguments.vararg is not None:
        parameters.append(Parameter(arguments.vararg.arg, Parameter.VAR_POSITIONAL))
    for argument, default in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True):
        value = Parameter.empty if default is None else _default_value(default)
        parameters.append(Parameter(argument.arg, Parameter.KEYWORD_ONLY, default=value))
    if arguments.kwarg is not None:
        parameters.append(Parameter(arguments.kwarg.arg, Parameter.VAR_KEYWORD))
    return inspect.Signature(parameters)


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
