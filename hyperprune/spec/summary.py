"""What a search will do, in a few lines: ``hyperprune validate`` prints it. Torch-free."""

from __future__ import annotations

from hyperprune.spec.models import HyperpruneSearch


def plural(n: int, noun: str) -> str:
    """``1 candidate``, ``2 candidates``: counts in every message of the control side."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def plan_summary(search: HyperpruneSearch) -> list[str]:
    """What the search will do, in a few lines."""
    spec = search.spec
    strategy = spec.strategy
    lines = [f"{search.kind} {search.metadata.name}: strategy {strategy.name}"]
    rungs = spec.rung_epochs()
    if rungs:
        keep = "floor(n/2)+1" if strategy.name == "lsh-sync" else f"{strategy.rungs.keep_fraction:g} of each rung"
        lines.append(f"  rungs at epochs {', '.join(map(str, rungs))} of {spec.final_epoch}; keep {keep}")
    elif strategy.name == "median":
        rule = strategy.median
        lines.append(f"  median stopping after {plural(rule.grace_epochs, 'epoch')}, once "
                     f"{plural(rule.min_trials, 'other trial')} report")
    if spec.task is not None:
        layers = ", ".join(spec.task.recurrent_layers) if spec.task.recurrent_layers else "every recurrent layer"
        lines.append(f"  task: {spec.task.entry_point} (its own model and data; pruned and measured: {layers})")
    lines.append(f"  final training: {plural(spec.final_epoch, 'epoch')}; metric: {spec.metric} ({spec.metric_mode})")
    pool = spec.pool()
    if pool is not None:
        lines.append(f"  candidates: {spec.max_candidates()} from an explicit pool of {len(pool)}")
        for point in pool[:5]:
            lines.append(f"    {point.describe()}")
        if len(pool) > 5:
            lines.append(f"    ... and {len(pool) - 5} more")
    else:
        size = spec.space.size()
        methods = ", ".join(m.method for m in spec.space.methods)
        lines.append(
            f"  candidates: {spec.max_candidates()} drawn by {strategy.sampler} from {methods} "
            f"({'an unbounded space' if size is None else plural(size, 'distinct point')})"
        )
    dense = "on" if spec.dense.enabled else "off"
    lines.append(
        f"  dense reference: {dense}; parallelism {spec.budget.parallelism}; retries {spec.budget.retries}; "
        f"at most {plural(spec.budget.max_failed_trials, 'failed trial')}"
    )
    lines.append(f"  Lyapunov spectra at epochs {', '.join(map(str, spec.lyapunov_epochs()))} (distance {spec.lyapunov.distance})")
    lines.append(f"  promoted model: {spec.output.folder} (in the work dir)")
    return lines
