"""Offline replay: a strategy's decisions on recorded observations (``hyperprune replay``). Torch-free.

``records`` reads what trials reported (a records file, the benchmark's trajectories, a local work
dir) and checks it once; ``engine`` drives the policy's simulator on it and says what the strategy
spent and picked. Nothing is trained: the same spec and records always give the same decisions.
"""

from hyperprune.replay.engine import Outcome, RecordedReplay, outcome_of, replay
from hyperprune.replay.records import RecordGap, Records, RecordsError, TrialRecord, read_records

__all__ = ["Outcome", "RecordGap", "RecordedReplay", "Records", "RecordsError", "TrialRecord", "outcome_of",
           "read_records", "replay"]
