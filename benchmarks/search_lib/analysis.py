"""Does an early signal rank the candidates as their final metric does?

For every candidate of a pool: the LS distance to the dense model at epoch e (L2 over the spectra, the
policy's own ``ls_distance``), the validation metric at e, and the final metric (test perplexity at the
last epoch; lower is better; a diverged or failed candidate is worst). Spearman correlations between
each early signal and the final metric, by epoch, with percentile bootstrap intervals (candidates
resampled with replacement) and a paired bootstrap of the difference LS - validation.

Signs: every signal is oriented "lower is better", so a positive correlation means the signal ranks
candidates as their final metric does (the published 0.72 and 0.42 are in this convention).

The combination is the **rank average** of the two signals at the same epoch: no weight is fitted, so
it is not tuned on the data it is evaluated on.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.stats import rankdata, spearmanr

from hyperprune.policy import ls_distance

BOOTSTRAP = 2000
BOOTSTRAP_SEED = 20250607


def _finite_ranked(x: np.ndarray) -> np.ndarray:
    """inf (worst) -> a finite value above every other, so ranks treat it as worst; nan stays."""
    x = np.asarray(x, dtype=np.float64).copy()
    finite = np.isfinite(x)
    top = np.nanmax(x[finite]) if finite.any() else 0.0
    x[np.isposinf(x)] = top + 1.0 + abs(top)
    return x


def spearman(x: Any, y: Any) -> float:
    x, y = _finite_ranked(x), _finite_ranked(y)
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    if len(x) < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return math.nan
    return float(spearmanr(x, y).statistic)


def rank_average(a: Any, b: Any) -> np.ndarray:
    return (rankdata(_finite_ranked(a)) + rankdata(_finite_ranked(b))) / 2.0


def bootstrap(signals: dict[str, np.ndarray], final: np.ndarray, *, combine: tuple[str, str] | None = None,
              n: int = BOOTSTRAP, seed: int = BOOTSTRAP_SEED) -> dict[str, Any]:
    """95 % percentile intervals of each signal's Spearman correlation with ``final``, and of the
    paired differences between the first signal and the others."""
    names = list(signals)
    m = len(final)
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {k: [] for k in names}
    if combine:
        draws["combined"] = []
    for _ in range(n):
        idx = rng.integers(0, m, size=m)
        for k in names:
            draws[k].append(spearman(signals[k][idx], final[idx]))
        if combine:
            a, b = combine
            draws["combined"].append(spearman(rank_average(signals[a][idx], signals[b][idx]), final[idx]))
    out: dict[str, Any] = {"resamples": n, "seed": seed}
    arrays = {k: np.array(v) for k, v in draws.items()}
    for k, v in arrays.items():
        v = v[np.isfinite(v)]
        out[k] = {"low": _q(v, 2.5), "high": _q(v, 97.5)}
    first = names[0]
    for k in arrays:
        if k == first:
            continue
        d = arrays[first] - arrays[k]
        d = d[np.isfinite(d)]
        out[f"{first}-minus-{k}"] = {
            "low": _q(d, 2.5),
            "high": _q(d, 97.5),
            "probabilityPositive": float(np.mean(d > 0)) if len(d) else math.nan,
        }
    return out


def _q(v: np.ndarray, q: float) -> float:
    return float(np.percentile(v, q)) if len(v) else math.nan


def final_metric(record: dict[str, Any]) -> float:
    """Test metric after the last epoch; inf (worst) when the trial diverged or failed."""
    value = record.get("testMetric")
    if record["status"] != "completed" or value is None or not math.isfinite(value):
        return math.inf
    return float(value)


def final_val(record: dict[str, Any]) -> float:
    if record["status"] != "completed":
        return math.inf
    v = record["epochs"][-1]["valMetric"]
    return math.inf if v is None else float(v)


def _entry(record: dict[str, Any], epoch: int) -> dict[str, Any] | None:
    for e in record["epochs"]:
        if e["epoch"] == epoch:
            return e
    return None


def val_at(record: dict[str, Any], epoch: int) -> float:
    e = _entry(record, epoch)
    if e is None or e["valMetric"] is None:
        return math.inf  # diverged before
    return float(e["valMetric"])


def ls_at(record: dict[str, Any], dense: dict[str, Any], epoch: int) -> float:
    mine, ref = _entry(record, epoch), _entry(dense, epoch)
    if mine is None:
        return math.inf
    if ref is None or ref["spectrum"] is None or mine["spectrum"] is None:
        return math.nan
    a = np.array([math.nan if v is None else v for v in mine["spectrum"]], dtype=np.float64)
    b = np.array([math.nan if v is None else v for v in ref["spectrum"]], dtype=np.float64)
    return ls_distance(a, b)


def spectrum_epochs(dense: dict[str, Any]) -> list[int]:
    return [e["epoch"] for e in dense["epochs"] if e["spectrum"] is not None]


def correlations(dense: dict[str, Any], candidates: list[dict[str, Any]], e0: int, *,
                 bootstrap_n: int = BOOTSTRAP) -> dict[str, Any]:
    final = np.array([final_metric(c) for c in candidates])
    finalv = np.array([final_val(c) for c in candidates])
    sparsity = np.array([c["point"]["sparsity"] for c in candidates])
    ls0 = np.array([ls_at(c, dense, e0) for c in candidates])
    val0 = np.array([val_at(c, e0) for c in candidates])
    comb0 = rank_average(ls0, val0)

    head = {
        "e0": e0,
        "n": len(candidates),
        "spearmanLs": spearman(ls0, final),
        "spearmanVal": spearman(val0, final),
        "spearmanCombined": spearman(comb0, final),
        "spearmanLsFinalVal": spearman(ls0, finalv),
        "spearmanValFinalVal": spearman(val0, finalv),
        "spearmanLsSparsity": spearman(ls0, sparsity),
        "spearmanFinalSparsity": spearman(final, sparsity),
        "bootstrap": bootstrap({"ls": ls0, "val": val0}, final, combine=("ls", "val"), n=bootstrap_n),
    }
    # Where the candidate that ends best stands at e0 under each signal (1 = ranked first).
    best = int(np.argmin(_finite_ranked(final)))
    head["bestCandidate"] = candidates[best]["id"]
    head["bestRankAtE0"] = {
        "ls": int(rankdata(_finite_ranked(ls0), method="min")[best]),
        "val": int(rankdata(_finite_ranked(val0), method="min")[best]),
        "combined": int(rankdata(comb0, method="min")[best]),
    }
    # Within each sparsity level: the hard part (between levels, sparsity alone orders a lot).
    levels = {}
    for s in sorted(set(sparsity.tolist())):
        idx = np.where(sparsity == s)[0]
        levels[f"{s:g}"] = {
            "n": int(len(idx)),
            "spearmanLs": spearman(ls0[idx], final[idx]),
            "spearmanVal": spearman(val0[idx], final[idx]),
            "spearmanCombined": spearman(rank_average(ls0[idx], val0[idx]), final[idx]),
            "bootstrap": bootstrap({"ls": ls0[idx], "val": val0[idx]}, final[idx], combine=("ls", "val"),
                                   n=max(200, bootstrap_n // 4)),
        }
    head["bySparsity"] = levels

    curve = []
    epochs = sorted({e["epoch"] for c in candidates for e in c["epochs"]} | set(spectrum_epochs(dense)))
    ls_epochs = set(spectrum_epochs(dense))
    for e in epochs:
        vals = np.array([val_at(c, e) for c in candidates])
        row: dict[str, Any] = {"epoch": e, "spearmanVal": spearman(vals, final)}
        if e in ls_epochs:
            lss = np.array([ls_at(c, dense, e) for c in candidates])
            row["spearmanLs"] = spearman(lss, final)
            row["spearmanCombined"] = spearman(rank_average(lss, vals), final)
            b = bootstrap({"ls": lss, "val": vals}, final, n=max(200, bootstrap_n // 5), seed=BOOTSTRAP_SEED + e)
            row["lsLow"], row["lsHigh"] = b["ls"]["low"], b["ls"]["high"]
            row["valLow"], row["valHigh"] = b["val"]["low"], b["val"]["high"]
        curve.append(row)
    head["byEpoch"] = curve
    head["perCandidate"] = [
        {
            "id": c["id"],
            "description": c["description"],
            "family": c.get("family"),
            "sparsity": c["point"]["sparsity"],
            "lsDistanceE0": _json_float(ls0[i]),
            "valMetricE0": _json_float(val0[i]),
            "finalValMetric": _json_float(finalv[i]),
            "finalTestMetric": _json_float(final[i]),
            "status": c["status"],
        }
        for i, c in enumerate(candidates)
    ]
    return head


def _json_float(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None
