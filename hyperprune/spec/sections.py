"""The smaller sections of a search spec: the budget, the dense reference, the objective, the promoted
model's place, and how spectra are computed and compared. Torch-free."""

from __future__ import annotations

import posixpath
from typing import Literal

from pydantic import Field, PositiveInt, field_validator

from hyperprune.contract.document import Model
from hyperprune.contract.efficiency import COST_HELP, CostName
from hyperprune.contract.files import engine_owned
from hyperprune.contract.trial import LyapunovBase

DEFAULT_MAX_TRIALS = 16


class LyapunovSettings(LyapunovBase):
    """How trials compute spectra (epochs are chosen by the strategy) and how spectra are compared."""

    distance: Literal["l2"] = Field(
        "l2", description="distance between a candidate's and the dense spectrum: l2 (as published)"
    )


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
    compare: bool = Field(
        False,
        description=(
            "lsh and lsh-sync read the dense model only up to their last rung, so by default it trains "
            "that far; true trains it to the end as well, for the final 'vs dense' comparison. The other "
            "strategies read it only as that yardstick and always train it to the end"
        ),
    )
    cache: bool = Field(
        True,
        description=(
            "locally: reuse a dense reference an earlier search on this machine trained with the same model, "
            "data, recipe and seed ($HYPERPRUNE_CACHE_DIR/dense, default ~/.cache/hyperprune); its epochs count as trained"
        ),
    )


ObjectiveName = Literal["metric", "sparsest-within", "pareto"]
OBJECTIVE_HELP: dict[ObjectiveName, str] = {
    "metric": "promote the candidate with the best final validation metric",
    "sparsest-within": "promote the cheapest candidate whose final metric is within `tolerance` % of the dense model's",
    "pareto": "promote every candidate on the non-dominated front of final metric against cost",
}


class Objective(Model):
    """What the search promotes, and so which candidates its rungs keep (hyperprune.policy.objectives)."""

    name: ObjectiveName = Field("metric", description="; ".join(f"{k}: {v}" for k, v in OBJECTIVE_HELP.items()))
    tolerance: float | None = Field(
        None, gt=0.0, le=100.0,
        description="sparsest-within: how far (percent of the dense model's final metric) a candidate may be worse",
    )
    cost: CostName = Field(
        "nonzero-params", description="; ".join(f"{k}: {v}" for k, v in COST_HELP.items()) + " (lower is better)"
    )

    @property
    def by_cost(self) -> bool:
        """Whether candidates are weighed by cost as well as by metric."""
        return self.name != "metric"


def output_path_problem(path: str) -> str | None:
    """Why ``spec.output.path`` cannot hold the promoted model, or None. One rule for both engines:
    the folder lies inside the search's own folder (the work dir locally, the search's folder in
    the trial volume on a cluster) and is none of the files the search keeps there, so promoting a
    model can neither land on a user's files nor on the search's own trials and journal."""
    example = "give a folder inside the search's folder (the work dir locally), e.g. best"
    if path.startswith(("/", "~")) or "\\" in path:
        return f"{path!r} is not a relative path; {example}"
    folder = posixpath.normpath(path)
    if folder in (".", ""):
        return f"{path!r} is the search's folder itself, which holds its trials and journal; {example}"
    if folder == ".." or folder.startswith("../"):
        return f"{path!r} leaves the search's folder; {example}"
    first = folder.split("/", 1)[0]
    if engine_owned(first):
        return f"{path!r} is inside {first!r}, which the search writes itself; {example}"
    return None


class Output(Model):
    path: str = Field(
        "best",
        min_length=1,
        description=(
            "where the promoted model goes: a folder inside the search's folder (the work dir locally, the "
            "search's folder in the trial volume on a cluster)"
        ),
    )

    @field_validator("path")
    @classmethod
    def _inside_the_search(cls, path: str) -> str:
        problem = output_path_problem(path)
        if problem:
            raise ValueError(problem)
        return path

    @property
    def folder(self) -> str:
        """The path, normalised (``./models//best`` -> ``models/best``), relative to the search's folder."""
        return posixpath.normpath(self.path)

    @property
    def front_folder(self) -> str:
        """Where a pareto search promotes its other front points, one folder each by trial id
        (``best-front/t003``), beside the primary model."""
        return f"{self.folder}-front"
