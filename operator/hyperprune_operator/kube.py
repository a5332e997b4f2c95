"""The few API calls the operator makes, as plain dicts (synchronous ``kubernetes`` client).

Search workers run these in a thread pool, never on kopf's event loop. Creates are idempotent (409
answers the existing object), deletes tolerate 404, patches of status are JSON merge patches of the
status subresource. Responses are parsed as JSON directly: building the client's model objects for
every pod would cost more than the rest of a reconcile step.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from hyperprune_operator import naming

MERGE_PATCH = "application/merge-patch+json"
TRIAL_PAGE = 200  # trials per page of a listing
log = logging.getLogger("hyperprune.operator.kube")


def api_client(kubeconfig: str | None = None, *, pool_size: int = 16) -> client.ApiClient:
    """Credentials as ``kubernetes.config.load_config`` finds them (KUBECONFIG or ~/.kube/config,
    else in-cluster), into a private configuration (the global default is left alone)."""
    from kubernetes import config

    configuration = client.Configuration()
    if kubeconfig:
        config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    else:
        config.load_config(client_configuration=configuration)
    configuration.connection_pool_maxsize = pool_size
    return client.ApiClient(configuration)


def _data(resp: Any) -> dict[str, Any]:
    return json.loads(resp.data)


class Kube:
    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        # Typed Any: the generated client's hints name its model classes (V1Pod, ...), but it takes
        # the plain dicts the operator builds everywhere (manifests.py) just as well.
        self.custom: Any = client.CustomObjectsApi(api)
        self.core: Any = client.CoreV1Api(api)
        self.rbac: Any = client.RbacAuthorizationV1Api(api)

    # ---- searches -------------------------------------------------------------------------------

    def get_search(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return _data(self.custom.get_namespaced_custom_object(
                naming.GROUP, naming.VERSION, namespace, naming.SEARCH_PLURAL, name, _preload_content=False))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def patch_search_status(self, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        return _data(self.custom.patch_namespaced_custom_object_status(
            naming.GROUP, naming.VERSION, namespace, naming.SEARCH_PLURAL, name, {"status": status},
            _content_type=MERGE_PATCH, _preload_content=False))

    # ---- trials -----------------------------------------------------------------------------------

    def list_trials(self, namespace: str, search: str, *, page: int = TRIAL_PAGE) -> Iterator[dict[str, Any]]:
        """The search's trials, ``page`` at a time: a big search's trials (their reports with spectra)
        are tens of MB as one listing, and the operator never holds them all at once."""
        token = None
        while True:
            listing = _data(self.custom.list_namespaced_custom_object(
                naming.GROUP, naming.VERSION, namespace, naming.TRIAL_PLURAL,
                label_selector=naming.search_selector(search), limit=page, _continue=token, _preload_content=False))
            for item in listing.get("items", []):
                if (item.get("spec") or {}).get("search") == search:
                    yield item
            token = (listing.get("metadata") or {}).get("continue")
            if not token:
                return

    def get_trial(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return _data(self.custom.get_namespaced_custom_object(
                naming.GROUP, naming.VERSION, namespace, naming.TRIAL_PLURAL, name, _preload_content=False))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def create_trial(self, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """(the trial, whether this call created it); an existing one is returned as it is."""
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        try:
            return _data(self.custom.create_namespaced_custom_object(
                naming.GROUP, naming.VERSION, namespace, naming.TRIAL_PLURAL, body, _preload_content=False)), True
        except ApiException as exc:
            if exc.status != 409:
                raise
        existing = self.get_trial(namespace, name)
        if existing is None:  # deleted in between: the next step creates it
            raise ApiException(status=409, reason=f"HyperpruneTrial {name} is being deleted")
        return existing, False

    def patch_trial_status(self, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        return _data(self.custom.patch_namespaced_custom_object_status(
            naming.GROUP, naming.VERSION, namespace, naming.TRIAL_PLURAL, name, {"status": status},
            _content_type=MERGE_PATCH, _preload_content=False))

    # ---- pods ---------------------------------------------------------------------------------------

    def list_pods(self, namespace: str, search: str, *, cached: bool = False) -> list[dict[str, Any]]:
        selector = f"{naming.search_selector(search)},{naming.MANAGED_BY}={naming.OPERATOR}"
        extra = {"resource_version": "0"} if cached else {}
        listing = _data(self.core.list_namespaced_pod(namespace, label_selector=selector, _preload_content=False,
                                                      **extra))
        return listing.get("items", [])

    def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return _data(self.core.read_namespaced_pod(name, namespace, _preload_content=False))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def create_pod(self, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        try:
            return _data(self.core.create_namespaced_pod(namespace, body, _preload_content=False)), True
        except ApiException as exc:
            if exc.status != 409:
                raise
        existing = self.get_pod(namespace, name)
        if existing is None:
            raise ApiException(status=409, reason=f"pod {name} is being deleted")
        return existing, False

    def delete_pod(self, namespace: str, name: str, uid: str | None = None) -> bool:
        """Delete a pod (only that incarnation of it when ``uid`` is given); False if already gone."""
        body: dict[str, Any] = {"propagationPolicy": "Background"}
        if uid:
            body["preconditions"] = {"uid": uid}
        try:
            self.core.delete_namespaced_pod(name, namespace, body=body, _preload_content=False)
            return True
        except ApiException as exc:
            if exc.status in (404, 409):  # gone, or a newer pod took the name
                return False
            raise

    # ---- events and trial RBAC -----------------------------------------------------------------------

    def create_event(self, body: dict[str, Any]) -> None:
        self.core.create_namespaced_event(body["metadata"]["namespace"], body, _preload_content=False)

    def ensure(self, body: dict[str, Any]) -> bool:
        """Create a ServiceAccount, Role or RoleBinding unless it exists; True when created."""
        namespace, kind = body["metadata"]["namespace"], body["kind"]
        create = {
            "ServiceAccount": self.core.create_namespaced_service_account,
            "Role": self.rbac.create_namespaced_role,
            "RoleBinding": self.rbac.create_namespaced_role_binding,
        }[kind]
        try:
            create(namespace, body, _preload_content=False)
            return True
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise


def api_error(exc: BaseException) -> str:
    """A one-line description of an API error, with the server's message when it gave one."""
    if isinstance(exc, ApiException):
        try:
            message = json.loads(exc.body or "{}").get("message")
        except (TypeError, ValueError):
            message = None
        return f"{exc.status} {exc.reason}: {message}" if message else f"{exc.status} {exc.reason}"
    return f"{type(exc).__name__}: {exc}"
