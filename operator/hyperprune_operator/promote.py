"""Copy the winning trial's model folder to the search's output location (the promotion pod).

    python -m hyperprune_operator.promote --source /var/lib/hyperprune/S/t003/model \\
                                          --dest /var/lib/hyperprune/S/best --search S --trial t003

Runs in the trial image on the trial volume (the operator has neither). Standard library only. The
copy goes to a temporary sibling first and is renamed into place, so DEST is either the previous
model or the complete new one, never half a model; ``PROMOTED.json`` in it says where it came from.
Exit codes: 0 copied; 3 no model in SOURCE (the trial never completed); 1 anything else.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

NO_MODEL = 3
MARKER = "PROMOTED.json"
REQUIRED = ("model.pt", "config.json")


def promote(source: Path, dest: Path, *, search: str = "", trial: str = "") -> Path:
    missing = [name for name in REQUIRED if not (source / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{source}: no finished model ({', '.join(missing)} missing)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.parent / f".{dest.name}.partial-{os.getpid()}"
    old = dest.parent / f".{dest.name}.old-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(source, partial)
    (partial / MARKER).write_text(json.dumps({
        "search": search, "trial": trial, "source": str(source),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }, indent=2) + "\n")
    if dest.exists():
        dest.rename(old)
    partial.rename(dest)
    shutil.rmtree(old, ignore_errors=True)
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hyperprune_operator.promote", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", required=True, type=Path, help="the trial's model/ folder")
    parser.add_argument("--dest", required=True, type=Path, help="where the promoted model goes")
    parser.add_argument("--search", default="", help="the search's name (recorded in PROMOTED.json)")
    parser.add_argument("--trial", default="", help="the trial's id (recorded in PROMOTED.json)")
    args = parser.parse_args(argv)
    try:
        dest = promote(args.source, args.dest, search=args.search, trial=args.trial)
    except FileNotFoundError as exc:
        print(f"error: {exc} — the promoted trial must have completed its final epoch", file=sys.stderr)
        return NO_MODEL
    except OSError as exc:
        print(f"error: copying {args.source} to {args.dest} failed: {exc} — check the volume", file=sys.stderr)
        return 1
    print(f"promoted {args.trial or args.source} to {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
