"""A search on this machine, from the user's side: ``hyperprune validate`` and ``hyperprune run``.

Above the local engine and the report: a session checks the spec and the machine, runs the engine,
writes the result and the report, and prints the summary.
"""

# Exit codes of `hyperprune validate` and `hyperprune run` (docs/local.md).
SUCCEEDED = 0
FAILED = 1  # the search failed, or a step after training could not be done: fix the cause and run again
BAD_INPUT = 2  # the spec, its data or the command line: nothing was trained
INTERRUPTED = 130  # Ctrl-C or SIGTERM: run the same command again to resume
