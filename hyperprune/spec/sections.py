"""The smaller sections of a search spec: the budget, the dense reference, the promoted model's
place, and how spectra are computed and compared. Torch-free."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt

from hyperprune.contract.document import Model
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


class Output(Model):
    path: str = Field(
        "best",
        min_length=1,
        description="where the promoted model goes: relative to the work dir locally, in the trial volume on a cluster",
    )
