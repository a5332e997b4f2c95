"""The Hyperprune operator: runs HyperpruneSearch resources on a Kubernetes cluster.

    hyperprune-operator --namespace NS [--metrics-port 9090] [--liveness URL] [--peering NAME]

A kopf operator (``handlers``) that watches HyperpruneSearch resources and, per search, runs the same
decision policy as the local engine (``hyperprune.policy.decide``) in a ``SearchWorker``: one
HyperpruneTrial per candidate, one pod per trial attempt, trials report into their own status, the
operator stops the unpromising ones and promotes the best model. See docs/operator.md.

Torch-free, and importing this package imports nothing heavy (not even kopf): the trial image runs
``python -m hyperprune_operator.promote`` for the promotion copy.
"""

from hyperprune.contract.api import RELEASE as __version__

__all__ = ["__version__"]
