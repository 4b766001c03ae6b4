"""The Dockerfiles, checked as far as possible without a Docker engine: they
parse, build in stages from pinned bases, run as a non-root user, install with
the pinned constraints, copy only what .dockerignore lets through, and start
an entry point that exists (the `mis` console script, the trainer module)."""

from __future__ import annotations

import importlib.util
import re
import tomllib

import pytest

from .chart import REPO
from .dockerfile import DockerIgnore, copy_sources, exec_form, parse

DOCKER = REPO / "docker"
IMAGES = {
    "services.Dockerfile": "mis-services",
    "t2i.Dockerfile": "mis-t2i-refiner",
    "trainer.Dockerfile": "mis-trainer",
    "eval.Dockerfile": "mis-eval",
    "retriever.Dockerfile": "mis-retriever",
}
# The pins an install may use: the platform's, or lmms-eval's own environment's.
PINS = ("-c requirements/constraints.txt", "-c requirements/lmms-eval.txt")


def dockerfile(name: str):
    return parse((DOCKER / name).read_text())


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_makefile_builds_exactly_these_images():
    makefile = (REPO / "Makefile").read_text()
    built = dict(re.findall(r"docker build -f docker/(\S+) -t (\S+):dev \.", makefile))
    assert built == IMAGES


@pytest.mark.parametrize("name", list(IMAGES))
def test_multi_stage_from_pinned_bases(name):
    parsed = dockerfile(name)
    assert len(parsed.stages) >= 2, "build and runtime stages"
    stage_names = set()
    for stage in parsed.stages:
        repository, _, tag = stage.image.partition(":")
        assert tag and tag != "latest", f"{stage.image}: pin a tag"
        assert re.search(r"\d+\.\d+\.\d+", tag), f"{stage.image}: pin an exact version"
        for item in stage.all("COPY"):
            _, source_stage = copy_sources(item)
            if source_stage is not None:
                assert source_stage in stage_names, f"line {item.line}: no earlier stage {source_stage}"
        if stage.name:
            stage_names.add(stage.name)
    # The runtime stage carries the built environment, not the build tools.
    final_copies = [copy_sources(item) for item in parsed.final.all("COPY")]
    assert final_copies and all(source_stage for _, source_stage in final_copies)
    assert not parsed.final.all("RUN") or all("pip install" not in item.arguments
                                             for item in parsed.final.all("RUN"))


@pytest.mark.parametrize("name", list(IMAGES))
def test_runs_as_a_numeric_non_root_user(name):
    user = dockerfile(name).final.last("USER")
    assert user is not None, "no USER in the runtime stage"
    uid, _, gid = user.arguments.partition(":")
    # Numeric, so the kubelet can verify runAsNonRoot without reading /etc/passwd.
    assert uid.isdigit() and int(uid) != 0
    assert not gid or (gid.isdigit() and int(gid) != 0)
    # The chart runs pods as the same user.
    assert f"runAsUser: {uid}" in (REPO / "charts" / "mis" / "values.yaml").read_text()


@pytest.mark.parametrize("name", list(IMAGES))
def test_installs_with_the_pinned_constraints(name):
    installs = [item.arguments for stage in dockerfile(name).stages for item in stage.all("RUN")
                if "pip install" in item.arguments]
    assert installs
    for command in installs:
        for step in command.split("&&"):
            if "pip install" in step:
                assert any(pin in step for pin in PINS), step


@pytest.mark.parametrize("name", list(IMAGES))
def test_copy_sources_exist_and_reach_the_build(name):
    ignore = DockerIgnore.load(REPO / ".dockerignore")
    for stage in dockerfile(name).stages:
        for item in stage.all("COPY"):
            sources, source_stage = copy_sources(item)
            if source_stage is not None:
                continue
            for source in sources:
                assert (REPO / source).exists(), f"line {item.line}: {source} is not in the repository"
                assert not ignore.excluded(source), f"line {item.line}: .dockerignore leaves out {source}"


def test_dockerignore_keeps_the_context_small():
    ignore = DockerIgnore.load(REPO / ".dockerignore")
    for path in (".venv/bin/python", "node_modules/.bin/helm", ".git/HEAD", "tests/deploy/chart.py",
                 "services/common/__pycache__/server.cpython-311.pyc", "charts/mis/values.yaml"):
        assert ignore.excluded(path), path
    for path in ("pyproject.toml", "services/common/grpc_server.py", "mis/v1/judge_pb2.py",
                 "requirements/constraints.txt"):
        assert not ignore.excluded(path), path


@pytest.mark.parametrize("name", ["services.Dockerfile", "t2i.Dockerfile", "retriever.Dockerfile"])
def test_service_images_start_the_mis_command(name):
    final = dockerfile(name).final
    entrypoint = exec_form(final.last("ENTRYPOINT"))
    assert entrypoint == ["mis"]
    scripts = pyproject()["project"]["scripts"]
    module, _, function = scripts["mis"].partition(":")
    spec = importlib.util.find_spec(module)
    assert spec is not None, f"{module} (the mis script) does not exist"
    assert f"def {function}(" in open(spec.origin).read()
    assert "MIS_HOST=0.0.0.0" in " ".join(item.arguments for item in final.all("ENV"))


def test_t2i_image_serves_the_t2i_refiner_with_its_extra():
    parsed = dockerfile("t2i.Dockerfile")
    assert exec_form(parsed.final.last("CMD")) == ["serve", "t2i-refiner"]
    from services.registry import SERVICES

    assert "t2i-refiner" in SERVICES
    installs = " ".join(item.arguments for stage in parsed.stages for item in stage.all("RUN"))
    assert '".[t2i]"' in installs and "torch==" in installs
    extras = pyproject()["project"]["optional-dependencies"]
    assert any(requirement.startswith("diffusers") for requirement in extras["t2i"])


def test_retriever_image_serves_the_retriever_with_the_retrieval_extra():
    """CLIP (torch, transformers) and FAISS reach the image through the
    `retrieval` extra, which must name them, and LanceDB through `vectordb`;
    torch is the pinned CPU build."""
    parsed = dockerfile("retriever.Dockerfile")
    assert exec_form(parsed.final.last("CMD")) == ["serve", "retriever"]
    from services.registry import SERVICES

    assert "retriever" in SERVICES
    installs = [item.arguments for stage in parsed.stages for item in stage.all("RUN")
                if "pip install" in item.arguments]
    assert any('".[retrieval,vectordb]"' in command for command in installs)
    assert any("torch==2.13.0" in command and "TORCH_INDEX_URL" in command for command in installs)
    extras = pyproject()["project"]["optional-dependencies"]["retrieval"]
    for package in ("faiss-cpu", "torch==", "transformers", "tokenizers"):
        assert any(requirement.startswith(package) for requirement in extras), package
    assert any(requirement.startswith("lancedb") for requirement
               in pyproject()["project"]["optional-dependencies"]["vectordb"])
    assert "https://download.pytorch.org/whl/cpu" in (DOCKER / "retriever.Dockerfile").read_text()
    # The chart deploys the retriever from this image.
    import yaml

    values = yaml.safe_load((REPO / "charts" / "mis" / "values.yaml").read_text())
    assert values["services"]["retriever"]["image"]["repository"].endswith("/" + IMAGES["retriever.Dockerfile"])


def test_services_image_has_the_coordinator_kubernetes_client():
    installs = " ".join(item.arguments for stage in dockerfile("services.Dockerfile").stages
                        for item in stage.all("RUN"))
    assert '"."' in installs
    assert any(dep.startswith("kubernetes") for dep in pyproject()["project"]["dependencies"])


def test_eval_image_has_lmms_eval_for_mis_eval_general():
    """lmms-eval, pinned as .venv-lmms is, in its own environment that reaches
    the runtime stage, and MIS_LMMS_PYTHON naming its interpreter, which is
    where `mis eval general` looks."""
    from services.evaluation.general import LMMS_PYTHON_VARIABLE

    parsed = dockerfile("eval.Dockerfile")
    assert exec_form(parsed.final.last("ENTRYPOINT")) == ["mis"]
    assert exec_form(parsed.final.last("CMD"))[0] == "eval"
    steps = [step.strip() for stage in parsed.stages for item in stage.all("RUN")
             for step in item.arguments.split("&&")]
    lmms_install = next(step for step in steps if step.endswith("lmms-eval torch"))
    venv = lmms_install.split("/bin/pip")[0]
    assert "-c requirements/lmms-eval.txt" in lmms_install
    pinned = (REPO / "requirements" / "lmms-eval.txt").read_text().splitlines()
    assert any(line.startswith("lmms-eval==") for line in pinned)
    # The platform itself goes into another environment, with the platform's pins.
    core = next(step for step in steps if step.endswith('"."'))
    assert "-c requirements/constraints.txt" in core and not core.startswith(venv + "/")
    copied = [copy_sources(item) for item in parsed.final.all("COPY")]
    assert ([venv], "build") in copied
    env = " ".join(item.arguments for item in parsed.final.all("ENV"))
    assert f"{LMMS_PYTHON_VARIABLE}={venv}/bin/python" in env
    assert "pip uninstall -y torchvision" in " ".join(steps)  # as make setup-lmms does


def test_trainer_image_runs_the_trainer_module():
    parsed = dockerfile("trainer.Dockerfile")
    entrypoint = exec_form(parsed.final.last("ENTRYPOINT"))
    assert entrypoint[:2] == ["python", "-m"]
    module = entrypoint[2]
    assert importlib.util.find_spec(module) is not None, f"{module} does not exist"
    installs = " ".join(item.arguments for stage in parsed.stages for item in stage.all("RUN"))
    assert '".[train]"' in installs and "torch==" in installs


def test_the_reader_refuses_what_it_cannot_trust():
    """The checks above are only as good as the parser; make sure it fails loudly."""
    with pytest.raises(ValueError, match="no default"):
        parse("FROM ${BASE}\n")
    with pytest.raises(ValueError, match="continued line"):
        parse("FROM python:3.11.14-slim\nRUN echo \\\n")
    parsed = parse("ARG B=python:3.11.14-slim\nFROM ${B} AS build\nRUN a \\\n  # note\n  b\n"
                   "FROM ${B}\nUSER 10001\nENTRYPOINT mis\n")
    assert parsed.stages[0].all("RUN")[0].arguments == "a b"
    with pytest.raises(ValueError):
        exec_form(parsed.final.last("ENTRYPOINT"))
