"""The images as really built from the Dockerfiles (scripts/images: rootful podman, local base
images, no registry): they run as their numeric non-root users, their commands answer --help, the
operator image holds no torch, the trial image holds the pinned CPU torch, the co2 example's task
image (built FROM the trial image) imports its package and data; and an image's key (what decides a
rebuild) follows exactly the inputs its build reads.

The images are built by ``make tools`` (scripts/test-tools); a missing one FAILS with what to run.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import subprocess
import sys

import pytest

from delivery_support import REPO

pytestmark = pytest.mark.images

IMAGES = REPO / "scripts" / "images"


def images(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, str(IMAGES), *args], capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"scripts/images {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def run_in(name: str, *args: str, entrypoint: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """A container of the built image, its output."""
    return images("run", name, *(["--entrypoint", entrypoint] if entrypoint else []), "--", *args, check=check)


@pytest.fixture(scope="module", autouse=True)
def built():
    for name in ("operator", "trial", "co2-forecaster"):
        proc = images("path", name, check=False)
        if proc.returncode != 0:
            pytest.fail(f"the {name} image is not built for the current sources: run `make tools` "
                        f"(scripts/test-tools)\n{proc.stderr}", pytrace=False)


def test_the_operator_image_runs_as_its_numeric_user_and_its_command_answers_help():
    assert run_in("operator", "-u", entrypoint="id").stdout.strip() == "65532"
    out = run_in("operator", "--help").stdout  # the image's own entrypoint
    assert out.startswith("usage: hyperprune-operator") and "--all-namespaces" in out


def test_the_operator_image_has_no_torch():
    proc = run_in("operator", "-c", "import torch", entrypoint="python", check=False)
    assert proc.returncode != 0 and "No module named 'torch'" in proc.stdout + proc.stderr


def test_the_trial_image_runs_as_uid_1000_with_the_pinned_cpu_torch_and_both_pod_commands():
    module = _images_module()
    assert run_in("trial", "-u", entrypoint="id").stdout.strip() == "1000"
    assert run_in("trial", "--help").stdout.startswith("usage: hyperprune trial")  # ENTRYPOINT hyperprune trial
    assert run_in("trial", "--help", entrypoint="hyperprune").stdout.startswith("usage: hyperprune")
    version = run_in("trial", "-c", "import torch; print(torch.__version__, torch.version.cuda)",
                     entrypoint="python").stdout.split()
    assert version == [f"{module.torch_pin()}+cpu", "None"]
    # The operator's promotion pod runs in the trial image too.
    assert "--source" in run_in("trial", "-m", "hyperprune_operator.promote", "--help", entrypoint="python").stdout


def test_the_co2_example_image_runs_as_uid_1000_and_imports_its_entry_point_and_data():
    # examples/Dockerfile.co2-forecaster as a user builds it, on the trial image: the package, statsmodels
    # and its bundled CO2 series; the trial image's entrypoint unchanged.
    assert run_in("co2-forecaster", "-u", entrypoint="id").stdout.strip() == "1000"
    assert run_in("co2-forecaster", "--help").stdout.startswith("usage: hyperprune trial")
    out = run_in("co2-forecaster", "-c", "from co2_forecaster.task import monthly_co2; print(len(monthly_co2()))",
                 entrypoint="python").stdout
    assert out.split() == ["526"]  # months, as the task's docstring says


def _images_module():
    loader = importlib.machinery.SourceFileLoader("hyperprune_images", str(IMAGES))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    loader.exec_module(module)
    return module


def test_an_images_key_follows_the_files_it_copies_and_ignores_what_dockerignore_drops(tmp_path):
    module = _images_module()
    repo = tmp_path / "repo"
    (repo / "pkg" / "sub").mkdir(parents=True)
    (repo / "Dockerfile").write_text("FROM base\nCOPY pyproject.toml \\\n     ./\nCOPY pkg ./pkg\n"
                                     "COPY --from=build /opt /opt\n")
    (repo / ".dockerignore").write_text("**/__pycache__\n*.egg-info\n")
    (repo / "pyproject.toml").write_text("[project]\n")
    (repo / "pkg" / "sub" / "a.py").write_text("A = 1\n")
    (repo / "docs.md").write_text("not copied\n")
    dockerfile = repo / "Dockerfile"
    assert module.copied_sources(dockerfile) == ["pyproject.toml", "pkg"]
    first = module.context_digest(dockerfile, repo)
    (repo / "pkg" / "sub" / "__pycache__").mkdir()
    (repo / "pkg" / "sub" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    (repo / "docs.md").write_text("changed, never copied\n")
    assert module.context_digest(dockerfile, repo) == first
    (repo / "pkg" / "sub" / "a.py").write_text("A = 2\n")
    second = module.context_digest(dockerfile, repo)
    assert second != first
    (repo / "pkg" / "sub" / "b.py").write_text("")  # a new file is a new input
    assert module.context_digest(dockerfile, repo) != second
    dockerfile.write_text(dockerfile.read_text() + "USER 1000\n")
    assert module.context_digest(dockerfile, repo) not in (first, second)
