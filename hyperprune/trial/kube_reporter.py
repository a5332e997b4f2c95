"""The ``kube`` reporter: a trial pod pushes each report into its own HyperpruneTrial's status.

    hyperprune trial --config-env HYPERPRUNE_TRIAL_CONFIG --workdir DIR --reporter kube

No sidecar and no log scraping: every finished epoch becomes one JSON merge patch of the
``status`` subresource of the trial's HyperpruneTrial, under ``status.reports["<epoch>"]``. A merge
patch adds that one key to the map and leaves every other field alone, so the pod needs no read
access and never races the operator, which writes the other status fields. The trial's
ServiceAccount needs exactly one permission: ``patch`` on ``hyperprunetrials/status`` in its namespace.

Set by the operator in the pod's environment:

    HYPERPRUNE_TRIAL_NAME   the HyperpruneTrial to patch (required)
    HYPERPRUNE_NAMESPACE    its namespace (downward API, metadata.namespace); default: the namespace
                            of the kubeconfig context, else the in-cluster service-account namespace
    HYPERPRUNE_TRIAL_RUN    which run of the trial the reports belong to (a retrain from scratch,
                            as lsh-sync does, starts a new run); default 0
    HYPERPRUNE_POD_NAME     the pod sending the reports (recorded with each one)

Credentials are loaded like ``kubernetes.config.load_config()``: ``$KUBECONFIG`` (or
~/.kube/config) when present, else the in-cluster service account.

Size: a report is about 300 bytes plus its spectrum, rounded to 6 significant digits (about 11
bytes per exponent); spectra are only sent at the epochs in ``lyapunov.epochs``. A trial object
therefore holds about ``1 KB + 300 B x epochs + 11 B x exponents x spectrum epochs``, far below
etcd's 1.5 MiB object limit for the model sizes Hyperprune targets; the operator refuses (Invalid)
a search whose trials would exceed ``MAX_TRIAL_OBJECT_BYTES``.
"""

from __future__ import annotations

import logging
import math
import os
import time
from typing import Any

from hyperprune.contract.api import GROUP, TRIAL_PLURAL, VERSION
from hyperprune.contract.pod import ENV_NAME, ENV_NAMESPACE, ENV_POD, ENV_RUN, report_patch
from hyperprune.contract.report import TrialReport

MERGE_PATCH = "application/merge-patch+json"

SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

# Retried: the API server restarting or overloaded. Not retried: 403/404/422 (a retry cannot help).
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)

log = logging.getLogger("hyperprune.trial.kube")


class KubeReporterError(RuntimeError):
    """The reporter cannot be set up (missing environment or credentials)."""


def _default_namespace() -> str | None:
    try:
        from kubernetes.config import list_kube_config_contexts

        _, active = list_kube_config_contexts()
        namespace = (active or {}).get("context", {}).get("namespace")
        if namespace:
            return namespace
    except Exception:  # no kubeconfig: in a cluster
        pass
    try:
        with open(SERVICE_ACCOUNT_NAMESPACE, encoding="utf-8") as f:
            return f.read().strip() or None
    except OSError:
        return None


def _transient(exc: Exception) -> bool:
    """An error a retry can cure: an overloaded or restarting API server, a dropped connection."""
    status = getattr(exc, "status", None)
    if status:
        return status in RETRY_STATUSES
    from urllib3.exceptions import HTTPError

    return isinstance(exc, (HTTPError, OSError)) or (status == 0 and type(exc).__name__ == "ApiException")


class KubeReporter:
    """Patches ``status.reports`` of one HyperpruneTrial per report (see the module doc)."""

    def __init__(self, api: Any, namespace: str, name: str, run: int = 0, pod: str | None = None,
                 sleep=time.sleep) -> None:
        self.api = api  # kubernetes.client.CustomObjectsApi
        self.namespace = namespace
        self.name = name
        self.run = run
        self.pod = pod
        self._sleep = sleep

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> "KubeReporter":
        env = os.environ if environ is None else environ
        name = env.get(ENV_NAME)
        if not name:
            raise KubeReporterError(f"{ENV_NAME} is not set: the kube reporter needs the HyperpruneTrial to patch")
        try:
            run = int(env.get(ENV_RUN, "0"))
        except ValueError:
            raise KubeReporterError(f"{ENV_RUN}={env.get(ENV_RUN)!r} is not an integer") from None
        from kubernetes import client, config

        configuration = client.Configuration()
        # kubernetes.config.load_config's order, reading $KUBECONFIG now rather than at import time.
        kubeconfig = env.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
        try:
            if os.path.exists(kubeconfig.split(os.pathsep)[0]):
                config.load_kube_config(config_file=kubeconfig.split(os.pathsep)[0], client_configuration=configuration)
            else:
                config.load_incluster_config(client_configuration=configuration)
        except Exception as exc:
            raise KubeReporterError(f"no Kubernetes credentials (KUBECONFIG or in-cluster): {exc}") from exc
        namespace = env.get(ENV_NAMESPACE) or _default_namespace()
        if not namespace:
            raise KubeReporterError(f"{ENV_NAMESPACE} is not set and no namespace can be found")
        api = client.CustomObjectsApi(client.ApiClient(configuration))
        return cls(api, namespace, name, run=run, pod=env.get(ENV_POD))

    @classmethod
    def from_context(cls, context: Any) -> "KubeReporter":
        """The factory the reporter registry calls (``--reporter kube``)."""
        try:
            return cls.from_environment()
        except KubeReporterError as exc:
            raise ValueError(str(exc)) from exc  # the runtime turns this into exit code 2

    def report(self, report: TrialReport) -> None:
        body = report_patch(report, self.run, self.pod)
        for attempt, delay in enumerate((*RETRY_DELAYS, None)):
            try:
                self.api.patch_namespaced_custom_object_status(
                    GROUP, VERSION, self.namespace, TRIAL_PLURAL, self.name, body, _content_type=MERGE_PATCH
                )
                return
            except Exception as exc:
                if delay is None or not _transient(exc):
                    raise
                log.warning("report of epoch %d not sent (%s); retry %d in %.1f s", report.epoch,
                            getattr(exc, "status", None) or type(exc).__name__, attempt + 1, delay)
                self._sleep(delay)

    def close(self) -> None:
        api_client = getattr(self.api, "api_client", None)
        if api_client is not None:
            api_client.close()
