"""The Kubernetes API of Hyperprune: group, version, kinds and plurals, defined once. Part of the contract.

The CRDs (``hyperprune crd``), the operator, the trial pods' reporter and the RBAC rules all name
their resources with these strings.
"""

RELEASE = "0.1.0"  # the package's version; the default trial image is tagged with it

GROUP = "hyperprune.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

SEARCH_KIND = "HyperpruneSearch"
SEARCH_PLURAL = "hyperprunesearches"
TRIAL_KIND = "HyperpruneTrial"
TRIAL_PLURAL = "hyperprunetrials"
CATEGORY = "hyperprune"  # `kubectl get hyperprune` lists both kinds
