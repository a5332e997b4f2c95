"""Copy the winning trial's model folder to the search's output location (the promotion pod).

    python -m hyperprune_operator.promote --source /var/lib/hyperprune/S/t003/model \\
                                          --dest /var/lib/hyperprune/S/best --search S --trial t003

Runs in the trial image on the trial volume (the operator has neither). The copy is the local
engine's (hyperprune.contract.promotion): to a temporary sibling first, renamed into place, so DEST
is either the previous model or the complete new one, never half a model; ``PROMOTED.json`` in it
says where it came from, and a DEST without it (not written by a promotion) is refused, not deleted.
Exit codes: 0 copied; 3 no model in SOURCE (the trial never completed); 1 anything else.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hyperprune.contract.promotion import MARKER, PromotionRefused, promote_model

NO_MODEL = 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hyperprune_operator.promote", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", required=True, type=Path, help="the trial's model/ folder")
    parser.add_argument("--dest", required=True, type=Path, help="where the promoted model goes")
    parser.add_argument("--search", default="", help=f"the search's name (recorded in {MARKER})")
    parser.add_argument("--trial", default="", help=f"the trial's id (recorded in {MARKER})")
    args = parser.parse_args(argv)
    try:
        dest = promote_model(args.source, args.dest, search=args.search, trial=args.trial)
    except FileNotFoundError as exc:
        print(f"error: {exc} — the promoted trial must have completed its final epoch", file=sys.stderr)
        return NO_MODEL
    except PromotionRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: copying {args.source} to {args.dest} failed: {exc} — check the volume", file=sys.stderr)
        return 1
    print(f"promoted {args.trial or args.source} to {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
