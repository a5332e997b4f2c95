"""How the operator runs a trial pod. Ignored by the local engine. Torch-free.

Kubernetes objects that users copy from other manifests (resources, tolerations, affinity) are kept
free-form: the API server and the pod validate them, not this schema.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from hyperprune.contract.api import RELEASE
from hyperprune.contract.document import Model

DEFAULT_TRIAL_IMAGE = f"hyperprune-trial:{RELEASE}"
DEFAULT_MOUNT_PATH = "/var/lib/hyperprune"
TRIAL_IMAGE_UID = 1000  # the trial image's user and group (trial-image/Dockerfile)
# Long enough for a GPU node to be scaled up or freed by another search's trial; short enough that a
# pod that can never start (a wrong image name) does not hold the search for hours.
DEFAULT_START_TIMEOUT_S = 600


class LocalObjectReference(Model):
    name: str = Field(min_length=1)


class EnvVar(Model):
    name: str = Field(min_length=1)
    value: str | None = None
    value_from: dict[str, Any] | None = Field(None, description="a Kubernetes EnvVarSource (secretKeyRef, ...)")


class PersistentVolumeClaimSource(Model):
    claim_name: str = Field(min_length=1)
    read_only: bool = False


class HostPathSource(Model):
    path: str = Field(pattern=r"^/", description="absolute directory on the node")
    type: Literal["", "DirectoryOrCreate", "Directory"] = "DirectoryOrCreate"


class EmptyDirSource(Model):
    medium: Literal["", "Memory"] = ""
    size_limit: str | None = Field(None, description="a quantity, e.g. 10Gi")


class TrialVolume(Model):
    """Where trials keep checkpoints and artifacts; exactly one source. A trial that is stopped and
    continued gets a new pod, which resumes from this volume: with emptyDir it retrains instead."""

    mount_path: str = Field(DEFAULT_MOUNT_PATH, pattern=r"^/", description="mount point in the trial container")
    persistent_volume_claim: PersistentVolumeClaimSource | None = None
    host_path: HostPathSource | None = None
    empty_dir: EmptyDirSource | None = None

    @model_validator(mode="after")
    def _one_source(self) -> "TrialVolume":
        given = [s for s in (self.persistent_volume_claim, self.host_path, self.empty_dir) if s is not None]
        if len(given) != 1:
            raise ValueError("set exactly one of persistentVolumeClaim, hostPath, emptyDir")
        return self


def _default_volume() -> TrialVolume:
    return TrialVolume(host_path=HostPathSource(path=DEFAULT_MOUNT_PATH))


class TrialTemplate(Model):
    """The pod each trial runs in (cluster only)."""

    image: str = Field(DEFAULT_TRIAL_IMAGE, min_length=1, description="trial image (built from trial-image/)")
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    resources: dict[str, Any] = Field(
        default_factory=dict,
        description="Kubernetes ResourceRequirements, e.g. {limits: {nvidia.com/gpu: 1}}",
    )
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[dict[str, Any]] = Field(default_factory=list, description="Kubernetes Tolerations")
    affinity: dict[str, Any] | None = Field(None, description="a Kubernetes Affinity")
    service_account_name: str = Field(
        "hyperprune-trial", min_length=1, description="may patch hyperprunetrials/status only"
    )
    image_pull_secrets: list[LocalObjectReference] = Field(default_factory=list)
    volume: TrialVolume = Field(
        default_factory=_default_volume,
        description="checkpoints and artifacts; default hostPath /var/lib/hyperprune (single-node clusters)",
    )
    security_context: dict[str, Any] | None = Field(
        None,
        description=(
            "Kubernetes PodSecurityContext of trial and promotion pods. Default: the trial image's user "
            "(runAsUser/runAsGroup/fsGroup 1000, runAsNonRoot, seccomp RuntimeDefault), so that a "
            "persistentVolumeClaim is writable to it; with a hostPath volume, whose directory "
            "the kubelet creates root-owned and to which fsGroup does not apply, the same but as "
            "root (uid 0). Containers never escalate privileges and drop every capability."
        ),
    )
    env: list[EnvVar] = Field(default_factory=list, description="extra environment variables")
    start_timeout_seconds: int = Field(
        DEFAULT_START_TIMEOUT_S,
        ge=0,
        description=(
            "A trial pod that has not started this many seconds after it was created (no node can take "
            "it, its image cannot be pulled, its container cannot be created) is deleted and counts as a "
            "failed attempt: budget.retries and budget.maxFailedTrials apply. 0 waits forever."
        ),
    )
    labels: dict[str, str] = Field(default_factory=dict, description="extra pod labels")
    annotations: dict[str, str] = Field(default_factory=dict, description="extra pod annotations")


def pod_security_context(template: TrialTemplate) -> dict[str, Any]:
    """The PodSecurityContext trial and promotion pods run with (see TrialTemplate.security_context)."""
    if template.security_context is not None:
        return dict(template.security_context)
    seccomp = {"seccompProfile": {"type": "RuntimeDefault"}}
    if template.volume.host_path is not None:
        # The kubelet creates a DirectoryOrCreate hostPath as root:root 0755 and fsGroup does not
        # apply to hostPath: the image's non-root user could not write its checkpoints there.
        return {"runAsUser": 0, "runAsGroup": 0, **seccomp}
    uid = TRIAL_IMAGE_UID
    return {"runAsUser": uid, "runAsGroup": uid, "fsGroup": uid, "runAsNonRoot": True, **seccomp}


# Every trial and promotion container: no privilege escalation, no capabilities (writing its own
# files needs none), as the "restricted" Pod Security Standard asks.
CONTAINER_SECURITY_CONTEXT: dict[str, Any] = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
