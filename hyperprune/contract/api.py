"""The Kubernetes API of Hyperprune: group, version, kinds and plurals, defined once. Part of the contract.

The CRDs (``hyperprune crd``), the operator, the trial pods' reporter and the RBAC rules all name
their resources with these strings.
"""

from typing import Final

RELEASE: Final = "0.1.0"  # the package's version; the default trial image is tagged with it

GROUP: Final = "hyperprune.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = "hyperprune.io/v1alpha1"  # GROUP/VERSION, spelled out so that type checkers see the literal

SEARCH_KIND: Final = "HyperpruneSearch"
SEARCH_PLURAL: Final = "hyperprunesearches"
TRIAL_KIND: Final = "HyperpruneTrial"
TRIAL_PLURAL: Final = "hyperprunetrials"
CATEGORY: Final = "hyperprune"  # `kubectl get hyperprune` lists both kinds

assert API_VERSION == f"{GROUP}/{VERSION}"
