"""Reading a HyperpruneSearch and naming every problem with its field path. Torch-free.

Validation runs in two passes so that one run reports everything a user must fix:
1. each section of ``spec`` is validated on its own (a broken ``training`` does not hide a broken
   ``space``);
2. the semantic rules (parameters against the pruning catalogue, rungs against the training length,
   strategy against the dense reference, ...) run on every section that passed.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping

import yaml
from pydantic import TypeAdapter, ValidationError, create_model

from hyperprune.pruning.catalog import METHODS, Sparsity
from hyperprune.schema import Model, error_path
from hyperprune.spec.space import (
    SEARCHABLE_MODEL_FIELDS,
    UNSEARCHABLE_TRAINING_FIELDS,
    Range,
    field_kind,
    field_name,
    params_model,
    point_key,
)
from hyperprune.spec.strategy import LS_STRATEGIES, RUNG_STRATEGIES
from hyperprune.trial.config import ModelConfig, TrainingConfig

Issue = tuple[str, str]  # (field path, message)


class SearchSpecError(ValueError):
    """A HyperpruneSearch that cannot run; ``errors`` holds one ``path: message`` line per problem."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("\n".join(errors))


class SearchFileError(SearchSpecError):
    """The file itself is the problem (missing, unreadable, not YAML, not one document): no field to name."""


# ---- rendering ------------------------------------------------------------------------------


def _clean_loc(loc: Iterable[Any]) -> tuple[Any, ...]:
    # Union members are tagged "<range>", "<int>", ... (hyperprune.spec.space); they are not fields.
    return tuple(p for p in loc if not (isinstance(p, str) and p.startswith("<") and p.endswith(">")))


def _clean_msg(msg: str) -> str:
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def validation_issues(exc: ValidationError, prefix: str = "") -> list[Issue]:
    issues = []
    for err in exc.errors():
        path = error_path(_clean_loc(err["loc"]))
        if prefix:
            path = prefix if path == "<root>" else f"{prefix}.{path}" if not path.startswith("[") else prefix + path
        issues.append((path, _clean_msg(err["msg"])))
    return issues


def render(issues: Iterable[Issue]) -> list[str]:
    return [f"{path}: {message}" for path, message in issues]


# ---- semantic rules -------------------------------------------------------------------------


def _value_issues(model: type[Model], name: str, value: Any, path: str) -> list[Issue]:
    alias = model.model_fields[name].alias or name
    try:
        model.model_validate({alias: value})
    except ValidationError as exc:
        return [(path, _clean_msg(err["msg"])) for err in exc.errors() if tuple(err["loc"][:1]) == (alias,)]
    return []


def _known(model: type[Model]) -> str:
    return ", ".join(info.alias or name for name, info in model.model_fields.items())


def _domain_issues(model: type[Model], key: str, domain: Any, path: str, what: str) -> list[Issue]:
    name = field_name(model, key)
    if name is None:
        return [(path, f"unknown parameter of {what}; known: {_known(model)}")]
    kind = field_kind(model, name)
    if isinstance(domain, Range):
        if kind == "other":
            return [(path, "a range needs a numeric parameter; give a value or a list of choices")]
        issues = []
        if kind == "int":
            for part in ("low", "high", "step"):
                v = getattr(domain, part)
                if v is not None and not float(v).is_integer():
                    issues.append((f"{path}.{part}", f"{key} is an integer; got {v}"))
        issues += _value_issues(model, name, domain.low, f"{path}.low")
        issues += _value_issues(model, name, domain.high, f"{path}.high")
        return issues
    if isinstance(domain, list):
        issues = []
        seen: list[Any] = []
        for j, value in enumerate(domain):
            issues += _value_issues(model, name, value, f"{path}[{j}]")
            if value in seen:
                issues.append((f"{path}[{j}]", f"duplicate choice {value!r}"))
            seen.append(value)
        return issues
    return _value_issues(model, name, domain, path)


def _setting_issues(section: str, overrides: Mapping[str, Any], path: str, *, domains: bool) -> list[Issue]:
    """Searched (domains) or overridden (values) training/model settings."""
    model = TrainingConfig if section == "training" else ModelConfig
    issues = []
    for key, value in overrides.items():
        name = field_name(model, key)
        at = f"{path}.{key}"
        if section == "training" and name in UNSEARCHABLE_TRAINING_FIELDS:
            issues.append((at, "training.epochs is the horizon of every schedule and of the search; it cannot vary"))
        elif section == "model" and name is not None and name not in SEARCHABLE_MODEL_FIELDS:
            issues.append(
                (
                    at,
                    "only model.dropout can vary between candidates: other model settings change the "
                    "recurrent state, and spectra of different sizes cannot be compared with the dense reference",
                )
            )
        elif domains:
            issues += _domain_issues(model, key, value, at, f"spec.{section}")
        elif name is None:
            issues.append((at, f"unknown setting of spec.{section}; known: {_known(model)}"))
        else:
            issues += _value_issues(model, name, value, at)
    return issues


def _space_issues(space: Any, pool: Literal["absent", "given", "invalid"], space_set: bool) -> list[Issue]:
    issues: list[Issue] = []
    if pool == "given":
        if space_set:
            issues.append(("spec.space", "give either spec.space or spec.candidates (an explicit pool), not both"))
        return issues
    if pool == "absent" and not space.methods:
        issues.append(
            (
                "spec.space.methods",
                "the search space is empty: list at least one pruning method "
                f"({', '.join(m for m in METHODS if m != 'none')}), or give a pool in spec.candidates",
            )
        )
    for i, method in enumerate(space.methods):
        model = params_model(method.method)
        for key, domain in method.params.items():
            issues += _domain_issues(
                model, key, domain, f"spec.space.methods[{i}].params.{key}", f"method '{method.method}'"
            )
    issues += _sparsity_issues(space.sparsity)
    issues += _setting_issues("training", space.training, "spec.space.training", domains=True)
    issues += _setting_issues("model", space.model, "spec.space.model", domains=True)
    return issues


def _sparsity_issues(domain: Any) -> list[Issue]:
    if isinstance(domain, Range):
        located = [(".low", domain.low), (".high", domain.high)]
    elif isinstance(domain, list):
        located = [(f"[{j}]", value) for j, value in enumerate(domain)]
    else:
        located = [("", domain)]
    issues = []
    for where, value in located:
        try:
            TypeAdapter(Sparsity).validate_python(value)
        except ValidationError as exc:
            issues += [(f"spec.space.sparsity{where}", _clean_msg(e["msg"])) for e in exc.errors()]
    return issues


def _candidate_issues(candidates: list[Any]) -> list[Issue]:
    if not candidates:
        return [("spec.candidates", "the candidate pool is empty")]
    issues: list[Issue] = []
    first_seen: dict[str, int] = {}
    for i, cand in enumerate(candidates):
        path = f"spec.candidates[{i}]"
        settings = METHODS[cand.method][0]
        try:
            settings.model_validate({"method": cand.method, "sparsity": cand.sparsity, "params": cand.params})
        except ValidationError as exc:
            issues += validation_issues(exc, path)
        issues += _setting_issues("training", cand.training, f"{path}.training", domains=False)
        issues += _setting_issues("model", cand.model, f"{path}.model", domains=False)
        key = point_key(cand.point())
        if key in first_seen:
            issues.append((path, f"duplicate of spec.candidates[{first_seen[key]}]"))
        first_seen.setdefault(key, i)
    return issues


def _strategy_issues(strategy: Any, training: Any, dense: Any) -> list[Issue]:
    issues: list[Issue] = []
    epochs = training.epochs if training is not None else None
    if epochs is not None and strategy.name in RUNG_STRATEGIES:
        first = strategy.rungs.first
        if first >= epochs:
            issues.append(
                (
                    "spec.strategy.rungs.first",
                    f"the first rung (epoch {first}) must come before the end of training (spec.training.epochs = {epochs})",
                )
            )
        elif strategy.rungs.count is not None and strategy.name != "lsh-sync":
            fitting = strategy.fitting_rungs(epochs)
            if strategy.rungs.count > len(fitting):
                issues.append(
                    (
                        "spec.strategy.rungs.count",
                        f"{strategy.rungs.count} rungs do not fit before epoch {epochs}: "
                        f"rungs can be at epochs {fitting} (at most {len(fitting)})",
                    )
                )
    if dense is not None and strategy.name in LS_STRATEGIES and not dense.enabled:
        issues.append(
            (
                "spec.dense.enabled",
                f"strategy {strategy.name} ranks candidates by their distance to the dense model's spectra; "
                "enable the dense reference or choose full, asha-loss, median or random",
            )
        )
    if strategy.generation.sampler == "tpe" and strategy.name not in LS_STRATEGIES:
        issues.append(
            (
                "spec.strategy.generation.sampler",
                "tpe minimises the LS distance at the first rung, which only lsh and lsh-sync use; choose random",
            )
        )
    return issues


def _latest_pruning(space: Any, candidates: list[Any] | None, epochs: int) -> tuple[int, str] | None:
    """The latest epoch after which some candidate of the search reaches its target sparsity, and
    which candidate that is; None when every candidate is pruned before training."""
    from hyperprune.pruning.catalog import pruned_after_epoch
    from hyperprune.spec.space import domain_values

    latest: tuple[int, str] | None = None
    if candidates is not None:
        entries = [(f"spec.candidates[{i}]", c.point()["method"], c.point().get("params") or {}) for i, c in enumerate(candidates)]
    else:
        entries = []
        for i, method in enumerate(space.methods if space is not None else []):
            # Every schedule grows with its settings (pruneEpoch, endFraction, rounds, roundEpochs):
            # the largest value of each domain gives the latest epoch in the space.
            params = {}
            for name, domain in method.params.items():
                values = domain_values(domain)
                numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
                params[name] = max(numbers) if numbers else values[0]
            entries.append((f"spec.space.methods[{i}]", method.method, params))
    for where, method, params in entries:
        try:
            epoch = pruned_after_epoch(method, params, epochs)
        except ValidationError:
            continue  # invalid settings are reported by their own rule
        if epoch and (latest is None or epoch > latest[0]):
            latest = (epoch, f"{where} ({method})")
    return latest


def _schedule_issues(strategy: Any, training: Any, space: Any, candidates: list[Any] | None) -> list[Issue]:
    """LS strategies compare spectra at the first rung: a candidate that is not pruned yet there is
    the dense model in all but name, so its small distance says nothing about how it will end."""
    if strategy.name not in LS_STRATEGIES or training is None:
        return []
    latest = _latest_pruning(space, candidates, training.epochs)
    if latest is None or strategy.rungs.first > latest[0]:
        return []
    epoch, who = latest
    return [
        (
            "spec.strategy.rungs.first",
            f"the first rung (epoch {strategy.rungs.first}) compares LS distances before every candidate is pruned: "
            f"{who} reaches its sparsity only after epoch {epoch}; set rungs.first to {epoch + 1} or more, "
            "or end that pruning schedule earlier",
        )
    ]


def _model_issues(model: Any, lyapunov: Any) -> list[Issue]:
    issues: list[Issue] = []
    if model is None:
        return issues
    if model.tie_weights and (model.embedding_size or model.hidden_size) != model.hidden_size:
        issues.append(("spec.model.tieWeights", "tied weights need model.embeddingSize equal to model.hiddenSize"))
    if lyapunov is not None and lyapunov.k is not None:
        per_unit = 2 if (model.arch == "lstm" and lyapunov.state == "full") else 1
        size = model.num_layers * model.hidden_size * per_unit
        if lyapunov.k > size:
            issues.append(("spec.lyapunov.k", f"{lyapunov.k} exponents requested but the model's state has {size}"))
    return issues


def _trial_config_issues(sections: Mapping[str, Any]) -> list[Issue]:
    """Safety net: every trial config the search will write must validate."""
    from hyperprune.spec.models import SearchSpec

    spec = SearchSpec.model_construct(**sections)
    points = [("the dense reference", None)]
    points += [(f"spec.candidates[{i}]", c.point()) for i, c in enumerate(sections.get("candidates") or [])]
    issues = []
    for what, point in points:
        try:
            spec.trial_config("check", point)
        except ValidationError as exc:
            issues += [("spec", f"trial config of {what}: {path}: {msg}") for path, msg in validation_issues(exc)]
    return issues


def semantic_issues(sections: Mapping[str, Any], spec_fields_set: Iterable[str] = ()) -> list[Issue]:
    """Rules that span fields. ``sections`` maps SearchSpec field names to validated values; a section
    missing from it failed validation, and the rules that need it are skipped."""
    fields_set = set(spec_fields_set)
    get = sections.get
    issues: list[Issue] = []
    if "space" in sections:
        pool = "invalid" if "candidates" not in sections else "absent" if get("candidates") is None else "given"
        issues += _space_issues(get("space"), pool, "space" in fields_set)
    if get("candidates") is not None:
        issues += _candidate_issues(get("candidates"))
    if "strategy" in sections:
        issues += _strategy_issues(get("strategy"), get("training"), get("dense"))
    if "strategy" in sections and ("space" in sections or get("candidates") is not None):
        issues += _schedule_issues(get("strategy"), get("training"), get("space"), get("candidates"))
    issues += _model_issues(get("model"), get("lyapunov"))
    from hyperprune.spec.models import SearchSpec

    if not issues and all(name in sections for name in SearchSpec.model_fields):
        issues += _trial_config_issues(sections)
    return issues


# ---- parsing --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _section_model(name: str) -> type[Model]:
    from hyperprune.spec.models import SearchSpec

    info = SearchSpec.model_fields[name]
    return create_model(f"Section_{name}", __base__=Model, **{name: (info.annotation, info)})


def parse_search(document: Any) -> Any:
    """A HyperpruneSearch from a parsed YAML/JSON document; SearchSpecError names every problem."""
    from hyperprune.spec.models import API_VERSION, KIND, HyperpruneSearch, ObjectMeta, SearchSpec

    if not isinstance(document, dict):
        raise SearchSpecError([f"<root>: expected a {KIND} document (a mapping), got {type(document).__name__}"])
    issues: list[Issue] = []
    if document.get("apiVersion") != API_VERSION:
        issues.append(("apiVersion", f"expected {API_VERSION}, got {document.get('apiVersion')!r}"))
    if document.get("kind") != KIND:
        issues.append(("kind", f"expected {KIND}, got {document.get('kind')!r}"))
    try:
        ObjectMeta.model_validate(document.get("metadata"))
    except ValidationError as exc:
        issues += validation_issues(exc, "metadata")
    for key in document:
        if key not in ("apiVersion", "kind", "metadata", "spec", "status"):
            issues.append((key, "Extra inputs are not permitted"))

    spec = document.get("spec")
    if not isinstance(spec, dict):
        problem = "Field required" if spec is None else "expected a mapping"
        raise SearchSpecError(render(issues + [("spec", problem)]))
    by_key = {}
    for name, info in SearchSpec.model_fields.items():
        for key in (info.alias, name):
            if key in spec:
                by_key[key] = name
    for key in spec:
        if key not in by_key:
            issues.append((f"spec.{key}", "Extra inputs are not permitted"))
    sections: dict[str, Any] = {}
    given: set[str] = set()
    for name, info in SearchSpec.model_fields.items():
        keys = [k for k, n in by_key.items() if n == name]
        if not keys:
            sections[name] = info.get_default(call_default_factory=True)
            continue
        given.add(name)
        try:
            section = _section_model(name).model_validate({info.alias or name: spec[keys[0]]})
            sections[name] = getattr(section, name)
        except ValidationError as exc:
            issues += validation_issues(exc, "spec")
    issues += semantic_issues(sections, given)
    if issues:
        raise SearchSpecError(render(issues))
    try:
        return HyperpruneSearch.model_validate(document)
    except ValidationError as exc:  # a rule the passes above do not mirror
        raise SearchSpecError(render(validation_issues(exc))) from None


def load_search(path: str | os.PathLike[str]) -> Any:
    """Read SEARCH.yaml (one HyperpruneSearch document) into a validated model."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SearchFileError([f"cannot read {path}: {exc.strerror or exc}"]) from None
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise SearchFileError([f"{path} is not valid YAML: {exc}"]) from None
    if len(documents) != 1:
        raise SearchFileError([f"{path} holds {len(documents)} YAML documents, expected one HyperpruneSearch"])
    return parse_search(documents[0])


def local_path_issues(search: Any, base_dir: str | os.PathLike[str] = ".") -> list[Issue]:
    """Files the local engine needs: the data directory (relative paths from base_dir) and its split files."""
    data = search.spec.data
    if not data.path:
        return []
    root = Path(base_dir) / data.path
    if not root.is_dir():
        return [("spec.data.path", f"{root}: no such directory on this machine")]
    if not os.access(root, os.R_OK | os.X_OK):
        return [("spec.data.path", f"{root}: not readable")]
    issues = []
    if data.files is not None:
        for split in ("train", "valid", "test"):
            name = getattr(data.files, split)
            if name and not (root / name).is_file():
                issues.append((f"spec.data.files.{split}", f"{root / name}: no such file"))
    return issues
