"""The HyperpruneSearch spec: typed sections, validation with field paths, CRD generation. Torch-free.

    from hyperprune.spec import load_search
    search = load_search("examples/quickstart.yaml")     # SearchSpecError lists every problem
    config = search.spec.trial_config("t000", point)     # a TrialConfig for one candidate (a Point)

Modules: ``models`` (SearchSpec, HyperpruneSearch), ``sections``, ``space`` (space and pool),
``domains``, ``strategy``, ``template`` (trial pods), ``point`` (a candidate), ``rules`` (across
sections), ``parse`` (reading a document), ``errors``; ``status``, ``trial_resource`` and ``crd``
for the cluster's resources.
"""

from hyperprune.contract.api import API_VERSION, GROUP, VERSION
from hyperprune.spec.domains import Range
from hyperprune.spec.errors import SearchFileError, SearchSpecError
from hyperprune.spec.models import KIND, HyperpruneSearch, ObjectMeta, SearchSpec
from hyperprune.spec.parse import load_search, parse_search
from hyperprune.spec.point import Point
from hyperprune.spec.sections import Budget, DenseReference, LyapunovSettings, Output
from hyperprune.spec.space import Candidate, MethodSpace, SearchSpace
from hyperprune.spec.strategy import LS_STRATEGIES, RUNG_STRATEGIES, Generation, MedianRule, Rungs, Strategy
from hyperprune.spec.template import TrialTemplate, TrialVolume

__all__ = [
    "API_VERSION",
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
    "Point",
    "Range",
    "Rungs",
    "SearchFileError",
    "SearchSpace",
    "SearchSpec",
    "SearchSpecError",
    "Strategy",
    "TrialTemplate",
    "TrialVolume",
    "load_search",
    "parse_search",
]
