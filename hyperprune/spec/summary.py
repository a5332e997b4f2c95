"""What a search will do, in a few lines: ``hyperprune validate`` prints it. Torch-free."""

from __future__ import annotations

from hyperprune.spec.models import HyperpruneSearch


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
        lines.append(f"  median stopping after {rule.grace_epochs} epoch(s), once {rule.min_trials} other trials report")
    if spec.task is not None:
        layers = ", ".join(spec.task.recurrent_layers) if spec.task.recurrent_layers else "every recurrent layer"
        lines.append(f"  task: {spec.task.entry_point} (its own model and data; pruned and measured: {layers})")
    lines.append(f"  final training: {spec.final_epoch} epochs; metric: {spec.metric} ({spec.metric_mode})")
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
            f"({'an unbounded space' if size is None else f'{size} distinct points'})"
        )
    dense = "on" if spec.dense.enabled else "off"
    lines.append(
        f"  dense reference: {dense}; parallelism {spec.budget.parallelism}; retries {spec.budget.retries}; "
        f"at most {spec.budget.max_failed_trials} failed trials"
    )
    lines.append(f"  Lyapunov spectra at epochs {', '.join(map(str, spec.lyapunov_epochs()))} (distance {spec.lyapunov.distance})")
    lines.append(f"  promoted model: {spec.output.path}")
    return lines
