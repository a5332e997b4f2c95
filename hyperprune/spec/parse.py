"""Reading a HyperpruneSearch and naming every problem with its field path. Torch-free.

One parse, in two passes, so that one run reports everything a user must fix:
1. each section of ``spec`` is validated on its own, with its own checks (a broken ``training`` does
   not hide a broken ``space``);
2. the rules across sections (hyperprune.spec.rules) run once, on every section that passed.
The search is then assembled from the parsed sections as they are, without validating them again.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError, create_model

from hyperprune.contract.api import API_VERSION, SEARCH_KIND
from hyperprune.contract.document import Issue, Model, path_loc
from hyperprune.spec.errors import SearchFileError, SearchSpecError, prefixed, render, validation_issues
from hyperprune.spec.models import HyperpruneSearch, ObjectMeta, SearchSpec
from hyperprune.spec.rules import Pool, Sections, spec_issues
from hyperprune.spec.space import Candidate

_TOP_KEYS = ("apiVersion", "kind", "metadata", "spec", "status")
_STATUS: TypeAdapter[dict[str, Any] | None] = TypeAdapter(dict[str, Any] | None)


@functools.lru_cache(maxsize=None)
def _section_model(name: str) -> type[Model]:
    """A model holding one field of SearchSpec, so that a section is validated on its own and its
    errors carry the section's name."""
    info = SearchSpec.model_fields[name]
    model: type[Model] = create_model(f"Section_{name}", __base__=Model, **{name: (info.annotation, info)})  # type: ignore[call-overload]
    return model


def _header_issues(document: dict[str, Any]) -> tuple[list[Issue], ObjectMeta | None, dict[str, Any] | None]:
    issues: list[Issue] = []
    if document.get("apiVersion") != API_VERSION:
        issues.append(("apiVersion", f"expected {API_VERSION}, got {document.get('apiVersion')!r}"))
    if document.get("kind") != SEARCH_KIND:
        issues.append(("kind", f"expected {SEARCH_KIND}, got {document.get('kind')!r}"))
    metadata = status = None
    try:
        metadata = ObjectMeta.model_validate(document.get("metadata"))
    except ValidationError as exc:
        issues += validation_issues(exc, "metadata")
    try:
        status = _STATUS.validate_python(document.get("status"))
    except ValidationError as exc:
        issues += validation_issues(exc, "status")
    for key in document:
        if key not in _TOP_KEYS:
            issues.append((key, "Extra inputs are not permitted"))
    return issues, metadata, status


_SPEC_SECTIONS = {info.alias or name: i for i, (name, info) in enumerate(SearchSpec.model_fields.items())}


def _document_order(issue: Issue) -> tuple[int, int, int]:
    """Where an issue's field sits in the document: the top-level key, the spec's section, and the
    item of a list section (spec.candidates[3]). Issues at one place keep the order they were found in."""
    loc = path_loc(issue[0])
    top = _TOP_KEYS.index(str(loc[0])) if loc and loc[0] in _TOP_KEYS else len(_TOP_KEYS)
    section = _SPEC_SECTIONS.get(str(loc[1]), len(_SPEC_SECTIONS)) if top == 3 and len(loc) > 1 else -1
    item = loc[2] if top == 3 and len(loc) > 2 and isinstance(loc[2], int) else -1
    return top, section, item


def parse_search(document: object) -> HyperpruneSearch:
    """A HyperpruneSearch from a parsed YAML/JSON document; SearchSpecError names every problem."""
    if not isinstance(document, dict):
        raise SearchSpecError([f"<root>: expected a {SEARCH_KIND} document (a mapping), got {type(document).__name__}"])
    issues, metadata, status = _header_issues(document)
    spec = document.get("spec")
    if not isinstance(spec, dict):
        problem = "Field required" if spec is None else "expected a mapping"
        raise SearchSpecError(render(issues + [("spec", problem)]))

    by_key: dict[str, str] = {}
    for name, info in SearchSpec.model_fields.items():
        for key in (info.alias, name):
            if key is not None and key in spec:
                by_key[key] = name
    issues += [(f"spec.{key}", "Extra inputs are not permitted") for key in spec if key not in by_key]

    sections: dict[str, Any] = {}
    given: set[str] = set()
    pool_items: list[tuple[int, Candidate]] = []
    for name, info in SearchSpec.model_fields.items():
        keys = [k for k, n in by_key.items() if n == name]
        if not keys:
            sections[name] = info.get_default(call_default_factory=True)
            continue
        given.add(name)
        value = spec[keys[0]]
        if name == "candidates" and isinstance(value, list):
            # Candidate by candidate: one broken candidate hides neither the others' problems nor duplicates.
            found_issues = len(issues)
            for i, item in enumerate(value):
                try:
                    pool_items.append((i, Candidate.model_validate(item)))
                except ValidationError as exc:
                    issues += validation_issues(exc, f"spec.candidates[{i}]")
            if len(issues) == found_issues:
                sections[name] = [candidate for _, candidate in pool_items]
            continue
        try:
            parsed = _section_model(name).model_validate({info.alias or name: value})
            sections[name] = getattr(parsed, name)
            if name == "candidates" and sections[name] is not None:
                pool_items = list(enumerate(sections[name]))
        except ValidationError as exc:
            issues += validation_issues(exc, "spec")

    pool: Pool = "invalid" if "candidates" not in sections else "absent" if sections["candidates"] is None else "given"
    found = Sections(
        given=frozenset(given),
        space=sections.get("space"),
        candidates=sections.get("candidates"),
        pool=pool,
        pool_items=tuple(pool_items),
        strategy=sections.get("strategy"),
        training=sections.get("training"),
        dense=sections.get("dense"),
        objective=sections.get("objective"),
        device=sections.get("device"),
        model=sections.get("model"),
        lyapunov=sections.get("lyapunov"),
        data=sections.get("data"),
        task=sections.get("task"),
    )
    issues += prefixed(spec_issues(found), "spec")
    if issues or metadata is None:
        raise SearchSpecError(render(sorted(issues, key=_document_order)))
    return HyperpruneSearch.model_construct(
        api_version=API_VERSION,
        kind=SEARCH_KIND,
        metadata=metadata,
        spec=SearchSpec.model_construct(_fields_set=given, **sections),
        status=status,
    )


class _DuplicateKey(Exception):
    def __init__(self, key: object, line: int, first: int) -> None:
        self.key, self.line, self.first = key, line, first


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a mapping that names a key twice: the plain loader keeps the
    last value silently, so a user who sets ``epochs`` twice never learns which one counts."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise _DuplicateKey(key, line, seen[key])
            if isinstance(key, (str, int, float, bool)):
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_text_file(path: Path, what: str) -> str:
    """A text file's content; SearchFileError naming the file when it cannot be read, is not UTF-8
    or is binary (a user who passes the wrong file learns which and why, not a traceback)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SearchFileError([f"cannot read {path}: {exc.strerror or exc}"]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SearchFileError([f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); expected {what}"]) from None
    if "\x00" in text:
        raise SearchFileError([f"{path} is binary (it holds NUL bytes), not {what}"])
    return text


def load_yaml_documents(path: Path, what: str) -> list[Any]:
    """Every non-empty YAML document of a text file; SearchFileError naming the file, and the line
    of a duplicated key, when the YAML is not valid."""
    text = read_text_file(path, what)
    try:
        return [d for d in yaml.load_all(text, Loader=_UniqueKeyLoader) if d is not None]
    except _DuplicateKey as dup:
        raise SearchFileError([f"{path}, line {dup.line}: duplicate key {dup.key!r} (first at line {dup.first})"]) from None
    except yaml.YAMLError as exc:
        raise SearchFileError([f"{path} is not valid YAML: {exc}"]) from None


def load_search(path: str | os.PathLike[str]) -> HyperpruneSearch:
    """Read SEARCH.yaml (one HyperpruneSearch document) into a validated model."""
    path = Path(path)
    documents = load_yaml_documents(path, "a HyperpruneSearch YAML file")
    if len(documents) != 1:
        raise SearchFileError([f"{path} holds {len(documents)} YAML documents, expected one HyperpruneSearch"])
    return parse_search(documents[0])
