"""The HyperpruneSearch document: the manifest a user runs locally or applies to a cluster. Torch-free.

``HyperpruneSearch.model_validate`` checks everything, the semantic rules included; ``load_search``
and ``parse_search`` (hyperprune.spec.validation) do the same but collect every error with its path.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, PositiveInt, create_model, model_validator

from hyperprune.schema import Model
from hyperprune.spec.space import DENSE_POINT, Candidate, SearchSpace, camel_keys, make_point, point_key
from hyperprune.spec.strategy import Strategy
from hyperprune.spec.template import TrialTemplate
from hyperprune.trial.config import DataConfig, LyapunovConfig, ModelConfig, TrainingConfig, TrialConfig

GROUP = "hyperprune.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "HyperpruneSearch"

# The trials' Lyapunov settings, minus the epochs (the strategy decides those), plus the distance.
# Copied from LyapunovConfig so that a setting added to the trial runtime is searchable at once.
LyapunovSettings = create_model(  # type: ignore[call-overload]
    "LyapunovSettings",
    __base__=Model,
    __doc__="How trials compute spectra (epochs are chosen by the strategy) and how spectra are compared.",
    **{name: (info.annotation, info) for name, info in LyapunovConfig.model_fields.items() if name != "epochs"},
    distance=(
        Literal["l2"],
        Field("l2", description="distance between a candidate's and the dense spectrum: l2 (as published)"),
    ),
)


DEFAULT_MAX_TRIALS = 16


class Budget(Model):
    max_trials: PositiveInt | None = Field(
        None,
        description=(
            "candidates created in all, the dense reference not counted; default: the pool's size with "
            f"spec.candidates, else {DEFAULT_MAX_TRIALS}; never more than the space or pool holds"
        ),
    )
    parallelism: PositiveInt = Field(2, description="trials running at once, the dense reference included")
    max_failed_trials: int = Field(3, ge=0, description="the search fails when more trials than this have failed")
    retries: int = Field(2, ge=0, description="times an errored trial is resumed from its checkpoint before it fails")


class DenseReference(Model):
    enabled: bool = Field(
        True,
        description=(
            "train the dense model with the same recipe as a trial of the search: its spectra are the "
            "reference of lsh and lsh-sync, its final metric the target"
        ),
    )


class Output(Model):
    path: str = Field(
        "best",
        min_length=1,
        description="where the promoted model goes: relative to the work dir locally, in the trial volume on a cluster",
    )


class ObjectMeta(Model):
    """Kubernetes metadata; fields the API server adds (uid, resourceVersion, ...) are kept as they are."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(
        min_length=1, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", description="DNS subdomain name"
    )
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class SearchSpec(Model):
    """What to search, how, and with which budget."""

    seed: int = Field(0, ge=0, description="one seed for every trial, so that differences come from pruning, not init")
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    training: TrainingConfig = Field(
        default_factory=TrainingConfig, description="the recipe of every trial; epochs is the final training length"
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto = CUDA when available, else CPU")
    evaluate_test: bool = Field(True, description="trials evaluate the test split after their last epoch")
    lyapunov: LyapunovSettings = Field(default_factory=LyapunovSettings)  # type: ignore[valid-type]
    space: SearchSpace = Field(default_factory=SearchSpace, description="methods and ranges to search")
    candidates: list[Candidate] | None = Field(
        None, description="an explicit candidate pool instead of a space: the search draws from these points only"
    )
    budget: Budget = Field(default_factory=Budget)
    strategy: Strategy = Field(default_factory=Strategy)
    dense: DenseReference = Field(default_factory=DenseReference)
    output: Output = Field(default_factory=Output)
    trial_template: TrialTemplate = Field(default_factory=TrialTemplate, description="trial pods (cluster only)")

    @model_validator(mode="after")
    def _semantics(self) -> "SearchSpec":
        from hyperprune.spec.validation import semantic_issues

        issues = semantic_issues(dict(self), spec_fields_set=self.model_fields_set)
        if issues:
            raise ValueError("; ".join(f"{path}: {message}" for path, message in issues))
        return self

    # ---- what the engines and the policy read ----

    @property
    def final_epoch(self) -> int:
        return self.training.epochs

    @property
    def metric_mode(self) -> Literal["min", "max"]:
        """min: perplexity (language models); max: accuracy (classification)."""
        return "max" if self.data.task == "classification" else "min"

    def rung_epochs(self) -> list[int]:
        return self.strategy.rung_epochs(self.training.epochs, self.max_candidates())

    def lyapunov_epochs(self) -> list[int]:
        """Rungs, the first rung even for strategies without rungs (analysis), and the final epoch."""
        epochs = set(self.rung_epochs()) | {self.training.epochs}
        if self.strategy.rungs.first < self.training.epochs:
            epochs.add(self.strategy.rungs.first)
        return sorted(epochs)

    def pool(self) -> list[dict[str, Any]] | None:
        """The explicit candidate pool as points, or None when the search draws from the space."""
        return None if self.candidates is None else [c.point() for c in self.candidates]

    def candidate_limit(self) -> int | None:
        """Distinct candidates the space or pool holds (None: unbounded)."""
        if self.candidates is not None:
            return len(self.candidates)
        return self.space.size()

    def max_candidates(self) -> int:
        """Candidates the search will create: budget.maxTrials (default: the pool's size, else 16),
        or fewer when the space or pool holds fewer distinct points."""
        wanted = self.budget.max_trials
        if wanted is None:
            wanted = len(self.candidates) if self.candidates is not None else DEFAULT_MAX_TRIALS
        limit = self.candidate_limit()
        return wanted if limit is None else min(wanted, limit)

    def trial_config(self, trial_id: str, point: dict[str, Any] | None = None) -> TrialConfig:
        """The full config of one trial: this spec's recipe with the point's pruning and overrides.
        ``point`` None (or method ``none``) is the dense reference."""
        point = make_point(**(point or DENSE_POINT))
        return TrialConfig.model_validate(
            {
                "trialId": trial_id,
                "seed": self.seed,
                "data": self.data.dump(),
                "model": {**self.model.dump(), **camel_keys(ModelConfig, point["model"])},
                "training": {**self.training.dump(), **camel_keys(TrainingConfig, point["training"])},
                "pruning": {"method": point["method"], "sparsity": point["sparsity"], "params": point["params"]},
                "lyapunov": {**self.lyapunov.dump(exclude={"distance"}), "epochs": self.lyapunov_epochs()},
                "device": self.device,
                "evaluateTest": self.evaluate_test,
            }
        )


class HyperpruneSearch(Model):
    """A HyperpruneSearch custom resource (or the same document run locally)."""

    api_version: Literal["hyperprune.io/v1alpha1"] = Field(description=f"{API_VERSION}")
    kind: Literal["HyperpruneSearch"]
    metadata: ObjectMeta
    spec: SearchSpec
    status: dict[str, Any] | None = Field(None, description="written by the operator")

    @property
    def name(self) -> str:
        return self.metadata.name


__all__ = [
    "API_VERSION",
    "GROUP",
    "KIND",
    "VERSION",
    "DEFAULT_MAX_TRIALS",
    "Budget",
    "DenseReference",
    "HyperpruneSearch",
    "LyapunovSettings",
    "ObjectMeta",
    "Output",
    "SearchSpec",
    "point_key",
]
