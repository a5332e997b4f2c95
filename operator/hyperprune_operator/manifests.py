"""Every object the operator creates, as pure functions of the search (and trial) it is for.

No API calls here: ``trial_pod(search, trial, ...)`` returns the manifest, the worker sends it. Tests
check these directly, and the Helm chart's documentation can point at them.
"""

from __future__ import annotations

import copy
import posixpath
from typing import Any

from hyperprune.spec import HyperpruneSearch, Point
from hyperprune.spec.sections import output_path_problem
from hyperprune.spec.template import CONTAINER_SECURITY_CONTEXT, pod_security_context
from hyperprune.contract.pod import ENV_NAME, ENV_NAMESPACE, ENV_POD, ENV_RUN

from hyperprune_operator import naming
from hyperprune_operator.objects import config_json
from hyperprune_operator.rbac import TRIAL_RULES


def owner_reference(body: dict[str, Any], *, controller: bool = True) -> dict[str, Any]:
    """An ownerReference to ``body``: deleting the owner garbage-collects what it owns."""
    meta = body["metadata"]
    return {
        "apiVersion": body["apiVersion"],
        "kind": body["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": controller,
        "blockOwnerDeletion": True,
    }


def _labels(search: str, component: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        **(extra or {}),
        naming.NAME: "hyperprune",
        naming.MANAGED_BY: naming.OPERATOR,
        naming.COMPONENT: component,
        naming.LABEL_SEARCH: naming.label_value(search),
    }


# ---- the HyperpruneTrial ----------------------------------------------------------------------------


def trial_resource(
    search_body: dict[str, Any],
    search: HyperpruneSearch,
    trial_id: str,
    role: str,
    params: Point,
    target_epoch: int,
) -> dict[str, Any]:
    """The HyperpruneTrial of one trial; ``spec.config`` pins the exact TrialConfig its pods run."""
    name = search.metadata.name
    config = search.spec.trial_config(trial_id, None if role == "dense" else params)
    return {
        "apiVersion": naming.API_VERSION,
        "kind": naming.TRIAL_KIND,
        "metadata": {
            "name": naming.trial_name(name, trial_id),
            "namespace": search_body["metadata"]["namespace"],
            "labels": _labels(name, "trial", {naming.LABEL_TRIAL_ID: trial_id, naming.LABEL_ROLE: role}),
            "ownerReferences": [owner_reference(search_body)],
        },
        "spec": {
            "search": name,
            "trialId": trial_id,
            "role": role,
            "params": params.to_json(),
            "targetEpoch": target_epoch,
            "config": config.dump(),
        },
    }


# ---- volumes ------------------------------------------------------------------------------------------


def volume(search: HyperpruneSearch) -> dict[str, Any]:
    """The pod volume holding checkpoints, reports and models (spec.trialTemplate.volume)."""
    source = search.spec.trial_template.volume.dump(exclude_none=True, exclude={"mount_path"})
    return {"name": naming.VOLUME_NAME, **source}


def describe_volume(search: HyperpruneSearch) -> str:
    """``persistentVolumeClaim:NAME``, ``hostPath:PATH`` or ``emptyDir``: for status and events."""
    v = search.spec.trial_template.volume
    if v.persistent_volume_claim is not None:
        return f"persistentVolumeClaim:{v.persistent_volume_claim.claim_name}"
    if v.host_path is not None:
        return f"hostPath:{v.host_path.path}"
    return "emptyDir"


def output_location(search: HyperpruneSearch) -> tuple[str, str] | None:
    """(path inside the volume, path in the container) of the promoted model: ``spec.output.path``
    inside the search's folder in the volume, as it is inside the work dir locally. None when the
    path breaks the spec's rule (hyperprune.spec.sections.output_path_problem), which validation
    refuses before any trial starts."""
    output = search.spec.output
    if output_path_problem(output.path) is not None:
        return None
    inside = posixpath.join(search.metadata.name, output.folder)
    mount = search.spec.trial_template.volume.mount_path.rstrip("/")
    return inside, f"{mount}/{inside}"


# ---- pods ----------------------------------------------------------------------------------------------


def resources(spec: dict[str, Any]) -> dict[str, Any]:
    """ResourceRequirements with every quantity as a string (``nvidia.com/gpu: 1`` -> ``"1"``), the
    form the API returns and the typed client accepts."""
    out: dict[str, Any] = {}
    for key, value in spec.items():
        if key in ("limits", "requests") and isinstance(value, dict):
            out[key] = {name: str(q) for name, q in value.items()}
        else:
            out[key] = value
    return out


def _scheduling(search: HyperpruneSearch) -> dict[str, Any]:
    t = search.spec.trial_template
    spec: dict[str, Any] = {"serviceAccountName": t.service_account_name,
                            "securityContext": pod_security_context(t)}
    if t.node_selector:
        spec["nodeSelector"] = dict(t.node_selector)
    if t.tolerations:
        spec["tolerations"] = [dict(x) for x in t.tolerations]
    if t.affinity:
        spec["affinity"] = dict(t.affinity)
    if t.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": s.name} for s in t.image_pull_secrets]
    return spec


def trial_pod(
    search: HyperpruneSearch,
    trial: dict[str, Any],
    *,
    attempt: int,
    run: int,
    until_epoch: int,
) -> dict[str, Any]:
    """The pod of one attempt of a trial: ``hyperprune trial`` to ``until_epoch``, resuming from the
    checkpoint in its work dir, reporting into the trial's status. Needs no API read access: the
    config travels in an environment variable."""
    t = search.spec.trial_template
    name = search.metadata.name
    tmeta, tspec = trial["metadata"], trial["spec"]
    trial_id = tspec["trialId"]
    workdir = naming.workdir(t.volume.mount_path, name, trial_id, run)
    env: list[dict[str, Any]] = [
        {"name": naming.CONFIG_ENV, "value": config_json(tspec["config"])},
        {"name": ENV_NAME, "value": tmeta["name"]},
        {"name": ENV_RUN, "value": str(run)},
        {"name": ENV_NAMESPACE, "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": ENV_POD, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        *(e.dump(exclude_none=True) for e in t.env),
    ]
    container: dict[str, Any] = {
        "name": naming.CONTAINER_NAME,
        "image": t.image,
        "imagePullPolicy": t.image_pull_policy,
        # Explicit, not the image's entrypoint: the same command works with any trial image.
        "command": ["hyperprune", "trial"],
        "args": [
            "--config-env", naming.CONFIG_ENV,
            "--workdir", workdir,
            "--until-epoch", str(until_epoch),
            "--reporter", "kube",
        ],
        "env": env,
        "volumeMounts": [{"name": naming.VOLUME_NAME, "mountPath": t.volume.mount_path}],
        # A crash's last log lines become the pod's termination message, which the operator records.
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": copy.deepcopy(CONTAINER_SECURITY_CONTEXT),
    }
    if t.resources:
        container["resources"] = resources(t.resources)
    labels = _labels(
        name,
        "trial",
        {
            **t.labels,
            naming.LABEL_TRIAL: naming.label_value(tmeta["name"]),
            naming.LABEL_TRIAL_ID: trial_id,
            naming.LABEL_ROLE: tspec["role"],
            naming.LABEL_ATTEMPT: str(attempt),
        },
    )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": naming.pod_name(tmeta["name"], attempt),
            "namespace": tmeta["namespace"],
            "labels": labels,
            "annotations": {**t.annotations, naming.ANNOTATION_UNTIL: str(until_epoch), naming.ANNOTATION_RUN: str(run)},
            "ownerReferences": [owner_reference(trial)],
        },
        "spec": {
            **_scheduling(search),
            "restartPolicy": "Never",  # the operator decides about retries (budget.retries)
            "containers": [container],
            "volumes": [volume(search)],
        },
    }


def promotion_pod(
    search: HyperpruneSearch,
    search_body: dict[str, Any],
    *,
    trial_id: str,
    run: int,
    attempt: int,
) -> dict[str, Any]:
    """A short pod with the trial image on the trial volume that copies the winner's ``model/``
    folder to the search's output location (the operator image has neither torch nor the volume)."""
    t = search.spec.trial_template
    name = search.metadata.name
    location = output_location(search)
    if location is None:
        raise ValueError("spec.output.path leaves the trial volume")
    source = f"{naming.workdir(t.volume.mount_path, name, trial_id, run)}/model"
    container = {
        "name": "promote",
        "image": t.image,
        "imagePullPolicy": t.image_pull_policy,
        "command": ["python", "-m", "hyperprune_operator.promote"],
        "args": ["--source", source, "--dest", location[1], "--search", name, "--trial", trial_id],
        "volumeMounts": [{"name": naming.VOLUME_NAME, "mountPath": t.volume.mount_path}],
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": copy.deepcopy(CONTAINER_SECURITY_CONTEXT),
    }
    spec = _scheduling(search)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": naming.promotion_pod_name(name, attempt),
            "namespace": search_body["metadata"]["namespace"],
            "labels": _labels(name, "promotion", {**t.labels, naming.LABEL_TRIAL_ID: trial_id,
                                                  naming.LABEL_ATTEMPT: str(attempt)}),
            "annotations": dict(t.annotations),
            "ownerReferences": [owner_reference(search_body)],
        },
        "spec": {
            **spec,
            "automountServiceAccountToken": False,  # it copies files; it talks to no API
            "restartPolicy": "Never",
            "containers": [container],
            "volumes": [volume(search)],
        },
    }


# ---- the trial pods' ServiceAccount and its one permission ------------------------------------------


def trial_rbac(namespace: str, service_account: str = naming.DEFAULT_TRIAL_SERVICE_ACCOUNT) -> list[dict[str, Any]]:
    """ServiceAccount, Role and RoleBinding for trial pods: ``patch hyperprunetrials/status`` in
    their namespace and nothing else (not even get)."""
    labels = {naming.NAME: "hyperprune", naming.MANAGED_BY: naming.OPERATOR, naming.COMPONENT: "trial-rbac"}
    role = naming.TRIAL_ROLE if service_account == naming.DEFAULT_TRIAL_SERVICE_ACCOUNT else f"{naming.TRIAL_ROLE}-{service_account}"
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": service_account, "namespace": namespace, "labels": labels},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": role, "namespace": namespace, "labels": labels},
            "rules": [dict(rule) for rule in TRIAL_RULES],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": role, "namespace": namespace, "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": namespace}],
        },
    ]


# ---- events ----------------------------------------------------------------------------------------------


def event(
    involved: dict[str, Any],
    *,
    reason: str,
    message: str,
    type: str = "Normal",
    now: str,
    instance: str = naming.OPERATOR,
) -> dict[str, Any]:
    """A core/v1 Event about ``involved`` (a search, trial or pod body)."""
    meta = involved["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta['name'][:200]}.", "namespace": meta["namespace"]},
        "involvedObject": {
            "apiVersion": involved.get("apiVersion", "v1"),
            "kind": involved.get("kind", ""),
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta.get("uid"),
        },
        "reason": reason,
        "message": message[:1024],
        "type": type,
        "source": {"component": naming.OPERATOR},
        "reportingComponent": naming.OPERATOR,
        "reportingInstance": instance[:128],
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
