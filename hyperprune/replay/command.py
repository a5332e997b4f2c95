"""Replay a strategy's decisions offline on recorded observations: what it would have trained, what it
would have picked, and how far that pick is from full search's winner.

    hyperprune replay RECORDS [--spec SEARCH.yaml] [--strategy NAME] [--rung-epochs 2,4,6] ...

RECORDS is one of:
  - a local search's work dir (hyperprune run --workdir DIR): its search.json is the spec;
  - a benchmark trajectories file (benchmarks/results/<task>-trajectories.json): every candidate
    trained to the end, with the search document it was trained under;
  - a records file (JSON or YAML): {dense: TRIAL, trials: [TRIAL, ...]}, a TRIAL being
    {id, point, status, testMetric, epochs: [{epoch, metric, spectrum | distance}, ...]};
    list every epoch from 1, one not observed as {epoch: N, recorded: false}.

The strategy options override the spec's. Nothing is trained. Prints the trial-epochs spent (the dense
reference included) against full search's, the pick and its regret: how much worse its final test
metric is than full search's winner's (the best final validation metric among the records), in %.
Exit 2 names a bad option, spec or record (by trial and epoch) and what the strategy needed and lacked.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

from hyperprune.spec.strategy import STRATEGY_HELP


def _epochs(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated epochs such as 2,4,6; got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("give at least one epoch")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("records", type=Path, metavar="RECORDS", help="work dir, trajectories file or records file")
    parser.add_argument("--spec", type=Path, help="the search spec (default: the one the records were made under)")
    parser.add_argument("--strategy", choices=sorted(STRATEGY_HELP), help="replay this strategy instead of the spec's")
    parser.add_argument("--rung-epochs", type=_epochs, metavar="E1,E2,...",
                        help="explicit rung epochs (lsh-sync: round epochs), replacing rungs.first/step/count")
    parser.add_argument("--first", type=int, help="rungs.first (e0)")
    parser.add_argument("--step", type=int, help="rungs.step")
    parser.add_argument("--keep", type=float, help="rungs.keepFraction")
    parser.add_argument("--finalists", type=int, help="rungs.finalists")
    parser.add_argument("--parallelism", type=int, help="budget.parallelism (orders asynchronous promotions)")
    parser.add_argument("--seed", type=int, help="spec.seed (random, TPE)")
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")


def replay_document(base: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The spec document with the command line's overrides."""
    doc = copy.deepcopy(base)
    spec = doc.setdefault("spec", {})
    strategy = spec.setdefault("strategy", {})
    if args.strategy:
        strategy["name"] = args.strategy
    rungs = strategy.setdefault("rungs", {})
    for option, key in (("rung_epochs", "epochs"), ("first", "first"), ("step", "step"), ("keep", "keepFraction"),
                        ("finalists", "finalists")):
        if getattr(args, option) is not None:
            rungs[key] = getattr(args, option)
    if args.parallelism is not None:
        spec.setdefault("budget", {})["parallelism"] = args.parallelism
    if args.seed is not None:
        spec["seed"] = args.seed
    return doc


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:+.2f} %"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.5g}"


def print_outcome(result: Any, source: str) -> None:
    print(f"replayed {result.strategy} on {source}: {result.outcome or 'unfinished'}"
          + (f" ({result.message})" if result.message else ""))
    full = result.full_trial_epochs
    versus = f"; full search {full}, {result.reduction:.1f}x fewer" if full and result.reduction else ""
    print(f"trial-epochs: {result.trial_epochs} (candidates {result.candidate_trial_epochs}, "
          f"dense reference {result.trial_epochs - result.candidate_trial_epochs}){versus}")
    if result.pick is None:
        print("pick: none")
    else:
        p = result.pick
        print(f"pick: {p.id} {p.description}: validation {_fmt(p.final_metric)}, test {_fmt(p.test_metric)}")
    if result.winner is not None:
        w = result.winner
        print(f"full search's winner: {w.id} {w.description}: validation {_fmt(w.final_metric)}, test {_fmt(w.test_metric)}")
        print(f"regret ({result.regret_on} metric): {_pct(result.regret)}")
    else:
        print("full search's winner: unknown (no record reaches the final epoch)")


def main(args: argparse.Namespace) -> int:
    from hyperprune.replay.engine import outcome_of, replay
    from hyperprune.replay.records import RecordGap, RecordsError, read_records
    from hyperprune.spec import SearchSpecError, parse_search
    from hyperprune.spec.parse import load_yaml_documents

    try:
        records = read_records(args.records)
    except RecordsError as exc:
        print(f"error: {exc.source}:", file=sys.stderr)
        for line in exc.errors:
            print(f"  {line}", file=sys.stderr)
        return 2
    base = records.document
    if args.spec:
        try:
            documents = load_yaml_documents(args.spec, "a HyperpruneSearch YAML file")
        except SearchSpecError as exc:
            print(f"error: --spec: {'; '.join(exc.errors)}", file=sys.stderr)
            return 2
        if len(documents) != 1 or not isinstance(documents[0], dict):
            print(f"error: --spec: {args.spec} holds {len(documents)} YAML documents, expected one HyperpruneSearch",
                  file=sys.stderr)
            return 2
        base = documents[0]
    if base is None:
        print(f"error: {args.records} holds no search spec; give one with --spec SEARCH.yaml", file=sys.stderr)
        return 2
    try:
        spec = parse_search(replay_document(base, args)).spec
    except SearchSpecError as exc:
        print("error: the replayed search is not valid:", file=sys.stderr)
        for line in exc.errors:
            print(f"  {line}", file=sys.stderr)
        return 2
    try:
        sim = replay(spec, records)
    except RecordGap as exc:
        print(f"error: {records.source}: {exc}", file=sys.stderr)
        return 2
    result = outcome_of(sim, spec, records)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print_outcome(result, records.source)
    return 0
