"""A trial's work dir and exit codes: what the engines read of a trial without importing its code.
Part of the contract: the local engine, the operator and the report read these directories and
codes; the trial runtime writes them."""

import signal

REPORTS_FILE = "reports.jsonl"  # one TrialReport per finished epoch
CHECKPOINT_FILE = "checkpoint.pt"  # replaced atomically after every epoch
CONFIG_FILE = "trial.json"  # the config the directory was started with
LOCK_FILE = ".lock"  # held by the one process training in the directory
LOG_FILE = "trial.log"
MODEL_DIR = "model"  # the finished model, written after the last epoch

# The trial's exit code for a config it refuses before training: retrying cannot help, so the
# engines (local and operator) fail the trial at once instead of spending budget.retries on it.
REFUSED_CONFIG_EXIT = 2
# The exit code of a trial that stopped on SIGTERM at a step boundary (128 + SIGTERM, as if killed
# by it): its last checkpoint is complete and a later run continues from it.
STOPPED_EXIT = 128 + signal.SIGTERM

# What a from-scratch restart removes: everything the previous attempt trained or reported.
ATTEMPT_FILES = (CHECKPOINT_FILE, REPORTS_FILE)
ATTEMPT_DIRS = (MODEL_DIR,)
