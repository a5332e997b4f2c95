"""The HyperpruneSearch document: the manifest a user runs locally or applies to a cluster. Torch-free.

``parse_search`` and ``load_search`` (hyperprune.spec.parse) read one and name every problem with
its field path. ``HyperpruneSearch.model_validate`` applies the same checks (each section's own and
the rules across sections, hyperprune.spec.rules) but stops at the first section that fails.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from hyperprune.contract.api import API_VERSION, GROUP, SEARCH_KIND, VERSION
from hyperprune.contract.document import Model, issues_error
from hyperprune.contract.report import MetricName, Mode
from hyperprune.contract.trial import DataConfig, LyapunovConfig, ModelConfig, TaskConfig, TrainingConfig, TrialConfig
from hyperprune.spec.point import Point
from hyperprune.spec.rules import Sections, spec_issues
from hyperprune.spec.sections import DEFAULT_MAX_TRIALS, Budget, DenseReference, LyapunovSettings, Objective, Output
from hyperprune.spec.space import Candidate, SearchSpace
from hyperprune.spec.strategy import Strategy
from hyperprune.spec.template import TrialTemplate

KIND = SEARCH_KIND


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
    task: TaskConfig | None = Field(
        None,
        description="your own recurrent model and data: an entry point the trials import and call (docs/tasks.md); "
        "then spec.data and spec.model are not used",
    )
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    training: TrainingConfig = Field(
        default_factory=TrainingConfig, description="the recipe of every trial; epochs is the final training length"
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto = CUDA when available, else CPU")
    evaluate_test: bool = Field(True, description="trials evaluate the test split after their last epoch")
    tensorboard: bool = Field(
        False,
        description="trials write TensorBoard event files to their folder (needs the tensorboard extra): "
        "tensorboard --logdir WORKDIR shows the search trial by trial",
    )
    lyapunov: LyapunovSettings = Field(default_factory=LyapunovSettings)
    space: SearchSpace = Field(default_factory=SearchSpace, description="methods and ranges to search")
    candidates: list[Candidate] | None = Field(
        None, description="an explicit candidate pool instead of a space: the search draws from these points only"
    )
    budget: Budget = Field(default_factory=Budget)
    strategy: Strategy = Field(default_factory=Strategy)
    dense: DenseReference = Field(default_factory=DenseReference)
    objective: Objective = Field(default_factory=Objective, description="what the search promotes")
    output: Output = Field(default_factory=Output)
    trial_template: TrialTemplate = Field(default_factory=TrialTemplate, description="trial pods (cluster only)")

    @model_validator(mode="after")
    def _rules(self) -> SearchSpec:
        issues = spec_issues(self.sections())
        if issues:
            raise issues_error("SearchSpec", issues)
        return self

    def sections(self) -> Sections:
        """Every section, for the rules across them (hyperprune.spec.rules)."""
        return Sections(
            given=frozenset(self.model_fields_set),
            space=self.space,
            candidates=self.candidates,
            pool="absent" if self.candidates is None else "given",
            pool_items=tuple(enumerate(self.candidates or [])),
            strategy=self.strategy,
            training=self.training,
            dense=self.dense,
            objective=self.objective,
            device=self.device,
            model=self.model,
            lyapunov=self.lyapunov,
            data=self.data,
            task=self.task,
        )

    # ---- what the engines and the policy read ----

    @property
    def final_epoch(self) -> int:
        return self.training.epochs

    @property
    def metric(self) -> MetricName:
        """What trials report: the task's own metric, else perplexity (language models) or accuracy
        (classification)."""
        return self.task.metric if self.task is not None else self.data.metric

    @property
    def metric_mode(self) -> Mode:
        """min: lower is better (perplexity, an error); max: higher is better (accuracy)."""
        return self.task.mode if self.task is not None else self.data.mode

    def rung_epochs(self) -> list[int]:
        return self.strategy.rung_epochs(self.training.epochs, self.max_candidates())

    def ls_rung_epochs(self) -> list[int]:
        """The rungs that rank by LS distance (lsh's ls-then-metric: those before its metric epoch;
        the first rung always, where TPE reads it)."""
        if not self.strategy.uses_spectra:
            return []
        rungs, score = self.rung_epochs(), self.strategy.score
        if score.rule == "ls-then-metric":
            switch = score.metric_epoch(self.final_epoch)
            return [r for r in rungs if r < switch] or rungs[:1]
        return rungs

    def dense_epochs(self) -> int:
        """How far the dense reference trains: the last rung where lsh and lsh-sync read its spectra,
        unless ``dense.compare`` or the ``sparsest-within`` objective (its tolerance is a percentage
        of the dense model's final metric) needs its final metric; the end for the other strategies."""
        rungs = self.ls_rung_epochs()
        if self.dense.compare or self.objective.name == "sparsest-within" or not rungs:
            return self.final_epoch
        return rungs[-1]

    def lyapunov_epochs(self) -> list[int]:
        """Rungs, the first rung even for strategies without rungs (analysis), and the final epoch."""
        epochs = set(self.rung_epochs()) | {self.training.epochs}
        if self.strategy.rungs.first_epoch < self.training.epochs:
            epochs.add(self.strategy.rungs.first_epoch)
        return sorted(epochs)

    def pool(self) -> list[Point] | None:
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

    def with_parallelism(self, workers: int) -> SearchSpec:
        """The same search with another number of trials at once (``hyperprune run --workers``)."""
        return self.model_copy(update={"budget": self.budget.model_copy(update={"parallelism": workers})})

    def trial_config(self, trial_id: str, point: Point | None = None) -> TrialConfig:
        """The full config of one trial: this spec's recipe with the point's pruning and overrides.
        ``point`` None is the dense reference. The sections are taken as they were parsed; only the
        settings a candidate overrides are validated, each on its own."""
        point = point or Point.dense()
        lyapunov = LyapunovConfig.model_construct(
            **{name: getattr(self.lyapunov, name) for name in LyapunovConfig.model_fields if name != "epochs"},
            epochs=self.lyapunov_epochs(),
        )
        return TrialConfig(
            trial_id=trial_id,
            seed=self.seed,
            data=self.data,
            model=self.model.with_values(point.model),
            training=self.training.with_values(point.training),
            pruning=point.pruning,
            lyapunov=lyapunov,
            device=self.device,
            evaluate_test=self.evaluate_test,
            task=self.task,
            tensorboard=self.tensorboard,
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
    "HyperpruneSearch",
    "ObjectMeta",
    "SearchSpec",
]
