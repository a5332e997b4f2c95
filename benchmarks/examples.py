"""Wall time of `hyperprune run` on each example of a task's own model and data (examples/).

    .venv/bin/python benchmarks/examples.py [--repeats 1] [--out benchmarks/results/examples.json]

Each run is the real command, from examples/ (where the packages are importable), into a fresh work
dir, as a user runs it; the whole search counts: starting every trial process (Python, torch, the
task's data), training, spectra, decisions, promotion and the report. The machine's load average
before and after each run is recorded beside it, since a shared machine changes the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = {"co2-forecaster": "co2-forecaster.yaml", "digits-lstm": "digits-lstm.yaml"}


def run_once(spec: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "hyperprune.cli", "run", spec, "--workdir", tmp, "--quiet"],
            cwd=REPO / "examples", capture_output=True, text=True,
        )
        seconds = time.perf_counter() - start
        result = json.loads((Path(tmp) / "result.json").read_text()) if done.returncode in (0, 1) else {}
    best = result.get("best") or {}
    return {
        "seconds": round(seconds, 1),
        "exitCode": done.returncode,
        "status": result.get("status"),
        "trialEpochs": result.get("trialEpochs"),
        "best": best.get("description"),
        "bestValMetric": best.get("valMetric"),
        "bestTestMetric": best.get("testMetric"),
        "metric": result.get("metric"),
        "loadAverageBefore": round(load_before, 2),
        "loadAverageAfter": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "examples.json")
    args = parser.parse_args()
    runs = {name: [run_once(spec) for _ in range(args.repeats)] for name, spec in EXAMPLES.items()}
    for name, rows in runs.items():
        for row in rows:
            print(f"{name}: {row['seconds']} s ({row['status']}; best {row['best']}, test {row['metric']} "
                  f"{row['bestTestMetric']}; load {row['loadAverageBefore']} -> {row['loadAverageAfter']})")
    report = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
