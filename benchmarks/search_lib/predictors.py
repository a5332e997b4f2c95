"""Early predictors of a candidate's final metric, side by side, at every epoch with a spectrum.

Each predictor gives every candidate a score at epoch e (lower = expected to end better), computed
only from what a search has seen by then:

- ``ls``: LS distance to the dense reference at e, over the spectrum the trial reported (the spec's
  state: the hidden state in the recorded runs up to issue 11, the exact (h, c) state after);
- ``ls-hidden`` / ``ls-full``: the same over a spectrum recorded beside it (``spectra.alsoStates``);
- ``ls-top8`` / ``ls-top32``: over the 8 / 32 largest exponents only;
- ``val``: the validation metric at e (oriented: lower is better);
- ``train-sum``: the sum of the training losses of epochs 1..e (the area under the training curve);
- ``extrapolated``: a power law a + b * t^-c fitted to the validation curve of epochs 1..e,
  read at the final epoch (at least 3 points; the last value otherwise);
- ``sparsity``: the target sparsity alone (the trivial baseline);
- ``blend-ls-val`` / ``blend-ls-train``: the rank average of two of the above (no weight fitted).

Per task and epoch: Spearman's rho with the final test metric (oriented, so positive = predictive)
with a 95 % percentile bootstrap interval over candidates, and the top-1 regret: how much worse the
candidate the score ranks first ends than full search's winner (the best final validation metric).
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit
from scipy.stats import rankdata

from .analysis import spearman

BOOTSTRAP_SEED = 11


def oriented(value: float | None, mode: str) -> float:
    """Lower is better; None and non-finite as the worst."""
    if value is None or not math.isfinite(value):
        return math.inf
    return value if mode == "min" else -value


def entry(record: dict[str, Any], epoch: int) -> dict[str, Any] | None:
    epochs = record["epochs"]
    if 1 <= epoch <= len(epochs) and epochs[epoch - 1]["epoch"] == epoch:
        return epochs[epoch - 1]
    return None


def spectrum_of(e: dict[str, Any] | None, state: str | None) -> np.ndarray | None:
    if e is None:
        return None
    values = e.get("spectrum") if state is None else (e.get("spectra") or {}).get(state)
    if values is None:
        return None
    return np.array([math.nan if v is None else v for v in values], dtype=np.float64)


def distance(cand: np.ndarray | None, ref: np.ndarray | None, top: int | None = None) -> float:
    if cand is None or ref is None or cand.shape != ref.shape:
        return math.inf
    if top is not None:
        cand, ref = np.sort(cand)[::-1][:top], np.sort(ref)[::-1][:top]
    d = float(np.linalg.norm(cand - ref))
    return d if math.isfinite(d) else math.inf


def power_law(t: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    return a + b * np.power(t, -c)


def extrapolate(values: list[float], final_epoch: int) -> float:
    """The validation curve of epochs 1..e fitted with a + b t^-c, read at the final epoch."""
    ys = np.array(values, dtype=np.float64)
    if len(ys) < 3 or not np.isfinite(ys).all():
        return float(ys[-1]) if len(ys) and math.isfinite(ys[-1]) else math.inf
    ts = np.arange(1, len(ys) + 1, dtype=np.float64)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            params, _ = curve_fit(power_law, ts, ys, p0=(ys[-1], ys[0] - ys[-1], 1.0),
                                  bounds=([-np.inf, -np.inf, 0.01], [np.inf, np.inf, 5.0]), maxfev=2000)
        value = float(power_law(np.array([float(final_epoch)]), *params)[0])
    except (RuntimeError, ValueError):
        return float(ys[-1])
    return value if math.isfinite(value) else float(ys[-1])


def rank_average(a: np.ndarray, b: np.ndarray, weight: float = 0.5) -> np.ndarray:
    """weight * rank(a) + (1 - weight) * rank(b); inf ranks last in each."""
    def ranks(x: np.ndarray) -> np.ndarray:
        finite = np.where(np.isfinite(x), x, np.nanmax(np.where(np.isfinite(x), x, -np.inf), initial=0.0) + 1e9)
        return rankdata(finite)

    return weight * ranks(a) + (1.0 - weight) * ranks(b)


Predictor = Callable[[dict[str, Any], dict[str, Any], int], float]


def predictors(mode: str, final_epoch: int, states: set[str]) -> dict[str, Predictor]:
    """name -> f(candidate, dense, epoch): the candidate's score at the epoch (lower = better)."""
    def ls(state: str | None, top: int | None = None) -> Predictor:
        return lambda c, d, e: distance(spectrum_of(entry(c, e), state), spectrum_of(entry(d, e), state), top)

    def val(c: dict[str, Any], d: dict[str, Any], e: int) -> float:
        x = entry(c, e)
        return oriented(x["valMetric"] if x else None, mode)

    def train_sum(c: dict[str, Any], d: dict[str, Any], e: int) -> float:
        losses = [x["trainLoss"] for x in c["epochs"][:e]]
        return float(sum(losses)) if len(losses) == e and all(v is not None and math.isfinite(v) for v in losses) else math.inf

    def extrapolated(c: dict[str, Any], d: dict[str, Any], e: int) -> float:
        values = [oriented(x["valMetric"], mode) for x in c["epochs"][:e]]
        return extrapolate(values, final_epoch) if len(values) == e else math.inf

    out: dict[str, Predictor] = {"ls": ls(None), "ls-top8": ls(None, 8), "ls-top32": ls(None, 32)}
    for state in sorted(states):
        out[f"ls-{state}"] = ls(state)
    out.update({"val": val, "train-sum": train_sum, "extrapolated": extrapolated,
                "sparsity": lambda c, d, e: float(c["point"]["sparsity"])})
    return out


BLENDS = {"blend-ls-val": ("ls", "val"), "blend-ls-train": ("ls", "train-sum")}


def final_badness(record: dict[str, Any], mode: str) -> float:
    """The final test metric, oriented (lower is better); inf for a trial that did not complete."""
    if record["status"] != "completed":
        return math.inf
    return oriented(record.get("testMetric"), mode)


def full_winner(candidates: list[dict[str, Any]], mode: str) -> dict[str, Any] | None:
    completed = [c for c in candidates if c["status"] == "completed"]
    return min(completed, key=lambda c: (oriented(c["epochs"][-1]["valMetric"], mode), c["id"])) if completed else None


def top1_regret(scores: np.ndarray, candidates: list[dict[str, Any]], mode: str) -> float | None:
    """How much worse the first-ranked candidate ends than full search's winner (fraction; test metric)."""
    winner = full_winner(candidates, mode)
    if winner is None or not np.isfinite(scores).any():
        return None
    order = sorted(range(len(candidates)), key=lambda i: (scores[i], candidates[i]["id"]))
    pick = candidates[order[0]]
    w, p = winner.get("testMetric"), pick.get("testMetric") if pick["status"] == "completed" else None
    if w is None or p is None or w == 0:
        return None
    return (p - w) / abs(w) if mode == "min" else (w - p) / abs(w)


def score_table(traj: dict[str, Any], mode: str) -> tuple[list[int], dict[str, dict[int, np.ndarray]]]:
    """Every predictor's scores at every epoch where the dense reference has a spectrum."""
    dense, cands = traj["dense"], traj["candidates"]
    final_epoch = traj["document"]["spec"]["training"]["epochs"]
    states = {s for e in dense["epochs"] for s in (e.get("spectra") or {})}
    preds = predictors(mode, final_epoch, states)
    epochs = [e["epoch"] for e in dense["epochs"] if e.get("spectrum") is not None and e["epoch"] < final_epoch]
    table: dict[str, dict[int, np.ndarray]] = {name: {} for name in [*preds, *BLENDS]}
    for e in epochs:
        for name, fn in preds.items():
            table[name][e] = np.array([fn(c, dense, e) for c in cands], dtype=np.float64)
        for name, (a, b) in BLENDS.items():
            table[name][e] = rank_average(table[a][e], table[b][e])
    return epochs, table


def bootstrap_ci(x: np.ndarray, y: np.ndarray, n: int, seed: int) -> tuple[float | None, float | None]:
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n):
        idx = rng.integers(0, len(x), len(x))
        rho = spearman(x[idx], y[idx])
        if math.isfinite(rho):
            draws.append(rho)
    if not draws:
        return None, None
    return float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))


def side_by_side(traj: dict[str, Any], mode: str, *, bootstrap_n: int = 1000) -> dict[str, Any]:
    """Per predictor and epoch: Spearman with the final test metric, its 95 % interval, top-1 regret."""
    cands = traj["candidates"]
    final = np.array([final_badness(c, mode) for c in cands])
    epochs, table = score_table(traj, mode)
    rows: dict[str, list[dict[str, Any]]] = {}
    for name, by_epoch in table.items():
        rows[name] = []
        for e in epochs:
            scores = by_epoch[e]
            rho = spearman(scores, final)
            low, high = bootstrap_ci(scores, final, bootstrap_n, BOOTSTRAP_SEED + e) if bootstrap_n else (None, None)
            rows[name].append({"epoch": e, "spearman": None if not math.isfinite(rho) else rho,
                               "ci95": [low, high], "top1Regret": top1_regret(scores, cands, mode)})
    return {"epochs": epochs, "predictors": rows}
