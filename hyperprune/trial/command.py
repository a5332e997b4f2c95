"""Train one candidate and report its metric and Lyapunov spectrum, epoch by epoch.

    hyperprune trial --config TRIAL.json --workdir DIR [--until-epoch E] [--reporter NAME]
    hyperprune trial --config-env VAR ...    (the config JSON in environment variable VAR: how the
                                              operator hands it to a trial pod, which needs no API access)
    hyperprune trial --config TRIAL.json --check
                                             (everything set-up checks, without training or a work dir:
                                              the data or the task's entry point, the model, one batch
                                              through it, the probe, the pruner; what `hyperprune
                                              validate` runs for a search with a task)

Trains up to epoch E (default: training.epochs), appending one JSON line per epoch to
DIR/reports.jsonl and checkpointing DIR/checkpoint.pt after each. Run again on the same DIR to
continue from the checkpoint; the result is the same as one uninterrupted run.

Exit codes: 0 reached E (or the trial diverged: see the last report); 2 bad config (nothing was
trained; the message names the field); 143 stopped by SIGTERM (the last checkpoint is usable);
anything else: a crash (see DIR/trial.log).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from hyperprune.contract.files import REFUSED_CONFIG_EXIT as BAD_CONFIG


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", type=Path, metavar="TRIAL.json", help="the trial config (TrialConfig, JSON)")
    source.add_argument(
        "--config-env", metavar="VAR", help="read the trial config (JSON) from environment variable VAR instead of a file"
    )
    parser.add_argument("--workdir", type=Path, metavar="DIR", help="reports, checkpoint and final model go here")
    parser.add_argument(
        "--check",
        action="store_true",
        help="check the config, the data or task, the model, one batch and the probe without training (no --workdir)",
    )
    parser.add_argument(
        "--until-epoch",
        type=int,
        metavar="E",
        help="stop after epoch E with a checkpoint (default: training.epochs); a later run continues from it",
    )
    parser.add_argument(
        "--reporter",
        metavar="NAME",
        help="an extra reporter besides DIR/reports.jsonl: a registered name (e.g. kube) or module:factory",
    )


def _error(what: str, todo: str) -> None:
    print(f"error: {what} — {todo}", file=sys.stderr)


def read_config(path: Path):  # -> TrialConfig | list[str]
    """The config, or the error lines that name what is wrong with it."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return [f"cannot read {path}: {exc.strerror or exc}"]
    return parse_config(text, path)


def read_config_env(var: str):  # -> TrialConfig | list[str]
    """The config from environment variable ``var``, or the error lines."""
    import os

    text = os.environ.get(var)
    if text is None:
        return [f"environment variable {var} is not set"]
    return parse_config(text, f"${var}")


def parse_config(text: str, path):  # -> TrialConfig | list[str]
    from pydantic import ValidationError

    from hyperprune.contract.document import format_validation_error
    from hyperprune.contract.trial import TrialConfig

    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        return [f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"]
    try:
        return TrialConfig.model_validate(raw)
    except ValidationError as exc:
        return format_validation_error(exc)


def _check(config) -> int:  # config: TrialConfig
    from hyperprune.trial.device import configure_threads
    from hyperprune.trial.setup import check_trial

    configure_threads()
    problems = check_trial(config)
    for line in problems:
        _error(line, "nothing was trained; fix the config or the task")
    if not problems:
        print(f"{config.trial_id}: OK (set-up checks passed; nothing was trained)", file=sys.stderr)
    return BAD_CONFIG if problems else 0


def main(args: argparse.Namespace) -> int:
    import logging

    config = read_config(args.config) if args.config is not None else read_config_env(args.config_env)
    if isinstance(config, list):
        if args.config is None:
            todo = f"set {args.config_env} to a TrialConfig JSON document"
        elif not args.config.is_file():
            todo = "pass the path of a TrialConfig JSON file (see examples/trial-quick.json)"
        else:
            todo = f"fix {args.config} (fields are described in docs/trial.md)"
        for line in config:
            _error(line, todo)
        return BAD_CONFIG
    if args.check:
        return _check(config)
    if args.workdir is None:
        _error("--workdir: missing", "pass the directory for the trial's reports and checkpoints")
        return BAD_CONFIG
    epochs = config.training.epochs
    if args.until_epoch is not None and not 1 <= args.until_epoch <= epochs:
        _error(f"--until-epoch: {args.until_epoch} is outside 1..{epochs} (training.epochs)", "pass an epoch in range")
        return BAD_CONFIG

    # Catch SIGTERM before the slow torch import: a pod or a search engine may stop a trial at any
    # moment, and the contract is exit 143 with the last checkpoint intact, never a bare -15.
    from hyperprune.contract.files import STOPPED_EXIT as STOPPED_BY_SIGTERM
    from hyperprune.trial.stopping import StopFlag, StopOnSignal

    with StopOnSignal(StopFlag()) as stop:
        # Heavy imports only now: validation errors above come back fast and without torch.
        from hyperprune.trial.device import configure_threads
        from hyperprune.trial.runtime import TrialSetupError, run_trial

        if stop.requested:  # stopped while torch was loading: nothing started, nothing to save
            return STOPPED_BY_SIGTERM
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
        configure_threads()
        try:
            outcome = run_trial(config, args.workdir, until_epoch=args.until_epoch, reporter=args.reporter, stop=stop)
        except TrialSetupError as exc:
            for line in exc.lines:
                _error(line, "nothing was trained; fix the config or the command line")
            return BAD_CONFIG
    # The outcome is on disk: a SIGTERM from here on (torch's teardown takes a while) must not turn
    # this exit code into a bare -15.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print(f"{config.trial_id}: {outcome.status} — {outcome.message}", file=sys.stderr)
    return outcome.exit_code
