"""A trial's work dir and exit codes: what the engines read of a trial without importing its code;
and the names a search keeps in its own folder. Part of the contract: the local engine, the operator
and the report read these directories and codes; the trial runtime writes them."""

import re
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

# ---- a search's own folder ----------------------------------------------------------------------
# The local work dir holds these files and trials/<id>/; on a cluster the search's folder in the
# trial volume holds each trial's work dir as <id> (or <id>-r<run> for a retrain from scratch). The
# promoted model's folder (spec.output.path) must be none of them.
SEARCH_FILES = ("search.json", "state.json", "events.jsonl", "result.json", "report.html", "data.json")
TRIALS_DIR = "trials"
DENSE_ID = "dense"
TRIAL_DIR_NAME = re.compile(r"(dense|t\d{3,})(-r\d+)?")


def candidate_id(index: int) -> str:
    """t000, t001, ... in creation order (more digits past t999)."""
    return f"t{index:03d}"


def engine_owned(name: str) -> bool:
    """Whether a name directly inside a search's folder is one the engines write: a file of the
    search, the trials' folder or a trial's work dir, or a hidden file (locks, files being replaced)."""
    return name in SEARCH_FILES or name == TRIALS_DIR or name.startswith(".") or bool(TRIAL_DIR_NAME.fullmatch(name))
