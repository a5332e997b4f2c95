"""The operator's API client against the real API server: listings a big search needs paged."""

from __future__ import annotations

import pytest

from hyperprune.spec import Point
from hyperprune_operator import manifests
from hyperprune_operator.kube import Kube
from hyperprune_operator.validation import parse

from .operator_support import create_search, tiny_search

pytestmark = pytest.mark.kube


def test_a_search_s_trials_are_listed_page_by_page_and_no_others(kube_api, kube_namespace, hyperprune_crds):
    kube = Kube(kube_api)
    mine, other = (create_search(kube_api, kube_namespace, tiny_search(name)) for name in ("paged", "other"))
    for body, count in ((mine, 5), (other, 2)):
        search, issues = parse(body)
        assert search is not None, issues
        for i in range(count):
            kube.create_trial(manifests.trial_resource(body, search, f"t{i:03d}", "candidate",
                                                       Point.of("random", 0.1 + i / 10), 1))
    listed = list(kube.list_trials(kube_namespace, "paged", page=2))  # three pages from the API server
    assert sorted(t["spec"]["trialId"] for t in listed) == [f"t{i:03d}" for i in range(5)]
    assert all(t["spec"]["search"] == "paged" for t in listed)
