"""The pruning catalogue: every method's name and its typed hyperparameters. Part of the contract.

Torch-free on purpose: the search spec and the operator validate pruning settings with it without
installing torch. The implementations live in ``hyperprune.pruning`` and are looked up by the same
names (``hyperprune.pruning.build.IMPLEMENTATIONS``).

A trial's pruning settings are one of the ``*Pruning`` models below, chosen by ``method``:

    {"method": "selfish", "sparsity": 0.67, "params": {"death": "magnitude", "deathRate": 0.5}}

Conventions shared by every method:
- Masks cover the weight matrices of the recurrent core only (input-to-hidden and hidden-to-hidden,
  every layer; an RHN's transform and carry matrices). Biases, embeddings and the decoder stay dense.
- ``sparsity`` is the fraction of those weights that are zero at the end of the method's schedule.
- Masks are re-applied after every optimiser step, so pruned weights stay exactly zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal, NamedTuple, Union

from pydantic import Field, TypeAdapter, ValidationError, model_validator

from hyperprune.contract.document import Issue, Model, error_path


class PruningConfigError(ValueError):
    """A pruning setting that cannot be honoured; ``field`` is its path as written in a trial config
    (camelCase, e.g. ``pruning.params.pruneEpoch``) and the message starts with it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


Sparsity = Annotated[float, Field(ge=0.0, lt=1.0, description="fraction of prunable weights set to zero")]
Scope = Literal["layer", "global"]
InitDistribution = Literal["uniform", "er"]


class MethodParams(Model):
    """Base of every method's hyperparameters."""

    def pruned_after_epoch(self, total_epochs: int) -> int:
        """Epochs of training after which the method's masks reach the target sparsity (0: before
        training starts). A torch-free mirror of the pruners' ``final_sparsity_epoch``, with which the
        spec checks that LS distances are only compared once candidates are pruned."""
        return 0

    def schedule_issues(self, sparsity: float, epochs: int, steps_per_epoch: int | None) -> list[Issue]:
        """Settings the method cannot follow in a run of ``epochs`` epochs of ``steps_per_epoch``
        optimiser steps (None: not known yet, the rules that need it wait), as (path under
        ``pruning``, message). The pruner refuses to be built with the first; the spec and the local
        engine's checks before training name them all, so no trial is spent on them."""
        return []


class NoParams(MethodParams):
    pass


class RandomParams(MethodParams):
    distribution: InitDistribution = Field(
        "uniform", description="per-layer sparsity: the same in every matrix, or Erdos-Renyi scaled"
    )


class MagnitudeParams(MethodParams):
    scope: Scope = Field("layer", description="rank weights within each matrix or across all of them")
    prune_epoch: int = Field(
        1, ge=0, description="epochs of dense training before the one-shot prune (0 = prune at init)"
    )

    def pruned_after_epoch(self, total_epochs: int) -> int:
        return self.prune_epoch

    def schedule_issues(self, sparsity: float, epochs: int, steps_per_epoch: int | None) -> list[Issue]:
        if self.prune_epoch >= epochs:
            return [("params.pruneEpoch", f"prunes after epoch {self.prune_epoch} but training has {epochs} epochs; "
                                          "it must be smaller so that the pruned model is trained")]
        return []


class GradualMagnitudeParams(MethodParams):
    scope: Scope = "layer"
    initial_sparsity: float = Field(0.0, ge=0.0, lt=1.0)
    start_epoch: int = Field(0, ge=0, description="epoch at which pruning starts")
    end_fraction: float = Field(
        0.5, gt=0.0, le=1.0, description="the final sparsity is reached after this fraction of training"
    )
    frequency: int = Field(100, ge=1, description="optimiser steps between two mask updates")

    def pruned_after_epoch(self, total_epochs: int) -> int:
        # ceil(endFraction x epochs), which the pruner's step-exact schedule never exceeds
        return math.ceil(self.end_fraction * total_epochs - 1e-9)

    def start_step(self, steps_per_epoch: int) -> int:
        return self.start_epoch * steps_per_epoch

    def end_step(self, total_steps: int) -> int:
        return round(self.end_fraction * total_steps)

    def schedule_issues(self, sparsity: float, epochs: int, steps_per_epoch: int | None) -> list[Issue]:
        issues: list[Issue] = []
        if steps_per_epoch is not None:
            total = steps_per_epoch * epochs
            start, end = self.start_step(steps_per_epoch), self.end_step(total)
            if end <= start:
                issues.append(("params.endFraction",
                               f"pruning must end (step {end} = endFraction x {total} steps) after it starts "
                               f"(startEpoch {self.start_epoch} = step {start}); raise endFraction or lower startEpoch"))
        if self.initial_sparsity > sparsity:
            issues.append(("params.initialSparsity", f"{self.initial_sparsity} is above the target sparsity {sparsity}"))
        return issues


class LotteryParams(MethodParams):
    scope: Scope = "global"
    rounds: int = Field(3, ge=1, description="prune-retrain rounds to reach the target sparsity")
    round_epochs: int = Field(1, ge=1, description="epochs trained in each round before pruning")
    rewind_epoch: int = Field(0, ge=0, description="weights are rewound to their values at this epoch")

    def pruned_after_epoch(self, total_epochs: int) -> int:
        return self.rounds * self.round_epochs

    def schedule_issues(self, sparsity: float, epochs: int, steps_per_epoch: int | None) -> list[Issue]:
        issues: list[Issue] = []
        if self.rewind_epoch >= self.round_epochs:
            issues.append(("params.rewindEpoch",
                           f"rewinds to epoch {self.rewind_epoch}, which must come before the first prune at epoch "
                           f"{self.round_epochs} (roundEpochs)"))
        if self.rounds * self.round_epochs >= epochs:
            issues.append(("params.rounds",
                           f"{self.rounds} rounds x {self.round_epochs} epochs leave no epoch to train the final "
                           f"ticket in {epochs} training epochs"))
        return issues


class SnipParams(MethodParams):
    batches: int = Field(1, ge=1, description="batches used to estimate connection sensitivity at init")


class SynflowParams(MethodParams):
    iterations: int = Field(100, ge=1, description="iterative pruning steps at init (data-free)")
    unroll_steps: int = Field(
        10, ge=1, le=200, description="time steps the linearised core is unrolled for the synaptic flow"
    )


class SetParams(MethodParams):
    init: InitDistribution = "er"
    zeta: float = Field(0.3, gt=0.0, lt=1.0, description="fraction of active weights replaced at each update")


class RiglParams(MethodParams):
    init: InitDistribution = "er"
    drop_fraction: float = Field(0.3, gt=0.0, lt=1.0)
    update_frequency: int = Field(100, ge=1, description="optimiser steps between topology updates")
    end_fraction: float = Field(0.75, gt=0.0, le=1.0, description="no updates after this fraction of training")

    def end_step(self, total_steps: int) -> int:
        return round(self.end_fraction * total_steps)

    def schedule_issues(self, sparsity: float, epochs: int, steps_per_epoch: int | None) -> list[Issue]:
        if steps_per_epoch is None:
            return []
        total = steps_per_epoch * epochs
        end = self.end_step(total)
        if self.update_frequency >= end:
            return [("params.updateFrequency",
                     f"every {self.update_frequency} steps, but no topology update happens before step {end} "
                     f"(endFraction x {total} steps: {steps_per_epoch} per epoch x {epochs} epochs); lower "
                     "updateFrequency or raise endFraction")]
        return []


class SelfishParams(MethodParams):
    init: InitDistribution = "uniform"
    death: Literal["magnitude", "global_magnitude", "threshold", "set"] = "magnitude"
    growth: Literal["random", "gradient"] = "random"
    redistribution: Literal["none", "magnitude", "nonzeros"] = "none"
    death_rate: float = Field(0.5, gt=0.0, lt=1.0, description="initial fraction of weights removed per update")
    death_rate_schedule: Literal["cosine", "constant"] = "cosine"
    threshold: float = Field(
        1e-3, gt=0.0, description="absolute magnitude under which weights die (death=threshold)"
    )


class IssParams(MethodParams):
    group_lasso: float = Field(1e-4, ge=0.0, description="group-lasso strength on each hidden unit's weights")
    prune_epoch: int = Field(1, ge=0, description="epochs of regularised training before units are removed")

    def pruned_after_epoch(self, total_epochs: int) -> int:
        return self.prune_epoch

    def schedule_issues(self, sparsity: float, epochs: int, steps_per_epoch: int | None) -> list[Issue]:
        if self.prune_epoch >= epochs:
            return [("params.pruneEpoch", f"removes units after epoch {self.prune_epoch} but training has {epochs} "
                                          "epochs; it must be smaller so that the pruned model is fine-tuned")]
        return []


class PruningSettings(Model):
    """Base of every method's settings: ``method``, ``sparsity`` and the method's ``params``."""

    sparsity: Sparsity = 0.0
    method: str
    params: MethodParams


class DensePruning(PruningSettings):
    method: Literal["none"] = "none"
    params: NoParams = NoParams()

    @model_validator(mode="after")
    def _dense(self) -> "DensePruning":
        if self.sparsity != 0.0:
            raise ValueError("method 'none' (the dense model) needs sparsity 0")
        return self


class RandomPruning(PruningSettings):
    method: Literal["random"]
    params: RandomParams = RandomParams()


class MagnitudePruning(PruningSettings):
    method: Literal["magnitude"]
    params: MagnitudeParams = MagnitudeParams()


class GradualMagnitudePruning(PruningSettings):
    method: Literal["gmp"]
    params: GradualMagnitudeParams = GradualMagnitudeParams()


class LotteryPruning(PruningSettings):
    method: Literal["lottery"]
    params: LotteryParams = LotteryParams()


class SnipPruning(PruningSettings):
    method: Literal["snip"]
    params: SnipParams = SnipParams()


class SynflowPruning(PruningSettings):
    method: Literal["synflow"]
    params: SynflowParams = SynflowParams()


class SetPruning(PruningSettings):
    method: Literal["set"]
    params: SetParams = SetParams()


class RiglPruning(PruningSettings):
    method: Literal["rigl"]
    params: RiglParams = RiglParams()


class SelfishPruning(PruningSettings):
    method: Literal["selfish"]
    params: SelfishParams = SelfishParams()


class IssPruning(PruningSettings):
    method: Literal["iss"]
    params: IssParams = IssParams()


PruningConfig = Annotated[
    Union[
        DensePruning,
        RandomPruning,
        MagnitudePruning,
        GradualMagnitudePruning,
        LotteryPruning,
        SnipPruning,
        SynflowPruning,
        SetPruning,
        RiglPruning,
        SelfishPruning,
        IssPruning,
    ],
    Field(discriminator="method"),
]

class MethodInfo(NamedTuple):
    settings: type[PruningSettings]  # method, sparsity and params, as a trial config holds them
    params: type[MethodParams]  # the method's own hyperparameters
    description: str  # one line, for the docs and the CLI


# Every method by name. The search spec validates a method's search space against its params model.
METHODS: dict[str, MethodInfo] = {
    "none": MethodInfo(DensePruning, NoParams, "dense reference, no pruning"),
    "random": MethodInfo(RandomPruning, RandomParams, "random mask fixed at initialisation"),
    "magnitude": MethodInfo(MagnitudePruning, MagnitudeParams, "one-shot magnitude pruning, layer-wise or global"),
    "gmp": MethodInfo(
        GradualMagnitudePruning,
        GradualMagnitudeParams,
        "gradual magnitude pruning with the cubic schedule (Zhu & Gupta 2017)",
    ),
    "lottery": MethodInfo(LotteryPruning, LotteryParams, "lottery-ticket iterative magnitude pruning with rewinding"),
    "snip": MethodInfo(SnipPruning, SnipParams, "SNIP connection sensitivity at initialisation"),
    "synflow": MethodInfo(SynflowPruning, SynflowParams, "SynFlow iterative data-free pruning at initialisation"),
    "set": MethodInfo(SetPruning, SetParams, "Sparse Evolutionary Training: magnitude death, random growth"),
    "rigl": MethodInfo(RiglPruning, RiglParams, "RigL: magnitude death, gradient growth, cosine drop schedule"),
    "selfish": MethodInfo(SelfishPruning, SelfishParams, "Selfish-RNN style dynamic sparse training"),
    "iss": MethodInfo(IssPruning, IssParams, "ISS structured pruning: removes whole hidden units across all gates"),
}
# The methods a candidate may use (every one but the dense reference's).
CANDIDATE_METHODS: tuple[str, ...] = tuple(name for name in METHODS if name != "none")


def method_names() -> list[str]:
    return list(METHODS)


_PRUNING_ADAPTER: TypeAdapter[PruningConfig] = TypeAdapter(PruningConfig)


def parse_pruning_config(data: Mapping[str, Any] | PruningSettings, field: str = "pruning") -> PruningConfig:
    """A validated pruning setting from a dict (camelCase or snake_case keys) or an existing model.

    Raises :class:`PruningConfigError` naming the first invalid field (``pruning.sparsity``,
    ``pruning.method``, ``pruning.params.deathRate``) with every error in the message."""
    if isinstance(data, PruningSettings):
        return data  # type: ignore[return-value]  # every PruningSettings in use is a member of the union
    try:
        return _PRUNING_ADAPTER.validate_python(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            if err["type"].startswith("union_tag"):
                loc = ("method",)
            elif loc and loc[0] in METHODS:
                loc = loc[1:]  # the discriminator's tag, not a field
            path = f"{field}.{error_path(loc)}" if loc else field
            lines.append((path, err["msg"]))
        raise PruningConfigError(lines[0][0], "; ".join(f"{p}: {m}" if i else m for i, (p, m) in enumerate(lines))) from None
