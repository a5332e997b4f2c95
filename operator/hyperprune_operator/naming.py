"""Names, labels and API coordinates the operator uses. Pure.

Names are deterministic so that every create is idempotent (a repeated create answers 409):

    HyperpruneTrial   <search>-<trialId>              owned by the search
    trial pod         <search>-<trialId>-<attempt>    owned by the trial; attempt 1, 2, ... per pod
    promotion pod     <search>-promote-<attempt>      owned by the search
"""

from __future__ import annotations

import hashlib
import re

# The API's names (defined once, in the contract) beside the operator's own: modules name them all here.
from hyperprune.contract.api import (  # noqa: F401
    API_VERSION,
    GROUP,
    SEARCH_KIND,
    SEARCH_PLURAL,
    TRIAL_KIND,
    TRIAL_PLURAL,
    VERSION,
)
from hyperprune.contract.pod import ENV_CONFIG as CONFIG_ENV  # noqa: F401

OPERATOR = "hyperprune-operator"
MANAGED_BY = "app.kubernetes.io/managed-by"
NAME = "app.kubernetes.io/name"
COMPONENT = "app.kubernetes.io/component"  # trial | promotion | trial-rbac
LABEL_SEARCH = f"{GROUP}/search"
LABEL_TRIAL = f"{GROUP}/trial"  # the HyperpruneTrial's name
LABEL_TRIAL_ID = f"{GROUP}/trial-id"
LABEL_ROLE = f"{GROUP}/role"
LABEL_ATTEMPT = f"{GROUP}/attempt"
ANNOTATION_UNTIL = f"{GROUP}/until-epoch"
ANNOTATION_RUN = f"{GROUP}/run"

DEFAULT_TRIAL_SERVICE_ACCOUNT = "hyperprune-trial"
TRIAL_ROLE = "hyperprune-trial"
VOLUME_NAME = "trial-data"
CONTAINER_NAME = "trial"

_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
MAX_NAME = 253


def label_value(text: str) -> str:
    """``text`` when it is a valid label value (63 characters at most), else a stable shortened form.
    Selectors on it are a pre-filter: code also checks the full name it stands for."""
    if len(text) <= 63 and _LABEL_VALUE.match(text):
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    head = re.sub(r"[^-A-Za-z0-9_.]", "-", text)[:50].strip("-_.")
    return f"{head}-{digest}" if head else digest


def trial_name(search: str, trial_id: str) -> str:
    return f"{search}-{trial_id}"


def pod_name(trial: str, attempt: int) -> str:
    return f"{trial}-{attempt}"


def promotion_pod_name(search: str, attempt: int) -> str:
    return f"{search}-promote-{attempt}"


def longest_trial_id(max_trials: int) -> str:
    """The longest trial id a search of ``max_trials`` candidates creates (t000 ... t1234)."""
    return f"t{max(max_trials - 1, 0):03d}"


def derived_names_fit(search: str, max_trials: int) -> bool:
    """Whether every name derived from the search stays within Kubernetes' 253 characters
    (attempt numbers up to 6 digits)."""
    longest = pod_name(trial_name(search, longest_trial_id(max_trials)), 999_999)
    return len(longest) <= MAX_NAME and len(promotion_pod_name(search, 999_999)) <= MAX_NAME


def search_selector(search: str) -> str:
    return f"{LABEL_SEARCH}={label_value(search)}"


def workdir(mount_path: str, search: str, trial_id: str, run: int = 0) -> str:
    """Where a trial keeps its checkpoint, reports and model in the volume. A retrain from scratch
    (run > 0, lsh-sync) trains in a fresh directory; resuming an attempt reuses the same one."""
    base = f"{mount_path.rstrip('/')}/{search}/{trial_id}"
    return base if run == 0 else f"{base}-r{run}"
