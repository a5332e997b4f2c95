"""A search on this machine, from the user's side: ``hyperprune validate`` and ``hyperprune run``.

Above the local engine and the report: a session checks the spec and the machine, runs the engine,
writes the result and the report, and prints the summary.
"""
