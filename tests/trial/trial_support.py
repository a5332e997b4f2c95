"""Helpers of the trial tests: tiny configs (a few hundred optimiser steps in all) and report readers."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hyperprune.contract.trial import TrialConfig
from hyperprune.contract.report import TrialReport

TINY: dict[str, Any] = {
    "trialId": "tiny",
    "seed": 3,
    "data": {"corpus": "synthetic", "syntheticTokens": 8000, "syntheticVocab": 40},
    "model": {"arch": "lstm", "hiddenSize": 24, "numLayers": 1},
    "training": {"epochs": 3, "lr": 10.0, "batchSize": 8, "bptt": 12, "maxBatches": 20, "evalMaxBatches": 10},
    "lyapunov": {"probeLength": 12, "warmup": 3, "batch": 2, "k": 5},
    "device": "cpu",
}


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "pruning":
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def tiny_dict(**over: Any) -> dict[str, Any]:
    return merge(TINY, over)


def tiny_config(**over: Any) -> TrialConfig:
    return TrialConfig.model_validate(tiny_dict(**over))


def read_lines(workdir: Path) -> list[TrialReport]:
    """Every line of reports.jsonl, each parsed strictly as a TrialReport."""
    lines = (workdir / "reports.jsonl").read_text().splitlines()
    return [TrialReport.model_validate(json.loads(line)) for line in lines]


def without_timing(report: TrialReport) -> dict[str, Any]:
    return report.model_dump(
        exclude={"time": True, "epoch_seconds": True, "wall_seconds": True, "tokens_per_second": True,
                 "lyapunov_seconds": True, "efficiency": {"timings"}}
    )




class ListReporter:
    """A reporter that keeps what it is given (addressable as ``trial_support:ListReporter``)."""

    def __init__(self, context):
        self.context, self.reports, self.closed = context, [], False

    def report(self, report):
        self.reports.append(report)

    def close(self):
        self.closed = True
