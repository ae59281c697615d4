"""The documentation says what the code does: the study-file reference lists exactly the
schema's keys with their defaults, links and repository paths lead somewhere, and no
bookkeeping labels ("session 12") reach a reader."""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from conftest import ROOT
from hpsearch.study.model import Study
from hpsearch.study.reading import parse_study

STUDY_FILE_DOC = ROOT / "docs" / "study-file.md"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

# Backticked text whose first folder is one of these is taken for a repository path.
REPOSITORY_FOLDERS = ("bench", "data", "docs", "hpsearch", "studies", "tests", ".ci")
REPOSITORY_FILES = ("README.md", "pyproject.toml", "constraints.txt")


# --- the study-file reference ----------------------------------------------------------


def _models_in(annotation) -> list[tuple[str, type[BaseModel]]]:
    """The pydantic models a field's annotation can hold, each with the key suffix that
    reaches it: "" for the value itself, ".NAME" for the values of a mapping."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [("", annotation)]
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _models_in(arguments[0])
    if origin in (typing.Union, types.UnionType):
        return [found for argument in arguments for found in _models_in(argument)]
    if origin is dict:
        return [(".NAME" + suffix, model) for suffix, model in _models_in(arguments[1])]
    if origin is list:
        return _models_in(arguments[0])
    return []


def schema_keys() -> dict[str, object]:
    """Every key a study file may hold, dotted (``search.space.NAME.low``), with its
    default (``PydanticUndefined`` when required). Each model is walked once, at the first
    key that reaches it: a range inside a branch has the keys of a range at the top."""
    keys: dict[str, object] = {}
    seen: set[type[BaseModel]] = set()

    def walk(model: type[BaseModel], prefix: str) -> None:
        seen.add(model)
        for name, field in model.model_fields.items():
            if field.exclude:  # set by hpsearch, not by the file (Study.source)
                continue
            key = f"{prefix}{name}"
            keys[key] = field.default
            for suffix, inner in _models_in(field.annotation):
                if inner not in seen:
                    walk(inner, f"{key}{suffix}.")

    walk(Study, "")
    return keys


def documented_keys() -> dict[str, str]:
    """The rows of every ``key | type | default | meaning`` table: key -> default cell."""
    rows: dict[str, str] = {}
    in_table = False
    for line in STUDY_FILE_DOC.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|"):
            in_table = False
        elif [cell.lower() for cell in cells[:4]] == ["key", "type", "default", "meaning"]:
            in_table = True
        elif in_table and not set(cells[0]) <= set("-: "):
            key = cells[0].strip("`")
            assert key not in rows, f"docs/study-file.md: {key} is documented twice"
            rows[key] = cells[2]
    return rows


def documented_default(cell: str) -> object:
    """A default cell read back: ``required``, ``unset`` (None; what unset means may
    follow), or the first value in backticks, as YAML."""
    word = cell.split(":")[0].split()[0].lower() if cell.strip() else ""
    if word == "required":
        return PydanticUndefined
    if word == "unset":
        return None
    literal = re.search(r"`([^`]*)`", cell)
    assert literal, f"a default is 'required', 'unset...' or a value in backticks: {cell!r}"
    return yaml.safe_load(literal.group(1))


def test_every_key_of_the_study_file_is_documented():
    missing = sorted(set(schema_keys()) - set(documented_keys()))
    assert not missing, f"docs/study-file.md lacks these keys of the schema: {missing}"


def test_every_documented_key_is_in_the_schema():
    unknown = sorted(set(documented_keys()) - set(schema_keys()))
    assert not unknown, f"docs/study-file.md documents keys the schema lacks: {unknown}"


def test_documented_defaults_are_the_schemas():
    schema = schema_keys()
    wrong = []
    for key, cell in documented_keys().items():
        if key not in schema:
            continue
        default, documented = schema[key], documented_default(cell)
        if isinstance(default, BaseModel):  # a section: its defaults, written as a mapping
            same = isinstance(documented, dict) and type(default)(**documented) == default
        elif default is PydanticUndefined or default is None:
            same = documented is default
        else:
            exact = type(documented) is type(default)
            widened = type(default) is float and type(documented) is int  # `1` for 1.0
            same = documented == default and (exact or widened)
        if not same:
            shown = "required" if default is PydanticUndefined else repr(default)
            wrong.append(f"{key}: documented {cell!r}, the schema says {shown}")
    assert not wrong, "docs/study-file.md: " + "; ".join(wrong)


def test_the_reference_examples_are_valid_study_files(tmp_path):
    """Every complete study file in the reference (a YAML block with ``name:``) parses."""
    blocks = re.findall(r"```yaml\n(.*?)```", STUDY_FILE_DOC.read_text(), flags=re.S)
    studies = [block for block in blocks if re.search(r"^name:", block, flags=re.M)]
    assert studies
    for block in studies:
        if "task:" in block:
            parse_study(yaml.safe_load(block), tmp_path / "study.yaml")


# --- links and paths -------------------------------------------------------------------


def _prose(text: str) -> str:
    """The text without its fenced code blocks (commands and YAML, not references)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    headings = re.findall(r"^#+ (.+)$", _prose(path.read_text()), flags=re.M)
    return {_slug(heading) for heading in headings}


def looks_like_repository_path(text: str) -> bool:
    if text in REPOSITORY_FILES:
        return True
    if " " in text or "://" in text or "/" not in text:
        return False
    first = text.split("/")[0]
    placeholder = any(re.fullmatch(r"[A-Z][A-Z_]*(\.\w+)?", part) for part in text.split("/"))
    return first in REPOSITORY_FOLDERS and not placeholder and not re.search(r"[*<>{}]", text)


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: str(path.relative_to(ROOT)))
def test_links_and_paths_lead_somewhere(doc):
    text = _prose(doc.read_text())
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        linked = (doc.parent / file_part).resolve() if file_part else doc
        if not linked.exists():
            broken.append(f"link {target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
            broken.append(f"link {target}: no heading #{anchor} in {linked.name}")
    for quoted in re.findall(r"`([^`\n]+)`", text):
        path_text, _, test_name = quoted.partition("::")
        if not looks_like_repository_path(path_text):
            continue
        path = ROOT / path_text
        if not path.exists():
            broken.append(f"`{quoted}`: no such file in the repository")
        elif test_name and f"def {test_name.split('::')[-1]}(" not in path.read_text():
            broken.append(f"`{quoted}`: no such test")
    assert not broken, f"{doc.relative_to(ROOT)}: " + "; ".join(broken)


# --- labels ----------------------------------------------------------------------------

BOOKKEEPING_LABEL = re.compile(r"\b(session|round|issue)s?[ _-]?#?\d+\b", re.IGNORECASE)


def test_no_bookkeeping_labels_reach_readers():
    """A reader cannot look up "session 12" or "issue 7": say what changed instead."""
    files = [ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), *(ROOT / "docs").rglob("*.py")]
    files += (ROOT / "hpsearch").rglob("*.py")
    found = []
    for path in files:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = BOOKKEEPING_LABEL.search(line)
            if match:
                found.append(f"{path.relative_to(ROOT)}:{number}: {match.group(0)!r}")
    assert not found, "labels a reader cannot look up: " + "; ".join(found)
