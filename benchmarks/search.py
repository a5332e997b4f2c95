"""LS-guided search vs full search vs loss-based early stopping, on real data.

    .venv/bin/python benchmarks/search.py --data ../shared/data                  # both tasks, 2 CPU cores
    .venv/bin/python benchmarks/search.py --data ../shared/data --quick          # the smoke test's scale
    .venv/bin/python benchmarks/search.py --data ../shared/data --task ptb --calibrate 2
    .venv/bin/python benchmarks/search.py --report-only --out benchmarks/results # re-render from saved json

For each task (a word-level LSTM LM on PTB-eval, a character-level one on Tiny Shakespeare) one pool
of pruned candidates (several families, two sparsity levels) plus the dense reference:

1. **Ground truth** (= the ``full`` strategy's run): every candidate and the dense model trained to
   the final epoch once with the search's own trial configs, a report every epoch and a spectrum at
   every epoch any strategy may rank at (``runs/.../gt``; an interrupted run continues from there).
2. **Every strategy** (full, lsh, lsh-sync, asha-loss, median, random) on the same pool by replaying
   ``hyperprune.policy.decide`` on the recorded trajectories: trials are deterministic and continuing
   equals an uninterrupted run, so decisions and trial-epochs are exactly what a live search does;
   wall time is the recorded epoch seconds scheduled on the spec's parallelism ("replayed").
3. **Replay check**: ``lsh`` run LIVE through ``hyperprune run`` (1 worker) on one task, its actions,
   trial-epochs, pick and reports compared with the replay's.
4. **Analysis**: Spearman correlation with the final test perplexity of the LS distance, the
   validation perplexity and their rank average at e0 and at every epoch, with bootstrap intervals.

Outputs in --out: ``<task>.json`` (results), ``<task>-trajectories.json`` (the ground truth, enough
for ``--report-only``), three PNGs per task, ``summary.json``, ``README.md`` (a draft write-up).
Perplexity everywhere: lower is better.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

from search_lib import tasks as T  # noqa: E402

DEFAULT_OUT = HERE / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", nargs="+", metavar="FILE", help="task files (benchmarks/tasks/*.yaml) or their "
                   "names (ptb = benchmarks/tasks/ptb.yaml); default: every file in benchmarks/tasks")
    p.add_argument("--data", type=Path, help="the shared data folder (ptb-eval/, tinyshakespeare/, ...); "
                   "default: $HYPERPRUNE_TEST_DATA or ../shared/data beside the checkout")
    p.add_argument("--out", type=Path, help=f"results folder (default: {DEFAULT_OUT.relative_to(REPO)}; "
                   "with --quick: <workdir>/results)")
    p.add_argument("--workdir", type=Path, help="trial directories (default: runs/benchmark-search[-quick])")
    p.add_argument("--quick", action="store_true", help="small pool, tiny models, few epochs (the smoke test)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="cuda runs the GPU scale (2 x 650 LSTM on PTB-eval, more candidates and epochs)")
    p.add_argument("--workers", type=int, help="trials trained at once (default: CPU cores; GPU: the scale's parallelism)")
    p.add_argument("--live-check", default="auto", help="task whose lsh search also runs LIVE through the local "
                   "engine to check the replay (auto: shakespeare when run, else the first task; none: skip)")
    p.add_argument("--report-only", action="store_true", help="re-render results, plots, summary and README from "
                   "the *-trajectories.json files in --out, without training")
    p.add_argument("--calibrate", type=int, metavar="K", help="train the dense model and K candidates per task at "
                   "full scale (in runs/benchmark-search-calibration) and estimate the full run's time")
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples for the correlation intervals")
    p.add_argument("--no-sensitivity", action="store_true", help="skip the replayed grid of other rung settings")
    return p.parse_args(argv)


def data_root(args: argparse.Namespace) -> Path | None:
    if args.data is not None:
        return args.data.resolve()
    env = os.environ.get("HYPERPRUNE_TEST_DATA")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]:
        if cand.is_dir():
            return cand.resolve()
    return None


def resolve_device(name: str) -> str | None:
    """cpu or cuda; None (with the reason printed) when cuda was asked for and there is none."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda: no CUDA device is available here — run on a GPU machine or use --device cpu",
              file=sys.stderr)
        return None
    return name


def read_tasks(given: list[str] | None) -> list[Any] | None:
    """The task files asked for (all of benchmarks/tasks by default); None after printing every
    problem of every file that is not a valid task."""
    from search_lib.taskfile import TaskFileError, load_task

    paths = [T.task_path(x) for x in given] if given else T.task_files()
    tasks, failed = [], False
    for path in paths:
        try:
            tasks.append(load_task(path))
        except TaskFileError as exc:
            failed = True
            print(f"error: task file {path}:", file=sys.stderr)
            for line in exc.errors:
                print(f"  {line}", file=sys.stderr)
    names = [t.name for t in tasks]
    if not failed and len(set(names)) != len(names):
        print(f"error: --task: a task is given twice ({', '.join(names)})", file=sys.stderr)
        return None
    return None if failed else tasks


def cpu_budget() -> int:
    from hyperprune.contract.resources import cpu_budget as budget

    return budget()


def command_line(args: argparse.Namespace) -> str:
    parts = [".venv/bin/python", "benchmarks/search.py", "--data", str(args.data or "../shared/data")]
    if args.task:
        parts += ["--task", *args.task]
    if args.quick:
        parts.append("--quick")
    if args.device != "auto":
        parts += ["--device", args.device]
    return " ".join(parts)


# ---- ground truth ----------------------------------------------------------------------------------


def config_hash(config_json: dict[str, Any], also_states: tuple[str, ...] = ()) -> str:
    body: dict[str, Any] = {k: v for k, v in config_json.items() if k != "trialId"}
    if also_states:  # a directory without the extra spectra is not the same ground truth
        body["alsoStates"] = list(also_states)
    return hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()[:10]


def ground_truth_plan(task: T.Task, workdir: Path) -> list[dict[str, Any]]:
    """One entry per trial: id, point, family, description, config (JSON), trial dir."""
    from hyperprune.spec.point import Point
    from hyperprune.contract.trial import TrialConfig

    search = task.search("full")
    spec = search.spec
    epochs = T.analysis_epochs(task.scale, spec.lyapunov_epochs())
    families = T.pool_families(task.scale)
    plan = []
    points = [(None, "dense", None)] + [(p, f"c{i:02d}", families[i]) for i, p in enumerate(spec.pool())]
    for point, trial_id, family in points:
        cfg = spec.trial_config(trial_id, point).model_dump(mode="json", by_alias=True)
        cfg["lyapunov"]["epochs"] = epochs
        cfg = TrialConfig.model_validate(cfg).model_dump(mode="json", by_alias=True)
        plan.append(
            {
                "id": trial_id,
                "point": (point or Point.dense()).to_json(),
                "family": family or "dense",
                "description": point.describe() if point else "dense",
                "config": cfg,
                "dir": str(workdir / task.label / "gt" / f"{trial_id}-{config_hash(cfg, task.scale.also_states)}"),
            }
        )
    return plan


def search_document(task: T.Task) -> dict[str, Any]:
    return task.document("full")


def build_jobs(task: T.Task, plan: list[dict[str, Any]], progress: "Progress") -> list[Any]:
    from search_lib.groundtruth import Job, train_trial

    jobs = []
    for entry in plan:
        jobs.append(
            Job(key=f"{task.label}/{entry['id']}", fn=train_trial,
                args=(json.dumps(entry["config"]), entry["dir"], task.scale.also_states),
                weight=1.0 + (0.5 if entry["id"] == "dense" else 0.0), on_done=progress.done)
        )
    return jobs


class Progress:
    def __init__(self, total: int, describe: dict[str, str]) -> None:
        self.total, self.count, self.started = total, 0, time.time()
        self.describe = describe

    def done(self, key: str, result: dict[str, Any]) -> None:
        self.count += 1
        if key.endswith("/live"):
            print(f"[{self.count}/{self.total} {time.time() - self.started:6.0f}s] {key}: exit {result.get('exitCode')} "
                  f"in {result.get('seconds', 0):.0f} s", flush=True)
            return
        epochs = result.get("epochs") or []
        val = epochs[-1]["valMetric"] if epochs else None
        test = result.get("testMetric")
        print(f"[{self.count}/{self.total} {time.time() - self.started:6.0f}s] {key} {self.describe.get(key, '')}: "
              f"{result.get('status')}, val {val if val is None else round(val, 2)}, test "
              f"{test if test is None else round(test, 2)}, {result.get('processSeconds', 0):.0f} s"
              + (f" ({result.get('message')})" if result.get("status") == "error" else ""), flush=True)


def assemble(task: T.Task, plan: list[dict[str, Any]], results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    records = []
    for entry in plan:
        rec = dict(results[f"{task.label}/{entry['id']}"])
        rec.update(id=entry["id"], point=entry["point"], family=entry["family"], description=entry["description"])
        records.append(rec)
    return {"dense": records[0], "candidates": records[1:]}


# ---- main ------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    default = "benchmark-search-quick" if args.quick else "benchmark-search"
    if args.calibrate is not None:
        default += "-calibration"  # its epoch times come from another moment: never mixed into a full run's
    workdir = (args.workdir or REPO / "runs" / default).resolve()
    out = (args.out or (workdir / "results" if args.quick else DEFAULT_OUT)).resolve()
    out.mkdir(parents=True, exist_ok=True)
    from search_lib.evaluate import evaluate
    from search_lib.report import print_task, write_outputs

    if args.report_only:
        files = sorted(out.glob("*-trajectories.json"))
        if not files:
            print(f"error: no *-trajectories.json in {out} — run the benchmark first", file=sys.stderr)
            return 2
        results = []
        for f in files:
            traj = json.loads(f.read_text())
            res = evaluate(traj, bootstrap_n=args.bootstrap, sensitivity=not args.no_sensitivity)
            results.append(res)
            print_task(res)
        written = write_outputs(results, out, results_command(out, results))
        print(f"\nwrote {', '.join(written)} in {out}")
        return 0

    task_files = read_tasks(args.task)
    if task_files is None:
        return 2
    names = [t.name for t in task_files]
    root = data_root(args)
    if root is None:
        print("error: --data: no data folder given and none found (../shared/data, $HYPERPRUNE_TEST_DATA)", file=sys.stderr)
        return 2
    missing = [f"task {t.name}: {why}" for t in task_files if (why := T.missing_data(t, root)) is not None]
    if missing:
        print(f"error: --data {root}: " + "; ".join(missing), file=sys.stderr)
        return 2
    device = resolve_device(args.device)
    if device is None:
        return 2
    scale = "quick" if args.quick else ("gpu" if device == "cuda" else "cpu")
    tasks = [T.make_task(t, scale, root, device) for t in task_files]
    workers = args.workers or (tasks[0].scale.parallelism if device == "cuda" else cpu_budget())
    live_task = None
    if args.live_check != "none" and args.calibrate is None:
        wanted = args.live_check if args.live_check != "auto" else ("shakespeare" if "shakespeare" in names else names[0])
        if wanted not in names:
            print(f"error: --live-check {wanted}: not among the tasks run ({', '.join(names)})", file=sys.stderr)
            return 2
        live_task = wanted

    if args.calibrate is not None:
        return calibrate(args, tasks, workdir, workers)

    from search_lib.groundtruth import Job, Pool, live_or_reuse, machine_info
    from search_lib.live import compare, engine_available, live_document

    started = time.time()
    plans = {t.label: ground_truth_plan(t, workdir) for t in tasks}
    describe = {f"{t.label}/{e['id']}": e["description"] for t in tasks for e in plans[t.label]}
    jobs: list[Job] = []
    live_why = None
    live_dir = None
    live_for = next((t for t in tasks if t.name == live_task), None)
    if live_for is not None:
        live_why = engine_available()
        if live_why is None:
            doc = live_document(live_for)
            live_dir = workdir / live_for.label / f"live-{hashlib.sha1(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:10]}"
            if (live_dir / "result.json").exists():
                pass  # a finished live run is reused as is
            else:
                shutil.rmtree(live_dir, ignore_errors=True)
            cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [None]
            jobs.append(Job(key=f"{live_for.label}/live", fn=live_or_reuse, args=(json.dumps(doc, indent=1), str(live_dir), cpus[-1]),
                            weight=1e9))
    progress = Progress(0, describe)
    for t in tasks:
        jobs += build_jobs(t, plans[t.label], progress)
    for j in jobs:
        if j.on_done is None:
            j.on_done = progress.done
    progress.total = len(jobs)
    print(f"{len(jobs)} jobs ({', '.join(f'{t.label}: {len(plans[t.label])} trials' for t in tasks)}"
          f"{', live lsh check on ' + live_for.label if live_dir else ''}) on {workers} workers; trial dirs in {workdir}",
          flush=True)
    if live_for is not None and live_why is not None:
        print(f"live check skipped: {live_why}", flush=True)
    pool = Pool(workers)
    results = pool.run(jobs)
    gt_seconds = time.time() - started

    from search_lib.replay import Recorded

    all_results = []
    for t in tasks:
        traj = {
            "task": t.name,
            "label": t.label,
            "scale": t.scale.name,
            "device": t.device,
            "document": search_document(t),
            "analysisEpochs": plans[t.label][0]["config"]["lyapunov"]["epochs"],
            "workers": workers,
            "groundTruthSeconds": round(gt_seconds, 1),
            "machine": machine_info(),
            **assemble(t, plans[t.label], results),
        }
        broken = [r for r in [traj["dense"], *traj["candidates"]] if r["status"] == "error"]
        if traj["dense"]["status"] == "error" or len(broken) == len(traj["candidates"]) + 1:
            # No ground truth to judge a rule against: say why instead of scoring empty trajectories.
            print(f"error: {t.label}: {len(broken)} of {len(traj['candidates']) + 1} trials failed to run, the dense "
                  f"reference among them ({traj['dense'].get('message')})" if traj["dense"]["status"] == "error"
                  else f"error: {t.label}: every trial failed to run ({broken[0].get('message')})", file=sys.stderr)
            return 1
        if traj["document"]["spec"]["data"].get("path"):  # built-in corpora (digits) have none
            traj["document"]["spec"]["data"]["path"] = str(Path(traj["document"]["spec"]["data"]["path"]))
        if live_for is t:
            if live_why is not None:
                traj["liveCheck"] = {"ran": False, "why": live_why}
            else:
                run = results[f"{t.label}/live"]
                traj["liveCheck"] = compare(t, Recorded(traj["dense"], traj["candidates"]), live_dir, run)
        else:
            traj["liveCheck"] = {"ran": False, "why": f"the live check ran on {live_task}" if live_task else "--live-check none"}
        (out / f"{t.label}-trajectories.json").write_text(json.dumps(_clean(traj), separators=(",", ":")) + "\n")
        res = evaluate(traj, bootstrap_n=args.bootstrap, sensitivity=not args.no_sensitivity)
        all_results.append(res)
        print_task(res)
    # Tasks run earlier into the same folder stay in the summary (their results files).
    labels = {r["label"] for r in all_results}
    for f in sorted(out.glob("*.json")):
        if f.name.endswith("-trajectories.json") or f.name == "summary.json" or f.stem in labels:
            continue
        try:
            other = json.loads(f.read_text())
        except json.JSONDecodeError:
            continue
        if isinstance(other, dict) and "strategies" in other and "label" in other:
            all_results.append(other)
    all_results.sort(key=lambda r: r["label"])
    written = write_outputs(all_results, out, command_line(args))
    print(f"\nwrote {', '.join(written)} in {out} ({time.time() - started:.0f} s in all)")
    return 0


def results_command(out: Path, results: list[dict[str, Any]]) -> str | None:
    """The command of the run that made these results: from its summary, else rebuilt from the scales."""
    summary = out / "summary.json"
    if summary.exists():
        try:
            command = json.loads(summary.read_text()).get("command")
            if command:
                return command
        except json.JSONDecodeError:
            pass
    scales = {r["scale"] for r in results}
    tasks = sorted({r["task"] for r in results})
    parts = [".venv/bin/python", "benchmarks/search.py", "--data", "../shared/data"]
    if len(tasks) == 1:
        parts += ["--task", tasks[0]]
    if scales == {"quick"}:
        parts.append("--quick")
    elif scales == {"gpu"}:
        parts += ["--device", "cuda"]
    return " ".join(parts)


def _clean(x: Any) -> Any:
    from search_lib.report import _clean as clean

    return clean(x)


# ---- calibration -----------------------------------------------------------------------------------


def calibrate(args: argparse.Namespace, tasks: list[T.Task], workdir: Path, workers: int) -> int:
    """Train the dense model and K candidates per task (spread over the pool) at full scale, then
    estimate the whole run: ground truth + the live lsh check + evaluation."""
    from hyperprune.policy.simulate import Simulation, latent_trajectories
    from search_lib.groundtruth import Pool, machine_info

    k = max(1, args.calibrate)
    plans = {t.label: ground_truth_plan(t, workdir) for t in tasks}
    chosen = {}
    for t in tasks:
        plan = plans[t.label]
        n = len(plan) - 1
        idx = sorted({1 + round(i * (n - 1) / max(1, k - 1)) for i in range(k)}) if k > 1 else [1 + n // 2]
        chosen[t.label] = [plan[0]] + [plan[i] for i in idx]
    describe = {f"{t.label}/{e['id']}": e["description"] for t in tasks for e in chosen[t.label]}
    progress = Progress(sum(len(v) for v in chosen.values()), describe)
    jobs = []
    for t in tasks:
        jobs += build_jobs(t, chosen[t.label], progress)
    started = time.time()
    results = Pool(workers).run(jobs)
    wall = time.time() - started

    report: dict[str, Any] = {"workers": workers, "calibrationWallSeconds": round(wall, 1), "machine": machine_info(), "tasks": {}}
    total_worker_seconds = total_cpu_seconds = 0.0
    for t in tasks:
        recs = [results[f"{t.label}/{e['id']}"] for e in chosen[t.label]]
        # process seconds include data loading and the test evaluation: what a trial costs a worker
        # (a reused trial dir reports 0 s: take its recorded wall seconds instead)
        per_trial = [max(r.get("processSeconds", 0), r.get("wallSeconds", 0)) for r in recs]
        cpu_trial = [r.get("processCpuSeconds") or s for r, s in zip(recs, per_trial)]
        epochs = [e for r in recs for e in r["epochs"]]
        spectra = [e["lyapunovSeconds"] for e in epochs if e["spectrum"] is not None]
        epoch_wo = sum(e["epochSeconds"] - e["lyapunovSeconds"] for e in epochs) / max(1, len(epochs))
        spectrum_s = sum(spectra) / max(1, len(spectra))
        mean_trial = sum(per_trial) / len(per_trial)
        mean_cpu = sum(cpu_trial) / len(cpu_trial)
        n_trials = len(plans[t.label])
        gt = mean_trial * n_trials
        total_worker_seconds += gt
        total_cpu_seconds += mean_cpu * n_trials
        busy = mean_cpu / mean_trial if mean_trial else 1.0  # the share of a core a worker got
        entry = {
            "trials": [{"id": e["id"], "description": e["description"], "seconds": round(s, 1), "status": r["status"],
                        "finalVal": r["epochs"][-1]["valMetric"] if r["epochs"] else None, "test": r.get("testMetric")}
                       for e, r, s in zip(chosen[t.label], recs, per_trial)],
            "meanTrialSeconds": round(mean_trial, 1),
            "meanTrialCpuSeconds": round(mean_cpu, 1),
            "coreShare": round(busy, 2),
            "meanEpochSecondsWithoutSpectrum": round(epoch_wo, 3),
            "meanSpectrumSeconds": round(spectrum_s, 3),
            "poolTrials": n_trials,
            "groundTruthWorkerSeconds": round(gt, 0),
        }
        if args.live_check != "none" and (args.live_check == t.name or (args.live_check == "auto" and t.name == (
                "shakespeare" if any(x.name == "shakespeare" for x in tasks) else tasks[0].name))):
            spec = t.search("lsh", parallelism=1).spec
            sim = Simulation(spec, latent_trajectories(seed=0, exponents=4)).run()
            launches = sum(1 for _, a in sim.log if type(a).__name__ in ("Start", "Continue"))
            n_spectra = sum(1 for tr in sim.state.trials for obs in tr.observations.values() if obs.spectrum is not None)
            startup = _startup_seconds(chosen[t.label][1])
            live = sim.state.trial_epochs * epoch_wo + n_spectra * spectrum_s + launches * startup
            entry["liveCheck"] = {"trialEpochs": sim.state.trial_epochs, "launches": launches, "spectra": n_spectra,
                                  "startupSeconds": round(startup, 2), "estimatedSeconds": round(live, 0)}
            total_worker_seconds += live
            total_cpu_seconds += live * busy
        report["tasks"][t.label] = entry
    evaluation = 30.0 * len(tasks)  # replays, bootstrap, sensitivity grid, plots: about 15 s per task measured
    estimate = total_worker_seconds / workers + evaluation
    quiet = total_cpu_seconds / workers + evaluation
    report["estimatedFullRunSeconds"] = round(estimate, 0)
    report["estimatedFullRunSecondsQuiet"] = round(quiet, 0)
    report["estimate"] = (f"(sum of ground-truth trial seconds + live check) / {workers} workers + "
                          f"{evaluation:.0f} s evaluation; 'quiet' uses CPU seconds instead of wall seconds "
                          "(a worker that has a core to itself)")
    path = workdir / "calibration.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    print(f"\nestimated full run (--task {' '.join(args.task or ['all'])}): {estimate / 60:.1f} min on {workers} workers at this "
          f"machine's present load, {quiet / 60:.1f} min with a core per worker "
          f"(calibration took {wall:.0f} s; written to {path})")
    return 0


def _startup_seconds(entry: dict[str, Any]) -> float:
    """How long a `hyperprune trial` process takes when it has nothing to train (interpreter, torch,
    config, data): what every launch of the live engine pays on top of training."""
    import subprocess

    cfg = Path(entry["dir"]) / "trial.json"
    if not cfg.exists():
        return 3.0
    t0 = time.time()
    subprocess.run([sys.executable, "-m", "hyperprune.cli", "trial", "--config", str(cfg), "--workdir", entry["dir"]],
                   capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return time.time() - t0


if __name__ == "__main__":
    sys.exit(main())
