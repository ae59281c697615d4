"""Reading a study file: YAML with duplicate keys refused, command-line overrides, and
pydantic's first error turned into one line naming the file and the key.

Everything a user can get wrong in a study file is a ``UserError``
(``studies/x.yaml: search.space.units.low: ...``) before anything trains or is written.
Neither TensorFlow nor scikit-learn is imported, so ``hpsearch validate`` answers at once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    ValidationError,
)

from hpsearch.errors import UserError
from hpsearch.study.checks import _check_across_sections
from hpsearch.study.model import IN_PYTHON, Study
from hpsearch.study.references import check_functions_reach_workers

# --- reading ---------------------------------------------------------------------------


class _StudyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, plus floats such as ``1e-4`` and an error on duplicate keys."""


_StudyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d[\d_]*)?\.?\d*[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_StudyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: no such study file") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, not a study file") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file (it is not valid UTF-8)") from None
    except OSError as error:
        raise UserError(f"{path}: cannot be read ({error.strerror})") from None
    try:
        return yaml.load(text, Loader=_StudyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        problem = " ".join(str(error.problem or error.context or "invalid YAML").split())
        raise UserError.at(path, where, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as error:
        raise UserError.at(path, "YAML", " ".join(str(error).split())) from None


def _format_location(location: tuple[Any, ...]) -> str:
    # Tagged unions add their tag ("<range>", "<choices>"...) to the location: drop it.
    parts = [str(part) for part in location if not str(part).startswith("<")]
    parts = [p for p in parts if not p.startswith(("function-", "literal[", "constrained-"))]
    # A key is shown as the file spells it, but on one line: the error is one line.
    parts = [repr(p) if not p.isprintable() or not p.strip() else p for p in parts]
    return ".".join(parts) or "(top level)"


def _format_problem(error: Mapping[str, Any]) -> str:
    message = str(error["msg"])
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "missing (required)"
    if kind == "string_pattern_mismatch":
        return (
            "use letters, digits, '_', '.' and '-' (starting with a letter or digit,"
            f" at most 100 characters; got {error.get('input')!r})"
        )
    if "input" in error and kind not in ("missing",):
        value = error["input"]
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        if kind.endswith("_type") or kind.startswith(("literal", "union_tag")):
            return f"{message} (got {shown})"
    return message


def parse_study(raw: Any, source: Path) -> Study:
    """Validate an already-read study document; raise ``UserError`` on the first problem."""
    if raw is None:
        raise UserError.at(source, "(top level)", "the file is empty")
    if not isinstance(raw, Mapping):
        raise UserError.at(
            source, "(top level)", f"a study file is a mapping of keys (got {type(raw).__name__})"
        )
    try:
        study = Study.model_validate({**raw, "source": source}, strict=False)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        raise UserError.at(source, _format_location(first["loc"]), _format_problem(first)) from None
    _check_across_sections(study, source)
    check_functions_reach_workers(study)
    return study


def apply_overrides(raw: Any, overrides: Mapping[str, Any]) -> Any:
    """Command-line options (``--n-trials``...) written over the file's ``a.b`` keys."""
    if not isinstance(raw, Mapping) or not overrides:
        return raw
    merged = {
        key: dict(value) if isinstance(value, Mapping) else value for key, value in raw.items()
    }
    for dotted, value in overrides.items():
        if value is None:
            continue
        section, _, key = dotted.partition(".")
        if not key:
            merged[section] = value
            continue
        target = merged.get(section)
        merged[section] = {**(target if isinstance(target, Mapping) else {}), key: value}
    return merged


def load_study(
    study: str | os.PathLike[str] | Mapping[str, Any] | Study,
    overrides: Mapping[str, Any] | None = None,
    *,
    base_dir: str | os.PathLike[str] | None = None,
) -> Study:
    """Read, override and validate a study: a study file, a mapping with the file's keys
    (from Python), or a ``Study`` (checked again, with the overrides).

    A mapping's ``file.py:function`` references resolve from ``base_dir``, by default the
    current folder (as Python's ``open`` finds a relative path); its errors name the
    source ``<study>``. A study file's resolve from the file's folder.
    """
    if isinstance(study, Study):
        if base_dir is not None:
            raise TypeError("base_dir: a Study keeps the folder it was given")
        # warnings: pydantic checks cv's union against its first member (an int) first
        raw, source = study.model_dump(exclude_unset=True, warnings=False), study.source
    elif isinstance(study, Mapping):
        folder = Path(base_dir) if base_dir is not None else Path()
        raw, source = study, folder / IN_PYTHON
    else:
        if base_dir is not None:
            raise TypeError("base_dir: a study file's references resolve from its own folder")
        source = Path(study)
        raw = read_yaml(source)
    return parse_study(apply_overrides(raw, overrides or {}), source)


def study_yaml(study: Study) -> str:
    """The study as a study file would write it: the keys it was given (a function given
    from Python as its ``module:name``)."""
    document = study.model_dump(mode="json", exclude_unset=True, warnings=False)
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
