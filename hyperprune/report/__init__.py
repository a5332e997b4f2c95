"""``hyperprune report DIR``: DIR/report.html, one self-contained page about a search (finished or running).

    from hyperprune.report import write_report
    write_report("runs/quickstart")    # -> runs/quickstart/report.html

Needs the ``report`` extra (matplotlib, scipy); torch is never imported.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_report(directory: str | os.PathLike[str]) -> Path:
    """Write ``DIR/report.html`` atomically and return its path."""
    from hyperprune.report.data import load_record
    from hyperprune.report.html import render

    record = load_record(Path(directory))
    page = render(record)
    path = record.workdir.report
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # a full disk or a blocked path leaves no half page behind
    return path


__all__ = ["write_report"]
