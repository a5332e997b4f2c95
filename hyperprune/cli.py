"""The `hyperprune` command line.

Each subcommand lives beside the code it drives, in a module with two functions:
``add_arguments(parser)`` and ``main(args) -> int``. Those modules import torch (or anything heavy)
inside ``main`` only, so that ``hyperprune validate`` or ``hyperprune crd`` start fast and work in an
image without torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help). Order is the order shown in --help.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("hyperprune.session.run", "run a search on this machine (trials as local processes)"),
    "trial": ("hyperprune.trial.command", "train one candidate and report its metric and Lyapunov spectrum"),
    "validate": ("hyperprune.session.validate", "check a HyperpruneSearch file and name every invalid field"),
    "crd": ("hyperprune.spec.crd_command", "print the CustomResourceDefinitions generated from the spec models"),
    "replay": ("hyperprune.replay.command", "replay a strategy offline on recorded trials: its cost, pick and regret"),
    "report": ("hyperprune.report.command", "write DIR/report.html with plots of a finished or running search"),
    "lyapunov": ("hyperprune.lyapunov.command", "compute the Lyapunov spectrum of a freshly built or saved model"),
}


def _top_parser() -> argparse.ArgumentParser:
    from hyperprune.contract.api import RELEASE as __version__

    parser = argparse.ArgumentParser(
        prog="hyperprune",
        description=(
            "Find the best pruned variant of a recurrent network: train candidates briefly, compare "
            "their Lyapunov spectra with the dense model's, stop the far ones early, promote the best."
        ),
        epilog="Run 'hyperprune COMMAND --help' for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"hyperprune {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def build_command_parser(name: str) -> argparse.ArgumentParser:
    """The parser of one subcommand; only that command's module is imported."""
    module_name, help_text = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(
        prog=f"hyperprune {name}",
        description=(module.__doc__ or help_text).strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    module.add_arguments(parser)
    parser.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Two stages so that `hyperprune validate` never imports the trial runtime (and torch).
    top = _top_parser()
    if not argv or argv[0] not in COMMANDS:
        top.parse_args(argv)  # prints help, version or a usage error and exits
        return 2
    args = build_command_parser(argv[0]).parse_args(argv[1:])
    try:
        return int(args._module.main(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
