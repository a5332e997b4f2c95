"""Tables, plots, ``summary.json`` and the draft write-up, from the tasks' results dicts."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .tasks import STRATEGIES

SUMMARY_DOC = {
    "metric": "perplexity of a language model: LOWER IS BETTER (accuracy of a classifier, the digits task: higher is better; each task says its direction)",
    "final metric": "test perplexity after the last training epoch (PTB-eval: ptb.test.txt; Tiny Shakespeare: its last 5 %)",
    "dense_metric": "the dense reference trained with the same recipe and seed",
    "full_winner_metric": "the candidate the `full` strategy promotes (best final validation perplexity)",
    "spearman_*": "Spearman correlation between a signal at epoch e0 (LS distance to the dense model / validation perplexity / their rank average) and the final metric over the pool; positive = the signal ranks candidates as they end (published: 0.72 LS, 0.42 validation)",
    "trial_epochs": "epochs trained by all trials of the search, the dense reference and retraining included (what the engines count)",
    "candidate_trial_epochs": "the same without the dense reference (the published 9.6x counts candidates only)",
    "wall_seconds": "replayed: the recorded seconds of the epochs the strategy trains, scheduled on budget.parallelism workers; excludes process start-up",
    "pick_metric": "final test metric of the candidate the strategy promotes",
    "spearman_default": "Spearman at e0 of the score of lsh's default rule (spec.strategy.score; today the published LS distance over all exponents)",
    "rules": "lsh's score rules replayed on every task; out_of_fold: each task scored with the rule chosen on the OTHER tasks of the same scale (search_lib/rules.py)",
}


def fmt(x: Any, spec: str = ".1f", none: str = "-") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return none
    return format(x, spec)


def pct(x: float | None) -> str:
    return "-" if x is None else f"{x:+.1%}"


# ---- tables ----------------------------------------------------------------------------------------


def strategy_rows(res: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name in STRATEGIES:
        s = res["strategies"][name]
        rows.append(
            [
                name,
                str(s["trialEpochs"]),
                str(s["candidateTrialEpochs"]),
                fmt(s["reductionVsFull"], ".1f") + "x",
                fmt(s["candidateReductionVsFull"], ".1f") + "x",
                fmt(s["wallSecondsReplayed"], ".0f"),
                str(s["completed"]),
                s["pickDescription"] or "-",
                fmt(s["pickValMetric"], ".2f"),
                fmt(s["pickTestMetric"], ".2f"),
                pct(s["pickVsFullWinner"]),
                pct(s["pickVsDense"]),
            ]
        )
    return rows


STRATEGY_HEADER = ["strategy", "trial-epochs", "cand. epochs", "vs full", "cand. vs full", "wall s (replayed)",
                   "trained to end", "pick", "pick val", "pick test", "vs full winner", "vs dense"]


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)])


def md_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in rows]
    return "\n".join(out)


def print_task(res: dict[str, Any]) -> None:
    c = res["correlation"]
    b = c["bootstrap"]
    print()
    print(f"== {res['label']}: {len(res['correlation']['perCandidate'])} candidates + dense, "
          f"{res['settings']['training']['epochs']} epochs, e0 = {c['e0']} (perplexity, lower is better) ==")
    print(f"dense: val {fmt(res['dense']['valMetric'], '.2f')} test {fmt(res['dense']['testMetric'], '.2f')}; "
          f"full winner: {res['fullWinner']['description']} test {fmt(res['fullWinner']['testMetric'], '.2f')}; "
          f"best in pool: {res['bestInPool']['description']} test {fmt(res['bestInPool']['testMetric'], '.2f')}")
    print(f"Spearman with the final test metric at e0: LS {fmt(c['spearmanLs'], '.2f')} "
          f"[{fmt(b['ls']['low'], '.2f')}, {fmt(b['ls']['high'], '.2f')}], "
          f"val {fmt(c['spearmanVal'], '.2f')} [{fmt(b['val']['low'], '.2f')}, {fmt(b['val']['high'], '.2f')}], "
          f"rank average {fmt(c['spearmanCombined'], '.2f')}; LS - val "
          f"[{fmt(b['ls-minus-val']['low'], '+.2f')}, {fmt(b['ls-minus-val']['high'], '+.2f')}] "
          f"(published: 0.72 / 0.42)")
    print(text_table(STRATEGY_HEADER, strategy_rows(res)))
    live = res["liveCheck"]
    if live.get("ran"):
        print(f"live check ({live['strategy']}, 1 worker): decisions {'equal' if live.get('decisionsEqual') else 'DIFFER'}, "
              f"trial-epochs {live.get('trialEpochsLive')} live / {live.get('trialEpochsReplay')} replayed, "
              f"pick {'equal' if live.get('pickEqual') else 'DIFFERS'}, reports bit-identical: {live.get('bitIdentical')}")
    for name, t in res["targets"].items():
        print(f"target {name}: {'met' if t['met'] else 'NOT met'}")


# ---- plots -----------------------------------------------------------------------------------------


def plots(res: dict[str, Any], out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    label = res["label"]
    written = []
    per = res["correlation"]["perCandidate"]
    families = sorted({p["family"] or p["description"].split()[0] for p in per})
    cmap = plt.get_cmap("tab20")
    colors = {f: cmap(i % 20) for i, f in enumerate(families)}
    markers = {s: m for s, m in zip(sorted({p["sparsity"] for p in per}), "os^Dv")}

    # 1. early signals vs the final metric
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    c = res["correlation"]
    for ax, key, title, rho in (
        (axes[0], "lsDistanceE0", f"LS distance to dense at epoch {c['e0']}", c["spearmanLs"]),
        (axes[1], "valMetricE0", f"validation perplexity at epoch {c['e0']}", c["spearmanVal"]),
    ):
        for p in per:
            if p[key] is None or p["finalTestMetric"] is None:
                continue
            fam = p["family"] or p["description"].split()[0]
            ax.scatter(p[key], p["finalTestMetric"], color=colors[fam], marker=markers[p["sparsity"]], s=45,
                       edgecolor="black", linewidth=0.4)
        dense = res["dense"]["testMetric"]
        if dense is not None:
            ax.axhline(dense, color="black", linestyle="--", linewidth=1, label=f"dense {dense:.2f}")
        ax.set_xlabel(title)
        ax.set_ylabel("final test perplexity (lower is better)")
        ax.set_title(f"Spearman {fmt(rho, '.2f')}")
    handles = [plt.Line2D([], [], color=colors[f], marker="o", linestyle="", label=f) for f in families]
    handles += [plt.Line2D([], [], color="gray", marker=m, linestyle="", label=f"sparsity {s:g}") for s, m in markers.items()]
    handles += [plt.Line2D([], [], color="black", linestyle="--", label="dense")]
    fig.legend(handles=handles, loc="center right", fontsize=7, frameon=False)
    fig.suptitle(f"{label}: early signals vs final test perplexity ({len(per)} candidates)")
    fig.tight_layout(rect=(0, 0, 0.83, 1))
    path = out / f"{label}-ls-vs-final.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path.name)

    # 2. correlation by epoch
    curve = c["byEpoch"]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ls_rows = [r for r in curve if "spearmanLs" in r]
    ax.plot([r["epoch"] for r in ls_rows], [r["spearmanLs"] for r in ls_rows], "o-", color="#1f77b4", label="LS distance")
    ax.fill_between([r["epoch"] for r in ls_rows], [r["lsLow"] for r in ls_rows], [r["lsHigh"] for r in ls_rows],
                    color="#1f77b4", alpha=0.15)
    ax.plot([r["epoch"] for r in ls_rows], [r["spearmanCombined"] for r in ls_rows], "^:", color="#2ca02c",
            label="rank average (LS, val)")
    ax.plot([r["epoch"] for r in curve], [r["spearmanVal"] for r in curve], "s-", color="#d62728", label="validation perplexity")
    ax.fill_between([r["epoch"] for r in ls_rows], [r["valLow"] for r in ls_rows], [r["valHigh"] for r in ls_rows],
                    color="#d62728", alpha=0.10)
    ax.axhline(0.72, color="#1f77b4", linestyle="--", linewidth=0.8, label="published LS (0.72)")
    ax.axhline(0.42, color="#d62728", linestyle="--", linewidth=0.8, label="published val (0.42)")
    ax.axhline(0, color="black", linewidth=0.5)
    ax.axvline(c["e0"], color="gray", linestyle=":", linewidth=0.8)
    ax.set_xlabel("epoch of the signal")
    ax.set_ylabel("Spearman with final test perplexity")
    ax.set_ylim(-1, 1)
    ax.set_title(f"{label}: how early does each signal rank the pool? (bands: bootstrap 95 %)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path = out / f"{label}-correlation-by-epoch.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path.name)

    # 3. cost vs pick quality
    fig, ax = plt.subplots(figsize=(8, 5))
    style = {"full": "#000000", "lsh": "#1f77b4", "lsh-sync": "#17becf", "asha-loss": "#d62728", "median": "#ff7f0e",
             "random": "#7f7f7f"}
    for row in res.get("sensitivity", []):
        if "invalid" in row or row["pickTestMetric"] is None:
            continue
        ax.scatter(row["candidateTrialEpochs"], row["pickTestMetric"], color=style[row["strategy"]], alpha=0.25, s=20)
    for name in STRATEGIES:
        s = res["strategies"][name]
        if s["pickTestMetric"] is None:
            continue
        ax.scatter(s["candidateTrialEpochs"], s["pickTestMetric"], color=style[name], s=80, edgecolor="black", zorder=3,
                   label=name)
        ax.annotate(name, (s["candidateTrialEpochs"], s["pickTestMetric"]), textcoords="offset points", xytext=(5, 5),
                    fontsize=8)
    if res["dense"]["testMetric"] is not None:
        ax.axhline(res["dense"]["testMetric"], color="black", linestyle="--", linewidth=1, label="dense")
    if res["bestInPool"]["testMetric"] is not None:
        ax.axhline(res["bestInPool"]["testMetric"], color="green", linestyle=":", linewidth=1, label="best in pool")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("candidate trial-epochs (log scale)")
    ax.set_ylabel("pick's final test perplexity (lower is better)")
    ax.set_title(f"{label}: cost vs what each strategy finds (faint: other e0 / finalists)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = out / f"{label}-cost-vs-quality.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path.name)
    return written


# ---- summary.json ----------------------------------------------------------------------------------


def summary(results: list[dict[str, Any]], command: str | None) -> dict[str, Any]:
    tasks = {}
    for res in results:
        c = res["correlation"]
        b = c["bootstrap"]
        tasks[res["label"]] = {
            "task": res["task"],
            "scale": res["scale"],
            "device": res["device"],
            "metric": res.get("metric", "perplexity"),
            "direction": res.get("direction", "lower is better"),
            "candidates": c["n"],
            "epochs": res["settings"]["training"]["epochs"],
            "e0": c["e0"],
            "spearman_ls": c["spearmanLs"],
            "spearman_ls_ci95": [b["ls"]["low"], b["ls"]["high"]],
            "spearman_default": c["spearmanLs"],  # the default rule is the published LS distance
            "spearman_val": c["spearmanVal"],
            "spearman_val_ci95": [b["val"]["low"], b["val"]["high"]],
            "spearman_combined": c["spearmanCombined"],
            "spearman_combined_ci95": [b["combined"]["low"], b["combined"]["high"]],
            "spearman_ls_minus_val_ci95": [b["ls-minus-val"]["low"], b["ls-minus-val"]["high"]],
            "dense_metric": res["dense"]["testMetric"],
            "full_winner_metric": res["fullWinner"]["testMetric"],
            "best_in_pool_metric": res["bestInPool"]["testMetric"],
            "strategies": {
                name: {
                    "trial_epochs": s["trialEpochs"],
                    "candidate_trial_epochs": s["candidateTrialEpochs"],
                    "reduction_vs_full": s["reductionVsFull"],
                    "candidate_reduction_vs_full": s["candidateReductionVsFull"],
                    "wall_seconds": s["wallSecondsReplayed"],
                    "wall_seconds_kind": "replayed",
                    "pick": s["pickDescription"],
                    "pick_metric": s["pickTestMetric"],
                    "pick_val_metric": s["pickValMetric"],
                }
                for name, s in res["strategies"].items()
            },
            "live_check": {k: res["liveCheck"].get(k) for k in ("ran", "equal", "bitIdentical", "why")
                           if k in res["liveCheck"]},
            "targets_met": {k: v["met"] for k, v in res["targets"].items()},
        }
    return {"_doc": SUMMARY_DOC, "command": command, "tasks": tasks}


def rule_summary(rules: dict[str, Any]) -> dict[str, Any]:
    """Per scale: the rule chosen on all tasks, and each task's out-of-fold outcome."""
    return {
        scale: {
            "chosen_on_all_tasks": r["chosenOnAllTasks"],
            "out_of_fold": {f["heldOut"]: {"chosen": f["chosen"], "trial_epochs": f["trialEpochs"],
                                           "reduction_vs_full": f["reduction"], "regret": f["regret"],
                                           "meets_targets": f["meetsTargets"]} for f in r["outOfFold"]},
            "published_in_sample": {t: {k: row.get(k) for k in ("trialEpochs", "reduction", "regret")}
                                    for t, rows in r["inSample"].items() for row in [rows["published"]]},
        }
        for scale, r in rules.items()
    }


# ---- the draft write-up ----------------------------------------------------------------------------


def readme(results: list[dict[str, Any]], command: str | None, rules: dict[str, Any] | None = None) -> str:
    lines = [
        "# Search benchmark: does early LS distance predict which pruned candidates end best?",
        "",
        "Generated by `benchmarks/search.py` from the result files in this folder "
        "(re-render without training: `benchmarks/search.py --report-only --out DIR`). "
        "Perplexity: **lower is better**; accuracy (the digits task): higher is better, shown as is and "
        "oriented in every correlation (positive = predictive). Method and design: `docs/results.md`.",
        "",
    ]
    if command:
        lines += ["Reproduce:", "", "```sh", command, "```", ""]
    for res in results:
        lines += task_section(res)
    if rules:
        lines += rules_section(rules)
    return "\n".join(lines) + "\n"


PREDICTOR_EPOCHS = 4  # columns of the predictor table: e0 and the next few epochs with a spectrum


def predictor_section(res: dict[str, Any]) -> list[str]:
    pred = res.get("predictors")
    if not pred:
        return []
    e0 = res["correlation"]["e0"]
    epochs = [e for e in pred["epochs"] if e >= e0][:PREDICTOR_EPOCHS]
    later = [e for e in pred["epochs"] if e > epochs[-1]][::3] if epochs else []
    shown = epochs + later[:3]

    def cell(row: dict[str, Any] | None) -> str:
        if row is None:
            return "-"
        return f"{fmt(row['spearman'], '+.2f')} / {pct(row['top1Regret'])}"

    rows = []
    for name, by_epoch in pred["predictors"].items():
        at = {r["epoch"]: r for r in by_epoch}
        rows.append([name, *[cell(at.get(e)) for e in shown]])
    return ["### Predictors side by side (Spearman with the final test metric / top-1 regret vs the full winner)", "",
            md_table(["predictor", *[f"epoch {e}" for e in shown]], rows), ""]


def rules_section(rules: dict[str, Any]) -> list[str]:
    lines = ["## lsh's score rules, leave one task out", "",
             "Each rule (score and rungs, `search_lib/rules.py`) replayed on every task; out of fold = each task scored "
             "with the rule chosen on the other tasks of the same scale (the choice: >= 10x fewer trial-epochs than full "
             "with the dense reference counted on every training task, then the smallest worst regret).", ""]
    for scale, r in rules.items():
        tasks = sorted(r["inSample"])
        lines += [f"### {scale} scale", "", "Out of fold:", "",
                  md_table(["held out", "chosen on", "rule", "trial-epochs", "vs full", "pick regret", "targets"],
                           [[f["heldOut"], ", ".join(f["trainedOn"]), f["chosen"], str(f["trialEpochs"]),
                             fmt(f["reduction"], ".1f") + "x", pct(f["regret"]), "met" if f["meetsTargets"] else "not met"]
                            for f in r["outOfFold"]]), "",
                  "In sample (every rule on every task; not evidence for a choice):", "",
                  md_table(["rule", *tasks],
                           [[name, *[(r["inSample"][t][name].get("invalid") and "invalid") or
                                     f"{fmt(r['inSample'][t][name]['reduction'], '.1f')}x, {pct(r['inSample'][t][name]['regret'])}"
                                     for t in tasks]] for name in r["rules"]]), ""]
    return lines


def task_section(res: dict[str, Any]) -> list[str]:
    c, b, s = res["correlation"], res["correlation"]["bootstrap"], res["settings"]
    t = res["targets"]
    m = s["model"]
    lines = [
        f"## {res['label']} ({res['device']})",
        "",
        f"{m.get('numLayers', 1)} x {m['hiddenSize']} {m.get('arch', 'lstm').upper()}, {s['training']['epochs']} epochs of "
        f"{s['training'].get('maxBatches') or 'all'} batches ({s['training']['optimizer']} lr {s['training']['lr']}, "
        f"{s['training']['lrSchedule']}), seed {s['seed']}; pool of {s['poolSize']} candidates "
        f"({len(s['families'])} configurations x sparsity {', '.join(f'{x:g}' for x in s['sparsities'])}) + dense; "
        f"spectra: state `{s['lyapunov'].get('state')}`, k = {s['lyapunov'].get('k') or 'all'}; "
        f"rungs: e0 = {s['rungs']['first']}, step {s['rungs']['step']}, keep {s['rungs']['keepFraction']}, "
        f"finalists {s['rungs']['finalists']}; parallelism {s['parallelism']}.",
        "",
        f"Dense: validation {fmt(res['dense']['valMetric'], '.2f')}, test {fmt(res['dense']['testMetric'], '.2f')}. "
        f"Full winner: {res['fullWinner']['description']} (test {fmt(res['fullWinner']['testMetric'], '.2f')}). "
        f"Best in pool: {res['bestInPool']['description']} (test {fmt(res['bestInPool']['testMetric'], '.2f')}). "
        f"Candidates: {', '.join(f'{v} {k}' for k, v in res['candidateStatus'].items())}.",
        "",
        f"### Early signals vs the final test {res.get('metric', 'perplexity')} (Spearman, bootstrap 95 %)",
        "",
        md_table(
            ["signal at epoch " + str(c["e0"]), "all candidates", *[f"sparsity {k}" for k in c["bySparsity"]], "published"],
            [
                ["LS distance", f"{fmt(c['spearmanLs'], '.2f')} [{fmt(b['ls']['low'], '.2f')}, {fmt(b['ls']['high'], '.2f')}]",
                 *[fmt(v["spearmanLs"], ".2f") for v in c["bySparsity"].values()], "0.72"],
                ["validation perplexity", f"{fmt(c['spearmanVal'], '.2f')} [{fmt(b['val']['low'], '.2f')}, {fmt(b['val']['high'], '.2f')}]",
                 *[fmt(v["spearmanVal"], ".2f") for v in c["bySparsity"].values()], "0.42"],
                ["rank average (not fitted)", f"{fmt(c['spearmanCombined'], '.2f')} [{fmt(b['combined']['low'], '.2f')}, {fmt(b['combined']['high'], '.2f')}]",
                 *[fmt(v["spearmanCombined"], ".2f") for v in c["bySparsity"].values()], "-"],
            ],
        ),
        "",
        f"LS minus validation (paired bootstrap): [{fmt(b['ls-minus-val']['low'], '+.2f')}, {fmt(b['ls-minus-val']['high'], '+.2f')}], "
        f"P(LS better) = {fmt(b['ls-minus-val']['probabilityPositive'], '.2f')}. "
        f"LS distance vs sparsity: {fmt(c['spearmanLsSparsity'], '.2f')}; final metric vs sparsity: {fmt(c['spearmanFinalSparsity'], '.2f')}. "
        f"The candidate that ends best ranks {c['bestRankAtE0']['ls']} by LS distance and "
        f"{c['bestRankAtE0']['val']} by validation perplexity at epoch {c['e0']}.",
        "",
        "By epoch (Spearman with the final test perplexity):",
        "",
        md_table(
            ["epoch", "LS distance", "validation", "rank average"],
            [[str(r["epoch"]), fmt(r.get("spearmanLs"), ".2f"), fmt(r["spearmanVal"], ".2f"), fmt(r.get("spearmanCombined"), ".2f")]
             for r in c["byEpoch"] if "spearmanLs" in r],
        ),
        "",
        f"![early signals]({res['label']}-ls-vs-final.png) ![by epoch]({res['label']}-correlation-by-epoch.png)",
        "",
        *predictor_section(res),
        "### Strategies on the same pool (replayed from the ground truth; wall = recorded epoch seconds on "
        f"{s['parallelism']} workers)",
        "",
        md_table(STRATEGY_HEADER, strategy_rows(res)),
        "",
        f"![cost vs quality]({res['label']}-cost-vs-quality.png)",
        "",
    ]
    live = res["liveCheck"]
    if live.get("ran"):
        lines += [
            f"**Replay check** (lsh LIVE through `hyperprune run`, 1 worker): "
            f"{live.get('actionsLive')} actions live vs {live.get('actionsReplay')} replayed, "
            f"decisions {'equal' if live.get('decisionsEqual') else 'DIFFERENT (first difference: ' + json.dumps(live.get('firstDifference')) + ')'}; "
            f"trial-epochs {live.get('trialEpochsLive')} live / {live.get('trialEpochsReplay')} replayed; "
            f"pick {live.get('pickLive')} live / {live.get('pickReplay')} replayed; "
            f"{live.get('reportsCompared')} reports ({live.get('spectraCompared')} spectra) compared with the ground truth: "
            f"max |metric difference| {live.get('maxAbsMetricDifference')}, max |exponent difference| "
            f"{live.get('maxAbsSpectrumDifference')}. Live wall {fmt(live.get('liveSeconds'), '.0f')} s vs "
            f"{fmt(live.get('replayedWallSeconds'), '.0f')} s replayed (the difference is process start-up and "
            "checkpoint loading, which the replay leaves out).",
            "",
        ]
    else:
        lines += [f"Replay check: not run for this task ({live.get('why')}).", ""]
    lines += ["### Targets", ""]
    lines += [
        f"- LS distance at e0 correlates at least as well as the published 0.72: "
        f"**{'met' if t['spearmanLsAtLeastPublished']['met'] else 'not met'}** ({fmt(c['spearmanLs'], '.2f')}).",
        f"- ... and clearly better than the early validation metric: "
        f"**{'met' if t['spearmanLsClearlyAboveVal']['met'] else 'not met'}** ({fmt(c['spearmanLs'], '.2f')} vs "
        f"{fmt(c['spearmanVal'], '.2f')}; difference interval [{fmt(b['ls-minus-val']['low'], '+.2f')}, {fmt(b['ls-minus-val']['high'], '+.2f')}]).",
        f"- lsh needs >= 10x fewer trial-epochs than full: "
        f"**{'met' if t['lshTenTimesFewerTrialEpochs']['met'] else 'not met'}** counting candidates "
        f"({fmt(t['lshTenTimesFewerTrialEpochs']['candidateEpochs'], '.1f')}x), "
        f"{'met' if t['lshTenTimesFewerTrialEpochs']['metCountingDense'] else 'not met'} counting the dense reference too "
        f"({fmt(t['lshTenTimesFewerTrialEpochs']['allEpochs'], '.1f')}x).",
        f"- lsh's pick within 1 % of the full winner: **{'met' if t['lshPickWithinOnePercentOfFullWinner']['met'] else 'not met'}** "
        f"({pct(t['lshPickWithinOnePercentOfFullWinner']['value'])}).",
        f"- the pruned pick matches or beats dense: **{'met' if t['prunedPickMatchesDense']['met'] else 'not met'}** "
        f"(lsh pick {pct(t['prunedPickMatchesDense']['value'])}, full winner {pct(t['prunedPickMatchesDense']['fullWinnerVsDense'])}, "
        f"best in pool {pct(t['prunedPickMatchesDense']['bestInPoolVsDense'])} vs dense).",
        "",
    ]
    sens = [r for r in res.get("sensitivity", []) if "invalid" not in r]
    if sens:
        lines += [
            "### Sensitivity: other rung settings on the same ground truth (replayed; the primary setting was fixed beforehand)",
            "",
            md_table(
                ["strategy", "keep", "e0", "finalists", "rungs", "cand. epochs", "vs full", "trained to end", "pick",
                 "pick test", "vs full winner", "vs dense"],
                [[r["strategy"], f"{r['keepFraction']:g}", str(r["e0"]), str(r["finalists"]), ",".join(map(str, r["rungEpochs"])),
                  str(r["candidateTrialEpochs"]), fmt(r["candidateReductionVsFull"], ".1f") + "x", str(r["finalistsTrained"]),
                  r["pick"] or "-", fmt(r["pickTestMetric"], ".2f"), pct(r["pickVsFullWinner"]), pct(r["pickVsDense"])]
                 for r in sens],
            ),
            "",
        ]
    rs = res.get("randomSeeds") or {}
    if rs:
        lines += [
            f"Random baseline over {rs['seeds']} policy seeds: median pick {pct(rs['median'])} vs the full winner; "
            f"{rs['withinOnePercent']} of {rs['seeds']} within 1 %.",
            "",
        ]
    tm = res["timing"]
    lines += [
        f"Cost: ground truth {tm['groundTruthTrialEpochs']} trial-epochs; the training phase of the run (every task's "
        f"ground truth and the live check together) took {fmt(tm['groundTruthWallSeconds'], '.0f')} s on "
        f"{tm['workers']} workers; an epoch {fmt(tm['meanEpochSecondsWithoutSpectrum'], '.2f')} s without its spectrum, "
        f"a spectrum {fmt(tm['meanSpectrumSeconds'], '.2f')} s, a trial {fmt(tm.get('meanTrialSeconds'), '.0f')} s "
        f"(means over the ground truth"
        + (f"; {tm['reusedTrials']} trials were read from an earlier run's directories" if tm.get("reusedTrials") else "")
        + ").",
        "",
    ]
    return lines


def rules_by_scale(out: Path) -> dict[str, Any]:
    """lsh's rules replayed leave-one-task-out over the trajectories in ``out``, per scale."""
    from .rules import leave_one_task_out

    by_scale: dict[str, dict[str, Any]] = {}
    for path in sorted(out.glob("*-trajectories.json")):
        traj = json.loads(path.read_text())
        by_scale.setdefault(traj["scale"], {})[traj["task"]] = traj
    return {scale: leave_one_task_out(trajs) for scale, trajs in by_scale.items()}


def write_outputs(results: list[dict[str, Any]], out: Path, command: str | None) -> list[str]:
    written = []
    for res in results:
        path = out / f"{res['label']}.json"
        path.write_text(json.dumps(_clean(res), indent=1, allow_nan=False) + "\n")
        written.append(path.name)
        written += plots(res, out)
    rules = rules_by_scale(out)
    (out / "rules.json").write_text(json.dumps(_clean(rules), indent=1, allow_nan=False) + "\n")
    head = summary(results, command)
    head["rules"] = rule_summary(rules)
    (out / "summary.json").write_text(json.dumps(_clean(head), indent=2, allow_nan=False) + "\n")
    (out / "README.md").write_text(readme(results, command, rules))
    return written + ["rules.json", "summary.json", "README.md"]


def _clean(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x
