"""Least-privilege RBAC rules: what the operator needs, and what trial pods may do. Pure.

The Helm chart renders these (a ClusterRole for ``--all-namespaces``, a Role per namespace for
``--namespace``); the operator's kube tests run it under a ServiceAccount bound to exactly these
rules, so a missing permission fails a test, not a user's cluster.
"""

from __future__ import annotations

from typing import Any

from hyperprune.contract.api import GROUP, SEARCH_PLURAL, TRIAL_PLURAL

Rule = dict[str, Any]

# Trial pods: push their reports into their own HyperpruneTrial's status. Nothing else, not even get.
TRIAL_RULES: tuple[Rule, ...] = (
    {"apiGroups": [GROUP], "resources": [f"{TRIAL_PLURAL}/status"], "verbs": ["patch"]},
)

# The operator, in every namespace it watches.
OPERATOR_NAMESPACED_RULES: tuple[Rule, ...] = (
    # searches: watch, finalizer (kopf stops the search's worker before the search goes), status
    {"apiGroups": [GROUP], "resources": [SEARCH_PLURAL], "verbs": ["get", "list", "watch", "patch"]},
    {"apiGroups": [GROUP], "resources": [f"{SEARCH_PLURAL}/status"], "verbs": ["get", "patch"]},
    # trials: one per candidate, owned by the search
    {"apiGroups": [GROUP], "resources": [TRIAL_PLURAL],
     "verbs": ["get", "list", "watch", "create", "patch", "delete"]},
    {"apiGroups": [GROUP], "resources": [f"{TRIAL_PLURAL}/status"], "verbs": ["get", "patch"]},
    # blockOwnerDeletion on the ownerReferences of trials and pods
    {"apiGroups": [GROUP], "resources": [f"{SEARCH_PLURAL}/finalizers", f"{TRIAL_PLURAL}/finalizers"],
     "verbs": ["update"]},
    # one pod per trial attempt, plus the promotion pod
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "create", "delete"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
    {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
    # --manage-trial-rbac (the default): the trial ServiceAccount, Role and RoleBinding per namespace
    {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["get", "create"]},
    {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"], "verbs": ["get", "create"]},
    # kopf peering (--peering): a standby replica takes over when the active one is gone
    {"apiGroups": ["kopf.dev"], "resources": ["kopfpeerings"], "verbs": ["get", "list", "watch", "patch", "create"]},
)

# The operator, cluster-wide: kopf discovers resources and namespaces as they come and go.
OPERATOR_CLUSTER_RULES: tuple[Rule, ...] = (
    {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["kopf.dev"], "resources": ["clusterkopfpeerings"], "verbs": ["get", "list", "watch", "patch", "create"]},
)


def operator_rules(all_namespaces: bool) -> list[Rule]:
    """Every rule the operator needs; with ``all_namespaces`` all of them go into one ClusterRole."""
    rules = [dict(r) for r in OPERATOR_NAMESPACED_RULES]
    return rules + [dict(r) for r in OPERATOR_CLUSTER_RULES] if all_namespaces else rules
