# Two commands do everything on a fresh machine:
#   make run    - a local LS-guided search on built-in data (creates .venv on first use)
#   make test   - the whole test suite, including the real control plane, helm and Prometheus checks
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
# The stamp names a hash of pyproject.toml so that a changed dependency list reinstalls.
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
PYTEST_ARGS ?=
# torch is pinned to 2.13.0. On a machine whose pip finds only the CUDA build (gigabytes), point this
# at PyTorch's CPU index first, e.g. make run TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
TORCH_INDEX_URL ?=

.PHONY: run test check venv tools clean help

help:
	@echo "make run   - local search on built-in data (examples/quickstart.yaml)"
	@echo "make test  - set up everything and run the whole test suite"
	@echo "make check - the import contracts and the type check (part of make test)"

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(if $(TORCH_INDEX_URL),$(BIN)/python -m pip install --quiet --disable-pip-version-check torch==2.13.0 --index-url $(TORCH_INDEX_URL))
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[torch,operator,report,dev,tensorboard,examples]'
	@rm -f $(VENV)/.installed-*
	@touch $@

# Tools the tests use that are not Python packages (real kube-apiserver/etcd, a kubelet and containerd,
# the images built from the Dockerfiles, helm, prometheus);
# slow builds are cached outside the repository.
tools: $(STAMP)
	scripts/test-tools

run: $(STAMP)
	$(BIN)/hyperprune run examples/quickstart.yaml --workdir runs/quickstart

# The architecture and the types, checked before the tests: import-linter's contracts (pyproject.toml,
# [tool.importlinter]) and mypy (strict for the contract, the spec and the policy).
check: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/mypy

test: tools check
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .import_linter_cache
