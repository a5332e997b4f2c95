"""What the policy tells an engine to do. Torch-free.

    Start(trial_id, role, params, until_epoch)       create a trial and train it to until_epoch
    Continue(trial_id, until_epoch, from_scratch)    resume from its checkpoint (or retrain from epoch 0)
    Stop(trial_id, reason, rank, of, score, ...)     end it early; rank/of/score say why at which rung
    Fail(trial_id, reason)                           give up on it (crashed past its retries, bad report)
    Promote(trial_id, reason)                        its model is the search's result
    Finish(outcome, message)                         the search is over: succeeded or failed
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal, Union

from pydantic.alias_generators import to_camel, to_snake

from hyperprune.spec.point import Point


@dataclass(frozen=True)
class Start:
    trial_id: str
    role: Literal["dense", "candidate"]
    params: Point
    until_epoch: int


@dataclass(frozen=True)
class Continue:
    trial_id: str
    until_epoch: int
    from_scratch: bool = False
    reason: str = ""


# The reason of every Stop a failing search gives the trials still active: such a trial did nothing
# wrong, so reopening the search (hyperprune.policy.transitions.reopen) resumes it.
SEARCH_FAILED = "search failed: "
DENSE_READY = "reference ready"  # the dense reference ended where the strategy stops reading it


@dataclass(frozen=True)
class Stop:
    trial_id: str
    reason: str
    rank: int | None = None  # its rank at the rung (1 = best)
    of: int | None = None  # trials seen at the rung
    score: float | None = None  # what it was ranked by (LS distance, metric, draw)
    rung_epoch: int | None = None
    keep: int | None = None  # how many of `of` continue


@dataclass(frozen=True)
class Fail:
    trial_id: str
    reason: str


@dataclass(frozen=True)
class Promote:
    trial_id: str
    reason: str


@dataclass(frozen=True)
class Finish:
    outcome: Literal["succeeded", "failed"]
    message: str


Action = Union[Start, Continue, Stop, Fail, Promote, Finish]
ACTION_TYPES: dict[str, type[Action]] = {cls.__name__.lower(): cls for cls in (Start, Continue, Stop, Fail, Promote, Finish)}


def action_to_json(action: Action) -> dict[str, Any]:
    """``{"action": "stop", "trialId": ..., ...}`` (camelCase, like every document on the wire)."""
    values = {f.name: getattr(action, f.name) for f in fields(action)}
    if isinstance(action, Start):
        values["params"] = action.params.to_json()
    return {"action": type(action).__name__.lower(), **{to_camel(k): v for k, v in values.items()}}


def action_from_json(data: dict[str, Any]) -> Action:
    cls = ACTION_TYPES[data["action"]]
    names = {f.name for f in fields(cls)}
    values = {to_snake(k): v for k, v in data.items() if to_snake(k) in names}
    if cls is Start:
        values["params"] = Point.from_json(values["params"])
    return cls(**values)


def describe(action: Action) -> str:
    """One line for logs and progress displays."""
    if isinstance(action, Start):
        return f"start {action.trial_id} ({action.role}) to epoch {action.until_epoch}"
    if isinstance(action, Continue):
        how = "retrain from scratch" if action.from_scratch else "continue"
        return f"{how} {action.trial_id} to epoch {action.until_epoch}" + (f": {action.reason}" if action.reason else "")
    if isinstance(action, Stop):
        return f"stop {action.trial_id}: {action.reason}"
    if isinstance(action, Fail):
        return f"fail {action.trial_id}: {action.reason}"
    if isinstance(action, Promote):
        return f"promote {action.trial_id}: {action.reason}"
    return f"finish ({action.outcome}): {action.message}"
