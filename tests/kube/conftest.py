"""Fixtures for tests against a real control plane (``scripts/control-plane``), shared per session.

    kube_cluster    one cluster per test session (etcd, apiserver, controller-manager, scheduler), in a
                    tmp dir; always torn down, and also when the test process dies (--owner-pid watchdog)
    kube_api        an admin ``kubernetes.client.ApiClient`` for it; it has no node: pods stay Pending
    kube_namespace  a fresh namespace per test whose ``default`` ServiceAccount has its token
                    (pods are rejected until it does); deleted after the test

    node_cluster    a second cluster, with the controllers of a cluster with kubelets (--real-nodes)
    node_api        an admin ApiClient for it
    real_node       a real kubelet + containerd registered to it (scripts/node), the operator and
                    trial images built from the Dockerfiles imported (tests/kube/real_node.py)
    co2_trial_image the example's task image (examples/Dockerfile.co2-forecaster on the trial image)
                    imported into real_node: its reference for spec.trialTemplate.image
    node_namespace  a fresh namespace per test on node_cluster
    chart_operator  charts/hyperprune installed there (helm), the operator a container of its image

Tests that need a cluster live under tests/kube/ (these fixtures are visible there) and are marked
``@pytest.mark.kube``, those on the real node ``@pytest.mark.node``. Each cluster is started lazily:
a run that selects none of its tests starts nothing. The real node has a cluster of its own so that
the kube tests' pods never run: a search's default volume is hostPath /var/lib/hyperprune on the node,
which is this machine.
"""

from __future__ import annotations

import pytest

from .cluster import Cluster, create_namespace, service_account_token, start_cluster
from .real_node import CO2_TRIAL_IMAGE, RealNode, start_real_node


def running_cluster(tmp_path_factory, name: str, **options):
    """A cluster for the session, stopped at its end (also when a test fails)."""
    cluster = start_cluster(tmp_path_factory.mktemp(name), **options)
    try:
        yield cluster
    finally:
        cluster.stop()


def admin_client(cluster: Cluster):
    api = cluster.api_client()
    yield api
    api.close()


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory) -> Cluster:
    yield from running_cluster(tmp_path_factory, "kube-cluster")


@pytest.fixture(scope="session")
def kube_api(kube_cluster):
    yield from admin_client(kube_cluster)


def require_component(cluster: Cluster, component: str) -> None:
    """Skip, naming what does not work, when the cluster runs without ``component`` (only when the
    user supplied binaries without it, e.g. KUBEBUILDER_ASSETS; the Debian build has all of them)."""
    if not cluster.has(component):
        pytest.skip(cluster.missing.get(component, f"{component} is not running"))


def fresh_namespace(cluster: Cluster, api):
    """A namespace whose ``default`` ServiceAccount has its token, deleted (not waited for) afterwards."""
    from kubernetes import client

    core = client.CoreV1Api(api)
    name = create_namespace(api)
    if cluster.has("kube-controller-manager"):
        service_account_token(core, name, "default")
    yield name
    # Not waited for: the namespace controller (and the node, for pods) finish it in the background.
    core.delete_namespace(name)


@pytest.fixture
def kube_namespace(kube_cluster, kube_api) -> str:
    yield from fresh_namespace(kube_cluster, kube_api)


@pytest.fixture(scope="session")
def node_cluster(tmp_path_factory) -> Cluster:
    yield from running_cluster(tmp_path_factory, "node-cluster", real_nodes=True)


@pytest.fixture(scope="session")
def node_api(node_cluster):
    yield from admin_client(node_cluster)


@pytest.fixture(scope="session")
def real_node(node_cluster, tmp_path_factory) -> RealNode:
    node = start_real_node(node_cluster, tmp_path_factory.mktemp("real-node"))
    try:
        yield node
    finally:
        node.stop()  # before node_cluster stops: it deletes the node's pods through the API first


@pytest.fixture(scope="session")
def co2_trial_image(real_node) -> str:
    """The image a user builds for the co2_forecaster example, imported into the real node."""
    real_node.load("co2-forecaster")
    return CO2_TRIAL_IMAGE


@pytest.fixture
def node_namespace(node_cluster, node_api) -> str:
    yield from fresh_namespace(node_cluster, node_api)


@pytest.fixture(scope="session")
def chart_operator(node_cluster, node_api, real_node, node_crds, tmp_path_factory):
    """The Helm chart installed on the real node's cluster, watching every namespace: the operator runs
    as a container of its image (tests/kube/chart_operator.py)."""
    from .chart_operator import install_chart

    operator = install_chart(node_cluster, node_api, tmp_path_factory.mktemp("chart"))
    try:
        yield operator
    finally:
        operator.uninstall()


@pytest.fixture(scope="session")
def hyperprune_crds(kube_cluster, kube_api) -> list[str]:
    """crds/ (HyperpruneSearch, HyperpruneTrial, kopf's peering CRDs) installed once per session."""
    from .operator_support import install_crds

    return install_crds(kube_api)


@pytest.fixture(scope="session")
def node_crds(node_cluster, node_api) -> list[str]:
    """The same CRDs on the real node's cluster."""
    from .operator_support import install_crds

    return install_crds(node_api)


@pytest.fixture(autouse=True)
def _hyperprune_crds_early(request):
    # The 1.20 garbage collector discovers new CRD kinds only every 30 s: installing the CRDs at the
    # session's first kube test lets it know them long before an operator test deletes a search.
    if request.node.get_closest_marker("kube"):
        request.getfixturevalue("hyperprune_crds")
    if request.node.get_closest_marker("node"):
        request.getfixturevalue("node_crds")
