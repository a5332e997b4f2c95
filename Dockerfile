# syntax=docker/dockerfile:1
# The Hyperprune operator image: `hyperprune-operator` (kopf) and its dependencies only, no torch.
#
#   docker build -t REGISTRY/hyperprune-operator:0.1.0 .        (from the repository root)
#
# Two stages: a virtual environment with `.[operator]` is built in the first and copied into a clean
# slim Python of the same tag, which runs it as an unprivileged numeric user. Nothing at run time
# needs a shell (exec-form ENTRYPOINT); the Helm chart's probes call kopf's liveness endpoint
# (--liveness http://0.0.0.0:8080/healthz below), metrics are served on 9090.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/hyperprune
WORKDIR /src
# The dependencies first, from pyproject.toml alone: a change of the sources (or of the README, which
# the package's metadata reads) rebuilds from the next step on, not this slow one.
COPY pyproject.toml ./
COPY trial-image/requirements.py trial-image/requirements.py
RUN python trial-image/requirements.py pyproject.toml --image operator > /tmp/requirements.txt \
 && /opt/hyperprune/bin/pip install -r /tmp/requirements.txt
COPY README.md ./
COPY hyperprune ./hyperprune
COPY operator ./operator
# The `operator` extra only: the core (spec, policy) is torch-free by design. Fail the build if a
# dependency ever pulls torch in, and check that the operator imports.
RUN /opt/hyperprune/bin/pip install ".[operator]" \
 && /opt/hyperprune/bin/python -c "import importlib.util as u, sys; sys.exit('torch must not be in the operator image' if u.find_spec('torch') else 0)" \
 && /opt/hyperprune/bin/python -c "import hyperprune_operator.handlers, hyperprune_operator.main" \
 && /opt/hyperprune/bin/hyperprune-operator --help > /dev/null

FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="hyperprune-operator" \
      org.opencontainers.image.description="Hyperprune operator: runs HyperpruneSearch resources (Lyapunov-spectrum guided search for pruned recurrent networks) with GPU trial pods" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.documentation="docs/operator.md"
COPY --from=build /opt/hyperprune /opt/hyperprune
# USER: who kopf says it is (getpass) unless POD_ID names the pod (the chart sets it); the numeric
# user below has no passwd entry to ask.
ENV PATH=/opt/hyperprune/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    USER=hyperprune-operator
# A numeric user, so that Kubernetes can check runAsNonRoot without a passwd entry.
USER 65532:65532
WORKDIR /tmp
# 9090: Prometheus metrics (/metrics); 8080: kopf's liveness endpoint (/healthz).
EXPOSE 9090 8080
ENTRYPOINT ["hyperprune-operator"]
CMD ["--all-namespaces", "--metrics-port", "9090", "--liveness", "http://0.0.0.0:8080/healthz", "--standalone"]
