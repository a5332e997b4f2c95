"""Is a HyperpruneSearch custom resource runnable on this cluster? Pure.

The API server already enforced the CRD's schema (types, bounds, enums). What remains are the spec's
semantic rules (``hyperprune.spec.parse_search``, the same the local engine applies) and a few
cluster-only ones below. Problems become the search's ``Invalid`` condition, one ``field.path:
message`` line each, instead of an exception in a handler.
"""

from __future__ import annotations

from typing import Any

from hyperprune.spec import HyperpruneSearch, SearchSpecError, parse_search
from hyperprune.contract.pod import MAX_TRIAL_OBJECT_BYTES

from hyperprune_operator import manifests, naming

# Each trial has a summary of about this many bytes in the search's status (etcd: 1.5 MiB per object).
SUMMARY_BYTES = 400
MAX_TRIALS = 2500
REPORT_BYTES = 400  # one report without its spectrum, as kube_reporter writes it
EXPONENT_BYTES = 12


def with_trial_defaults(spec: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """The spec with the operator's --trial-defaults under its trialTemplate. Field by field, no
    deeper: a field the search sets (resources, volume, ...) replaces the default's as a whole, so
    a search never ends up with a mix of two volumes or two resource specs."""
    if not defaults:
        return spec
    return {**spec, "trialTemplate": {**defaults, **(spec.get("trialTemplate") or {})}}


def parse(body: dict[str, Any], trial_defaults: dict[str, Any] | None = None) -> tuple[HyperpruneSearch | None, list[str]]:
    """(the search, []) or (None, the problems, each naming its field)."""
    meta = body.get("metadata") or {}
    document = {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": {k: meta[k] for k in ("name", "namespace", "labels", "annotations") if k in meta},
        "spec": with_trial_defaults(body.get("spec") or {}, trial_defaults or {}),
    }
    try:
        search = parse_search(document)
    except SearchSpecError as exc:
        return None, list(exc.errors)
    issues = cluster_issues(search)
    return (None, issues) if issues else (search, [])


def spectrum_size(search: HyperpruneSearch) -> int:
    """Exponents per spectrum the trials will report."""
    spec = search.spec
    if spec.task is not None:  # its model's state size is known only to its trials (cluster_issues asks for k)
        return spec.lyapunov.k or 0
    per_unit = 2 if spec.model.arch == "lstm" and spec.lyapunov.state == "full" else 1
    size = spec.model.num_layers * spec.model.hidden_size * per_unit
    return min(spec.lyapunov.k or size, size)


def trial_object_bytes(search: HyperpruneSearch) -> int:
    """An upper estimate of one HyperpruneTrial's size once every epoch has reported."""
    spec = search.spec
    spectra = len(spec.lyapunov_epochs())
    config = len(spec.trial_config("t000").model_dump_json(by_alias=True))
    return 4000 + config + spec.training.epochs * REPORT_BYTES + spectra * spectrum_size(search) * EXPONENT_BYTES


def cluster_issues(search: HyperpruneSearch) -> list[str]:
    spec, name = search.spec, search.metadata.name
    candidates = spec.max_candidates()  # budget.maxTrials, or what the pool or space holds when it is unset
    issues = []
    if not naming.derived_names_fit(name, candidates):
        issues.append(
            f"metadata.name: too long: trial pods are named <search>-<trialId>-<attempt>, which must stay within "
            f"{naming.MAX_NAME} characters; use a shorter name"
        )
    volume = spec.trial_template.volume
    if volume.empty_dir is not None:
        issues.append(
            "spec.trialTemplate.volume.emptyDir: an emptyDir is deleted with its pod, so a continued trial would "
            "retrain from scratch and the best model could not be promoted; use persistentVolumeClaim or hostPath"
        )
    elif volume.persistent_volume_claim is not None and volume.persistent_volume_claim.read_only:
        issues.append("spec.trialTemplate.volume.persistentVolumeClaim.readOnly: trials write checkpoints there; "
                      "mount it read-write")
    if candidates > MAX_TRIALS:
        issues.append(
            f"spec.budget.maxTrials: at most {MAX_TRIALS} on a cluster: the search's status lists every trial and "
            "etcd limits an object to 1.5 MiB"
        )
    if spec.task is not None and spec.lyapunov.k is None:
        room = (MAX_TRIAL_OBJECT_BYTES - trial_object_bytes(search)) // (len(spec.lyapunov_epochs()) * EXPONENT_BYTES)
        issues.append(
            f"spec.lyapunov.k: a task's spectrum can be as large as its model's state, which only its trials know, "
            f"and each trial stores its spectra in its HyperpruneTrial (etcd limits an object to 1.5 MiB); on a "
            f"cluster set lyapunov.k (at most {room} exponents fit at {len(spec.lyapunov_epochs())} epochs)"
        )
    size = trial_object_bytes(search)
    if size > MAX_TRIAL_OBJECT_BYTES:
        issues.append(
            f"spec.lyapunov.k: each trial would store about {size // 1000} kB of spectra and reports in its "
            f"HyperpruneTrial ({spectrum_size(search)} exponents at {len(spec.lyapunov_epochs())} epochs), over the "
            f"{MAX_TRIAL_OBJECT_BYTES // 1000} kB the operator allows (etcd refuses objects over 1.5 MiB); "
            "set lyapunov.k to fewer exponents or use fewer rungs"
        )
    return issues
