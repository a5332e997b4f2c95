"""``hyperprune-operator``: run the Hyperprune operator (kopf) against the current cluster.

    hyperprune-operator --namespace research [--namespace team-b] | --all-namespaces
                        [--metrics-port 9090] [--liveness http://0.0.0.0:8080/healthz]
                        [--peering hyperprune [--priority N]] | [--standalone]

Credentials: $KUBECONFIG (or ~/.kube/config) when present, else the pod's service account.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys


class _HelpFormatter(argparse.HelpFormatter):
    """Shows an option's default only where there is one worth reading (not None/[] or a flag's)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("default" in text or action.default in (None, False, [], argparse.SUPPRESS) or action.nargs == 0
                or not action.option_strings):
            return text
        return text + " (default: %(default)s)"


def cap_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas before any thread starts. The operator's dozens of I/O threads
    each parse and build JSON; glibc gives threads up to 8 x cores arenas of their own, whose freed
    memory is rarely returned, so the resident size grows with the threads rather than with the
    state (measured with benchmarks/operator.py: see docs/operator.md). The same as
    MALLOC_ARENA_MAX=2, which wins when set; a no-op where the C library is not glibc."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    M_ARENA_MAX = -8  # malloc.h
    return bool(mallopt(M_ARENA_MAX, arenas))


def load_trial_defaults(path: str) -> dict:
    """The --trial-defaults file: a partial spec.trialTemplate (YAML or JSON), checked against the
    TrialTemplate model so that a typo fails the operator's start, not every search."""
    import yaml
    from pydantic import ValidationError

    from hyperprune.spec.template import TrialTemplate

    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"--trial-defaults {path}: cannot read it: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"--trial-defaults {path}: must be a mapping of trialTemplate fields, not {type(data).__name__}")
    try:
        TrialTemplate.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"trialTemplate.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"--trial-defaults {path}: {problems}") from exc
    return data


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hyperprune-operator",
        description=(
            "Run HyperpruneSearch resources: one trial pod per candidate, Lyapunov-spectrum reports in the "
            "trials' status, early stopping and promotion of the best pruned model by the same policy as "
            "'hyperprune run'. See docs/operator.md."
        ),
        formatter_class=_HelpFormatter,
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--namespace", "-n", action="append", default=[], metavar="NS",
                       help="watch this namespace (repeatable)")
    scope.add_argument("--all-namespaces", "-A", action="store_true", help="watch every namespace")
    parser.add_argument("--kubeconfig", metavar="PATH", help="kubeconfig file (default: $KUBECONFIG, "
                        "~/.kube/config, else the in-cluster service account)")
    parser.add_argument("--metrics-port", type=int, default=9090, metavar="PORT",
                        help="serve Prometheus metrics on this port (0: no metrics endpoint)")
    parser.add_argument("--metrics-host", default="0.0.0.0", metavar="ADDR", help="address of the metrics endpoint")
    parser.add_argument("--liveness", metavar="URL", default=None,
                        help="kopf's liveness endpoint, e.g. http://0.0.0.0:8080/healthz (default: none)")
    peering = parser.add_mutually_exclusive_group()
    peering.add_argument("--peering", metavar="NAME",
                         help="coordinate with other replicas through kopf's peering object NAME (created if "
                              "missing): the replica with the highest priority works, the others stand by")
    peering.add_argument("--standalone", action="store_true", help="no peering: this is the only replica")
    parser.add_argument("--priority", type=int, metavar="N",
                        help="peering priority (default with --peering: random, so that two replicas of one "
                             "Deployment never tie and freeze)")
    parser.add_argument("--peering-lifetime", type=int, default=60, metavar="SECONDS",
                        help="after this long without a heartbeat a replica counts as gone and a standby takes over")
    parser.add_argument("--workers", type=int, default=16, metavar="N",
                        help="threads that run search workers' reconcile steps (searches still decide one at a time)")
    parser.add_argument("--status-interval", type=float, default=1.0, metavar="SECONDS",
                        help="at most one routine status write per search per interval (phase changes are immediate)")
    parser.add_argument("--resync-interval", type=float, default=300.0, metavar="SECONDS",
                        help="re-list each search's trials and pods this often (repairs missed watch events)")
    parser.add_argument("--trial-defaults", metavar="PATH",
                        help="YAML/JSON file of spec.trialTemplate fields (image, resources, nodeSelector, "
                             "tolerations, volume, securityContext, ...) for every search; a field the search "
                             "sets replaces the default's field as a whole")
    parser.add_argument("--no-manage-trial-rbac", dest="manage_trial_rbac", action="store_false",
                        help="do not create the trial ServiceAccount/Role/RoleBinding (hyperprune-trial) in "
                             "namespaces with searches; install them yourself (see docs/operator.md)")
    parser.add_argument("--verbose", "-v", action="store_true", help="log what the operator does (INFO and kopf's "
                        "verbose output)")
    parser.add_argument("--debug", action="store_true", help="log everything, kopf's internals included")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.namespace and not args.all_namespaces:
        print("error: no namespaces to watch — pass --namespace NS (repeatable) or --all-namespaces", file=sys.stderr)
        return 2
    if args.priority is not None and not args.peering:
        print("error: --priority only matters with --peering NAME — add --peering or drop --priority", file=sys.stderr)
        return 2

    trial_defaults: dict = {}
    if args.trial_defaults:
        try:
            trial_defaults = load_trial_defaults(args.trial_defaults)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    if args.kubeconfig:
        # Before the kubernetes client is imported: it reads $KUBECONFIG at import time, and kopf's
        # login (in-cluster first, then the kubeconfig) goes through it.
        os.environ["KUBECONFIG"] = args.kubeconfig

    cap_malloc_arenas()
    # Heavy imports only now: --help and argument errors come back fast.
    import kopf
    from prometheus_client import disable_created_metrics, start_http_server

    from hyperprune_operator import handlers  # noqa: F401  (registers the handlers with kopf)
    from hyperprune_operator.kube import Kube, api_client, api_error
    from hyperprune_operator.runtime import OperatorConfig, Runtime

    kopf.configure(verbose=args.verbose, debug=args.debug)
    logging.getLogger("hyperprune").setLevel(logging.DEBUG if args.debug else logging.INFO)
    if not args.debug:
        # One line per watch event ("Handler 'trial_event' succeeded") and per HTTP request would
        # drown what the operator decides; --debug shows them.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
        logging.getLogger("urllib3").setLevel(logging.WARNING)
    priority = args.priority
    if args.peering and priority is None:
        priority = random.SystemRandom().randint(1, 1_000_000)
    config = OperatorConfig(
        namespaces=list(args.namespace), all_namespaces=args.all_namespaces, kubeconfig=args.kubeconfig,
        metrics_port=args.metrics_port, metrics_host=args.metrics_host, liveness=args.liveness,
        peering=args.peering, standalone=args.standalone, priority=priority,
        peering_lifetime=args.peering_lifetime, workers=args.workers, status_interval=args.status_interval,
        resync_interval=args.resync_interval, manage_trial_rbac=args.manage_trial_rbac,
        trial_defaults=trial_defaults,
    )
    try:
        kube = Kube(api_client(pool_size=config.io_threads + config.workers + config.behind_threads + 2))
    except Exception as exc:
        print(f"error: no Kubernetes credentials ({exc}) — set KUBECONFIG or run in a pod with a service account",
              file=sys.stderr)
        return 2
    runtime = Runtime(config, kube)
    if args.peering:
        from hyperprune_operator.peering import ensure_peering

        try:
            ensure_peering(kube.api, args.peering, None if args.all_namespaces else args.namespace)
        except Exception as exc:
            logging.getLogger("hyperprune.operator").warning(
                "cannot create the peering object %s (%s); kopf waits until it exists", args.peering, api_error(exc))
    if args.metrics_port:
        disable_created_metrics()  # no *_created series: dashboards never query them
        start_http_server(args.metrics_port, addr=args.metrics_host)
    kopf.run(
        clusterwide=args.all_namespaces,
        namespaces=list(args.namespace),
        standalone=True if args.standalone else None,
        peering_name=args.peering,
        priority=priority,
        liveness_endpoint=args.liveness,
        memo=kopf.Memo(runtime=runtime),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
