"""The HyperpruneSearch spec: typed models, validation with field paths, CRD generation. Torch-free.

    from hyperprune.spec import load_search
    search = load_search("examples/quickstart.yaml")     # SearchSpecError lists every problem
    config = search.spec.trial_config("t000", point)     # a TrialConfig for one candidate
"""

from hyperprune.spec.models import (
    API_VERSION,
    GROUP,
    KIND,
    VERSION,
    Budget,
    DenseReference,
    HyperpruneSearch,
    LyapunovSettings,
    ObjectMeta,
    Output,
    SearchSpec,
)
from hyperprune.spec.space import DENSE_POINT, Candidate, MethodSpace, Range, SearchSpace, describe_point, make_point, point_key
from hyperprune.spec.strategy import LS_STRATEGIES, RUNG_STRATEGIES, Generation, MedianRule, Rungs, Strategy
from hyperprune.spec.template import TrialTemplate, TrialVolume
from hyperprune.spec.validation import SearchSpecError, load_search, local_path_issues, parse_search

__all__ = [
    "API_VERSION",
    "DENSE_POINT",
    "GROUP",
    "KIND",
    "LS_STRATEGIES",
    "RUNG_STRATEGIES",
    "VERSION",
    "Budget",
    "Candidate",
    "DenseReference",
    "Generation",
    "HyperpruneSearch",
    "LyapunovSettings",
    "MedianRule",
    "MethodSpace",
    "ObjectMeta",
    "Output",
    "Range",
    "Rungs",
    "SearchSpace",
    "SearchSpec",
    "SearchSpecError",
    "Strategy",
    "TrialTemplate",
    "TrialVolume",
    "describe_point",
    "load_search",
    "local_path_issues",
    "make_point",
    "parse_search",
    "point_key",
]
