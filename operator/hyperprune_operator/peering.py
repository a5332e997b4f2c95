"""kopf peering: the CRDs kopf needs for ``--peering`` and the peering objects themselves.

With ``--peering NAME`` every replica writes a heartbeat with its priority into the peering object
NAME (a ``KopfPeering`` in each watched namespace, or a ``ClusterKopfPeering`` with
``--all-namespaces``); only the replica with the highest priority handles resources, the others stand
by and take over once its heartbeat is older than ``--peering-lifetime``.
"""

from __future__ import annotations

from typing import Any

PEERING_GROUP = "kopf.dev"
PEERING_VERSION = "v1"


def _peering_crd(kind: str, plural: str, scope: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{PEERING_GROUP}"},
        "spec": {
            "group": PEERING_GROUP,
            "names": {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": kind.lower()},
            "scope": scope,
            "versions": [
                {
                    "name": PEERING_VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "kopf's peering: heartbeats of the operator replicas (kopf.dev).",
                            "properties": {
                                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                            },
                        }
                    },
                }
            ],
        },
    }


def peering_crds() -> list[dict[str, Any]]:
    """kopf's ClusterKopfPeering and KopfPeering CRDs (as kopf's documentation ships them)."""
    return [
        _peering_crd("ClusterKopfPeering", "clusterkopfpeerings", "Cluster"),
        _peering_crd("KopfPeering", "kopfpeerings", "Namespaced"),
    ]


def ensure_peering(api: Any, name: str, namespaces: list[str] | None) -> None:
    """Create the peering object(s) ``name`` unless they exist (``namespaces`` None: cluster-wide)."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    custom = client.CustomObjectsApi(api)
    try:
        if namespaces is None:
            body = {"apiVersion": f"{PEERING_GROUP}/{PEERING_VERSION}", "kind": "ClusterKopfPeering",
                    "metadata": {"name": name}}
            custom.create_cluster_custom_object(PEERING_GROUP, PEERING_VERSION, "clusterkopfpeerings", body,
                                                _preload_content=False)
            return
    except ApiException as exc:
        if exc.status != 409:
            raise
        return
    for namespace in namespaces:
        body = {"apiVersion": f"{PEERING_GROUP}/{PEERING_VERSION}", "kind": "KopfPeering",
                "metadata": {"name": name, "namespace": namespace}}
        try:
            custom.create_namespaced_custom_object(PEERING_GROUP, PEERING_VERSION, namespace, "kopfpeerings", body,
                                                   _preload_content=False)
        except ApiException as exc:
            if exc.status != 409:
                raise
