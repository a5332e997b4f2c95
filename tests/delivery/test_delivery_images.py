"""The two images, checked without a Docker daemon: the Dockerfiles' structure, that what they copy
exists and is not excluded by .dockerignore, and that their entrypoints are real commands whose default
arguments the real argument parsers accept.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import re
import tomllib

import pytest

from delivery_support import REPO, Instruction, parse_dockerfile, resolve_args
from hyperprune.contract.api import RELEASE

OPERATOR = REPO / "Dockerfile"
TRIAL = REPO / "trial-image" / "Dockerfile"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
VERSION = RELEASE  # the one place the version is written (pyproject reads it from there)


def _final(instructions: list[Instruction], keyword: str) -> Instruction:
    last_stage = max(i.stage for i in instructions)
    found = [i for i in instructions if i.keyword == keyword and i.stage == last_stage]
    assert found, f"no {keyword} in the final stage"
    return found[-1]


def _bases(instructions: list[Instruction]) -> list[str]:
    return [resolve_args(instructions, i.args.split()[0]) for i in instructions if i.keyword == "FROM"]


def _pinned(image: str) -> bool:
    """repository:tag with a version-like tag (not latest, not a bare name)."""
    name, _, tag = image.partition("@")[0].rpartition(":")
    return bool(name) and "/" not in tag and tag != "latest" and re.search(r"\d", tag) is not None


def _dockerignore() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def _ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore drops ``path`` (or a folder above it). Exceptions (!) are not used here."""
    assert not any(p.startswith("!") for p in patterns), "update _ignored for exception patterns"
    parts = path.strip("/").split("/")
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        for pattern in patterns:
            pattern = pattern.strip("/")
            if fnmatch.fnmatch(prefix, pattern) or (pattern.startswith("**/") and fnmatch.fnmatch(parts[i - 1], pattern[3:])):
                return True
    return False


def _copies(instructions: list[Instruction]) -> list[str]:
    """Sources of COPY instructions from the build context (not --from=stage)."""
    sources = []
    for ins in instructions:
        if ins.keyword != "COPY" or "--from=" in ins.args:
            continue
        words = [w for w in ins.args.split() if not w.startswith("--")]
        sources += words[:-1]
    return sources


def _runs(instructions: list[Instruction]) -> str:
    return "\n".join(i.args for i in instructions if i.keyword == "RUN")


@pytest.fixture(scope="module")
def operator_image() -> list[Instruction]:
    return parse_dockerfile(OPERATOR)


@pytest.fixture(scope="module")
def trial_image() -> list[Instruction]:
    return parse_dockerfile(TRIAL)


@pytest.mark.parametrize("dockerfile", [OPERATOR, TRIAL], ids=["operator", "trial"])
def test_every_base_image_is_pinned_by_tag(dockerfile):
    instructions = parse_dockerfile(dockerfile)
    bases = _bases(instructions)
    stage_names = {i.args.split()[-1] for i in instructions if i.keyword == "FROM" and " AS " in i.args.upper()}
    external = [b for b in bases if b not in stage_names]
    assert external, f"{dockerfile}: no base image"
    for base in external:
        assert _pinned(base), f"{dockerfile}: base image {base!r} is not pinned by a version tag"


@pytest.mark.parametrize("dockerfile", [OPERATOR, TRIAL], ids=["operator", "trial"])
def test_the_final_stage_runs_as_a_numeric_non_root_user(dockerfile):
    user = _final(parse_dockerfile(dockerfile), "USER").args
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0, f"{dockerfile}: USER {user!r} must be a numeric non-root uid " \
                                            "(Kubernetes checks runAsNonRoot against a number)"
    assert not gid or (gid.isdigit() and int(gid) != 0), f"{dockerfile}: group {gid!r}"


@pytest.mark.parametrize("dockerfile", [OPERATOR, TRIAL], ids=["operator", "trial"])
def test_copied_paths_exist_and_dockerignore_keeps_them(dockerfile):
    patterns = _dockerignore()
    sources = _copies(parse_dockerfile(dockerfile))
    assert sources
    for source in sources:
        assert (REPO / source).exists(), f"{dockerfile}: COPY {source}: no such path in the repository " \
                                         "(both images build from the repository root)"
        assert not _ignored(source, patterns), f"{dockerfile}: COPY {source} but .dockerignore excludes it"


def test_dockerignore_keeps_environments_runs_and_history_out_of_the_context():
    patterns = _dockerignore()
    for path in (".venv", ".venv/bin/python", "runs", "runs/quickstart/state.json", ".git", ".git/HEAD",
                 "hyperprune/__pycache__/cli.cpython-311.pyc", "node_modules"):
        assert _ignored(path, patterns), f".dockerignore does not exclude {path}"
    for path in ("pyproject.toml", "README.md", "hyperprune/cli.py", "operator/hyperprune_operator/main.py",
                 "trial-image/requirements.py"):
        assert not _ignored(path, patterns), f".dockerignore excludes {path}, which an image needs"


def test_operator_image_is_multi_stage_slim_and_installs_the_operator_extra_only(operator_image):
    bases = _bases(operator_image)
    assert len(bases) >= 2, "build the environment in one stage, copy it into a clean final stage"
    assert all(re.match(r"(docker\.io/library/)?python:3\.11[.\d]*-slim", b) for b in bases), bases
    assert any(i.keyword == "COPY" and "--from=" in i.args for i in operator_image if i.stage == max(
        j.stage for j in operator_image)), "the final stage copies the built environment"
    runs = _runs(operator_image)
    installs = re.findall(r"pip install ([^&\n]*)", runs)
    assert installs and any(".[operator]" in i for i in installs), installs
    for words in installs:
        assert "torch" not in words, f"the operator image installs torch: pip install {words}"
    assert not re.search(r"\[[^\]]*torch", runs), "the operator image must not install the torch extra"
    assert not any(i.keyword == "RUN" for i in operator_image if i.stage == max(j.stage for j in operator_image)), \
        "the final stage runs nothing at build time (no shell needed)"


def test_operator_entrypoint_is_the_console_script_and_its_default_flags_parse(operator_image):
    entrypoint = _final(operator_image, "ENTRYPOINT").json_args()
    assert entrypoint == ["hyperprune-operator"], "exec-form ENTRYPOINT, no shell"
    assert "hyperprune-operator" in PYPROJECT["project"]["scripts"]
    cmd = _final(operator_image, "CMD").json_args()
    assert cmd is not None, "exec-form CMD"
    from hyperprune_operator.main import build_parser

    args = build_parser().parse_args(cmd)
    assert args.all_namespaces or args.namespace
    assert args.liveness, "the liveness endpoint must be on (the chart's probes call it)"
    port = re.fullmatch(r"http://0\.0\.0\.0:(\d+)/healthz", args.liveness)
    assert port, f"--liveness {args.liveness}: listen on every interface so that the kubelet reaches it"
    exposed = {int(p.split("/")[0]) for i in operator_image if i.keyword == "EXPOSE" for p in i.args.split()}
    assert {int(port.group(1)), args.metrics_port} <= exposed, exposed


@pytest.mark.parametrize("dockerfile", [OPERATOR, TRIAL], ids=["operator", "trial"])
def test_oci_labels_name_the_image_and_the_package_version(dockerfile):
    instructions = parse_dockerfile(dockerfile)
    labels = " ".join(i.args for i in instructions if i.keyword == "LABEL" and i.stage == max(j.stage for j in instructions))
    for key in ("title", "description", "version", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels, f"{dockerfile}: no org.opencontainers.image.{key}"
    version_args = [i.args for i in instructions if i.keyword == "ARG" and i.args.startswith("VERSION=")]
    assert version_args == [f"VERSION={VERSION}"], f"{dockerfile}: ARG VERSION must default to {VERSION}"


def test_trial_image_keeps_the_base_images_cuda_torch(trial_image):
    (base,) = _bases(trial_image)
    assert re.fullmatch(r"pytorch/pytorch:\d+\.\d+\.\d+-cuda\d+\.\d+-cudnn\d+-runtime", base), \
        f"{base}: an official CUDA PyTorch runtime image, pinned by tag"
    runs = _runs(trial_image)
    installs = re.findall(r"pip install ([^&\n]*)", runs)
    assert any(re.search(r"--no-deps\s+\.", i) for i in installs), "install the project with --no-deps"
    for words in installs:
        assert not re.search(r"\btorch\b|\[torch", words), f"reinstalls torch: pip install {words}"
    assert "requirements.py pyproject.toml" in runs, "dependencies come from pyproject.toml"


def _requirements_module():
    spec = importlib.util.spec_from_file_location("image_requirements", REPO / "trial-image" / "requirements.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_both_images_install_their_dependencies_before_copying_the_sources(operator_image, trial_image):
    """A change of the sources must not reinstall the dependencies (minutes per image build)."""
    for instructions, flag in ((operator_image, "--image operator"), (trial_image, "")):
        build_stage = [i for i in instructions if i.stage == 0]
        first_source = next(n for n, i in enumerate(build_stage) if i.keyword == "COPY" and "hyperprune" in i.args)
        before = "\n".join(i.args for i in build_stage[:first_source] if i.keyword == "RUN")
        assert re.search(r"requirements\.py pyproject\.toml\s*" + re.escape(flag), before), before
        assert "pip install -r" in before, before


def test_operator_image_requirements_are_the_core_and_the_operator_extra_without_torch():
    module = _requirements_module()
    wanted = module.operator_requirements(PYPROJECT)
    project = PYPROJECT["project"]
    assert wanted == project["dependencies"] + project["optional-dependencies"]["operator"]
    assert "torch" not in {module.name(r) for r in wanted}
    with_torch = {"project": {**project, "optional-dependencies": {
        **project["optional-dependencies"], "operator": [*project["optional-dependencies"]["operator"], "torch>=2"]}}}
    with pytest.raises(SystemExit, match="must not include torch"):
        module.operator_requirements(with_torch)


def test_trial_image_requirements_are_the_projects_minus_torch_plus_the_kube_reporters_client():
    module = _requirements_module()
    wanted = module.trial_requirements(PYPROJECT)
    names = {module.name(r) for r in wanted}
    project = PYPROJECT["project"]
    assert "torch" not in names
    assert {module.name(r) for r in project["dependencies"]} <= names
    assert {module.name(r) for r in project["optional-dependencies"]["torch"]} - {"torch"} <= names
    assert "kubernetes" in names  # hyperprune.trial.kube_reporter imports it in the pod
    kube_req = next(r for r in project["optional-dependencies"]["operator"] if module.name(r) == "kubernetes")
    assert kube_req in wanted, "the same version range as the operator extra"


def test_trial_entrypoint_is_hyperprune_trial_and_the_image_runs_the_promotion_module(trial_image):
    assert _final(trial_image, "ENTRYPOINT").json_args() == ["hyperprune", "trial"]
    assert "hyperprune" in PYPROJECT["project"]["scripts"]
    # The operator runs both of its pod commands in the trial image: `hyperprune trial` and the
    # promotion copy, `python -m hyperprune_operator.promote`; the build checks both import.
    import yaml

    from hyperprune_operator import manifests
    from hyperprune_operator.validation import parse

    body = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
    body["metadata"].update(namespace="ns", uid="0000")
    search, issues = parse(body)
    assert not issues
    pod = manifests.promotion_pod(search, body, trial_id="t000", run=0, attempt=0)
    command = pod["spec"]["containers"][0]["command"]
    assert command[:2] == ["python", "-m"]
    assert f"import torch, hyperprune.trial.command, hyperprune.trial.kube_reporter, {command[2]}" in _runs(trial_image)
    assert "operator" in _copies(trial_image)
