"""The local engine: ``hyperprune run SEARCH.yaml`` runs a search's trials as processes on this machine.

Torch-free: trials are ``hyperprune trial`` subprocesses; decisions come from ``hyperprune.policy``.

    engine.py     the loop: reports and exits -> state, decide, actions -> processes
    processes.py  launching, stopping and reading the exit of trial processes
    follow.py     reading a trial's reports.jsonl while it is written
    store.py      state.json, and rebuilding the state after a restart
    journal.py    DIR/events.jsonl: what happened when (spectra, timeline)
    result.py     result.json and the promoted model folder
    progress.py   the live table / plain log lines;  summary.py  the text printed at the end
    preflight.py  checks before any training;  layout.py  where files live in DIR
    command.py    the ``hyperprune run`` command line
"""
