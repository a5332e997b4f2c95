"""The rules of a search spec that span its sections, each in one place. Torch-free.

A section checks itself when it is parsed (a domain against the catalogue, a range's bounds); the
rules here need two or more sections: the rungs against the training length, the strategy against
the dense reference, the candidates' pruning schedules against the first rung, the model against
the data and the spectrum settings (the last two with the trial config's own rules, from the
contract), and what cannot apply when a task's entry point supplies the model and the data. Paths
are relative to ``spec``.

``spec_issues`` runs once per parse: ``hyperprune.spec.parse`` calls it on the sections that parsed
(a section that did not is None, and the rules that need it are skipped), and ``SearchSpec``'s own
validator calls it when a spec is validated as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hyperprune.contract.document import Issue
from hyperprune.contract.pruning import CANDIDATE_METHODS, METHODS, MethodParams
from hyperprune.contract.text import built_in_sizes
from hyperprune.contract.trial import (
    DataConfig,
    ModelConfig,
    TaskConfig,
    TrainingConfig,
    lyapunov_issues,
    model_issues,
    task_issues,
)
from hyperprune.spec.domains import ScalarValue, domain_values
from hyperprune.spec.feasible import corpus_issues, pruning_issues, steps_for
from hyperprune.spec.sections import DenseReference, LyapunovSettings, Objective
from hyperprune.spec.space import Candidate, SearchSpace
from hyperprune.spec.strategy import LS_STRATEGIES, RUNG_STRATEGIES, Strategy

Pool = Literal["absent", "given", "invalid"]


@dataclass(frozen=True)
class Sections:
    """The sections of a spec that parsed (None: the section did not parse), and which of them the
    document sets."""

    given: frozenset[str]
    space: SearchSpace | None
    candidates: list[Candidate] | None
    pool: Pool  # spec.candidates: absent (null), given, or invalid (did not parse)
    pool_items: tuple[tuple[int, Candidate], ...]  # the candidates that parsed, by index (all of a valid pool)
    strategy: Strategy | None
    training: TrainingConfig | None
    dense: DenseReference | None
    objective: Objective | None
    device: str | None
    model: ModelConfig | None
    lyapunov: LyapunovSettings | None
    data: DataConfig | None
    task: TaskConfig | None = None


def spec_issues(s: Sections) -> list[Issue]:
    issues: list[Issue] = []
    if s.space is not None:
        issues += _space_issues(s.space, s.pool, "space" in s.given)
    if s.candidates is not None or s.pool_items:
        issues += _candidate_issues(s.pool_items, empty=s.candidates == [])
    if s.strategy is not None:
        issues += _strategy_issues(s.strategy, s.training, s.dense)
        if s.space is not None or s.candidates is not None:
            issues += _schedule_issues(s.strategy, s.training, s.space, s.candidates)
    if s.objective is not None:
        issues += _objective_issues(s.objective, s.strategy, s.dense, s.device)
    if s.task is not None:  # (task: null, as a search written back with its defaults has it, is no task)
        issues += _task_issues(s)
        if s.lyapunov is not None and s.training is not None:
            issues += lyapunov_issues(s.lyapunov, None, s.training)
    elif s.model is not None:
        # The trial config's own rules: its sections have the same names as the spec's.
        issues += model_issues(s.model, s.data)
        if s.lyapunov is not None and s.training is not None:
            issues += lyapunov_issues(s.lyapunov, s.model, s.training)
    issues += _feasibility_issues(s)
    return issues


def _feasibility_issues(s: Sections) -> list[Issue]:
    """What a trial would refuse, known from the spec alone: the candidates' pruning schedules
    (with the built-in corpora's steps per epoch), ISS sparsities, a built-in corpus too small for
    the recipe. Corpora read from files are checked by the engine that reads them. A task's entry
    point supplies its model and data, so only what the epochs decide is known here; its trials
    check the rest on the real model and loaders (``hyperprune trial --check``)."""
    if s.training is None or s.model is None or s.data is None:
        return []
    own_model = s.task is not None
    issues: list[Issue] = []
    sizes = None if own_model else built_in_sizes(s.data)
    if sizes is not None and s.lyapunov is not None:
        issues += corpus_issues(sizes, s.training, s.lyapunov, s.data)
    if s.candidates is not None or s.pool == "absent":
        space = s.space if s.candidates is None else None
        model = None if own_model else s.model
        issues += pruning_issues(space, s.candidates, s.training, model, s.data, steps_for(sizes) if sizes else None)
    return issues


def _task_issues(s: Sections) -> list[Issue]:
    """A task's entry point supplies the model and the data: the sections and overrides that set
    them cannot apply (the trial config's rule, plus the candidates' model overrides)."""
    # By value, not by presence: a spec written back with its defaults (search.json) reads the same.
    default = TrainingConfig()
    training_set = frozenset(
        name for name in TrainingConfig.model_fields if s.training is not None and getattr(s.training, name) != getattr(default, name)
    )
    issues = task_issues(
        data_given=s.data is not None and s.data != DataConfig(),
        model_given=s.model is not None and s.model != ModelConfig(),
        training_set=training_set,
    )
    if s.space is not None and s.space.model:
        issues.append(("space.model", "the task's entry point builds the model; search its settings through task.params"))
    for i, candidate in s.pool_items:
        if candidate.model:
            issues.append((f"candidates[{i}].model", "the task's entry point builds the model; remove the override"))
    return issues


def _space_issues(space: SearchSpace, pool: Pool, space_set: bool) -> list[Issue]:
    if pool == "given":
        # An empty space beside a pool (``space: {}``, or the default a stored search writes out)
        # names no second source of candidates.
        both = space_set and space != SearchSpace()
        return [("space", "give either spec.space or spec.candidates (an explicit pool), not both")] if both else []
    if pool == "absent" and not space.methods:
        return [
            (
                "space.methods",
                "the search space is empty: list at least one pruning method "
                f"({', '.join(CANDIDATE_METHODS)}), or give a pool in spec.candidates",
            )
        ]
    return []


def _candidate_issues(candidates: tuple[tuple[int, Candidate], ...], *, empty: bool) -> list[Issue]:
    if empty:
        return [("candidates", "the candidate pool is empty")]
    issues: list[Issue] = []
    first_seen: dict[str, int] = {}
    for i, candidate in candidates:
        key = candidate.point().key
        if key in first_seen:
            issues.append((f"candidates[{i}]", f"duplicate of spec.candidates[{first_seen[key]}]"))
        first_seen.setdefault(key, i)
    return issues


# Strategies whose rungs can weigh cost beside their score (non-dominated sorting, policy.objectives).
COST_STRATEGIES = frozenset({"lsh", "asha-loss", "random", "full"})


def _objective_issues(objective: Objective, strategy: Strategy | None, dense: DenseReference | None,
                      device: str | None) -> list[Issue]:
    issues: list[Issue] = []
    if objective.name == "sparsest-within" and objective.tolerance is None:
        issues.append(("objective.tolerance", "sparsest-within needs a tolerance: the percentage of the dense "
                                              "model's final metric a candidate may lose, e.g. 5"))
    if objective.tolerance is not None and objective.name != "sparsest-within":
        issues.append(("objective.tolerance", f"only sparsest-within uses a tolerance, not {objective.name}"))
    if objective.tolerance is not None and dense is not None and not dense.enabled:
        issues.append(("objective.tolerance", "a tolerance is measured against the dense reference; set "
                                              "dense.enabled: true"))
    if objective.by_cost and strategy is not None and strategy.name not in COST_STRATEGIES:
        issues.append(("objective.name", f"strategy {strategy.name} ranks by the metric alone and cannot weigh "
                                         f"cost; use {objective.name} with one of {', '.join(sorted(COST_STRATEGIES))}"))
    if objective.by_cost and objective.cost == "latency" and device == "auto":
        issues.append(("objective.cost", "latency is measured on each trial's device, and device auto may put "
                                         "trials on CUDA and on CPU; set spec.device to cpu or cuda, or use "
                                         "nonzero-params or bytes"))
    return issues


def _strategy_issues(strategy: Strategy, training: TrainingConfig | None, dense: DenseReference | None) -> list[Issue]:
    issues: list[Issue] = []
    if training is not None and strategy.name in RUNG_STRATEGIES and strategy.rungs.epochs:
        given, epochs = strategy.rungs.epochs, training.epochs
        if any(b <= a for a, b in zip(given, given[1:])):
            issues.append(("strategy.rungs.epochs", f"rung epochs must increase; got {given}"))
        elif given[-1] >= epochs:
            issues.append(("strategy.rungs.epochs", f"every rung must come before the end of training "
                                                    f"(spec.training.epochs = {epochs}); got {given}"))
    elif training is not None and strategy.name in RUNG_STRATEGIES:
        epochs, first = training.epochs, strategy.rungs.first
        if first >= epochs:
            issues.append(
                (
                    "strategy.rungs.first",
                    f"the first rung (epoch {first}) must come before the end of training (spec.training.epochs = {epochs})",
                )
            )
        elif strategy.rungs.count is not None and strategy.name != "lsh-sync":
            fitting = strategy.fitting_rungs(epochs)
            if strategy.rungs.count > len(fitting):
                issues.append(
                    (
                        "strategy.rungs.count",
                        f"{strategy.rungs.count} rungs do not fit before epoch {epochs}: "
                        f"rungs can be at epochs {fitting} (at most {len(fitting)})",
                    )
                )
    if dense is not None and strategy.name in LS_STRATEGIES and not dense.enabled:
        issues.append(
            (
                "dense.enabled",
                f"strategy {strategy.name} ranks candidates by their distance to the dense model's spectra; "
                "enable the dense reference or choose full, asha-loss, median or random",
            )
        )
    if strategy.score.rule != "ls" and strategy.name != "lsh":
        issues.append(("strategy.score.rule", f"{strategy.score.rule} is a rule of lsh; {strategy.name} ranks "
                                              "otherwise (remove it or choose lsh)"))
    if strategy.score.exponents is not None and strategy.name not in LS_STRATEGIES:
        issues.append(("strategy.score.exponents", f"{strategy.name} reads no spectrum; remove it or choose lsh or lsh-sync"))
    if strategy.generation.sampler == "tpe" and strategy.name not in LS_STRATEGIES:
        issues.append(
            (
                "strategy.generation.sampler",
                "tpe minimises the LS distance at the first rung, which only lsh and lsh-sync use; choose random",
            )
        )
    return issues


def _latest_pruning(space: SearchSpace | None, candidates: list[Candidate] | None, epochs: int) -> tuple[int, str] | None:
    """The latest epoch after which some candidate of the search reaches its target sparsity, and
    which candidate that is; None when every candidate is pruned before training."""
    latest: tuple[int, str] | None = None
    entries: list[tuple[str, str, MethodParams]] = []
    if candidates is not None:
        entries = [(f"spec.candidates[{i}]", c.method, c.point().pruning.params) for i, c in enumerate(candidates)]
    else:
        for i, method in enumerate(space.methods if space is not None else []):
            # Every schedule grows with its settings (pruneEpoch, endFraction, rounds, roundEpochs):
            # the largest value of each domain gives the latest epoch in the space.
            latest_values: dict[str, ScalarValue] = {}
            for name, domain in method.params.items():
                values = domain_values(domain)
                numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
                latest_values[name] = max(numbers) if numbers else values[0]
            params = METHODS[method.method].params.model_validate(latest_values)
            entries.append((f"spec.space.methods[{i}]", method.method, params))
    for where, name, settings in entries:
        epoch = settings.pruned_after_epoch(epochs)
        if epoch and (latest is None or epoch > latest[0]):
            latest = (epoch, f"{where} ({name})")
    return latest


def _schedule_issues(
    strategy: Strategy, training: TrainingConfig | None, space: SearchSpace | None, candidates: list[Candidate] | None
) -> list[Issue]:
    """LS strategies compare spectra at the first rung: a candidate that is not pruned yet there is
    the dense model in all but name, so its small distance says nothing about how it will end."""
    if strategy.name not in LS_STRATEGIES or training is None:
        return []
    latest = _latest_pruning(space, candidates, training.epochs)
    first = strategy.rungs.first_epoch
    if latest is None or first > latest[0]:
        return []
    epoch, who = latest
    field = "epochs" if strategy.rungs.epochs else "first"
    return [
        (
            f"strategy.rungs.{field}",
            f"the first rung (epoch {first}) compares LS distances before every candidate is pruned: "
            f"{who} reaches its sparsity only after epoch {epoch}; set rungs.{field} to {epoch + 1} or more, "
            "or end that pruning schedule earlier",
        )
    ]
