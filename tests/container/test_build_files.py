"""Dockerfile (hadolint, SageMaker contract) and buildspec (structure, and a run with stub aws/docker)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import CONTAINER, EXAMPLES, ROOT, write_package_without_entry_points

BUILDSPEC = CONTAINER / "buildspec.yml"
DOCKERFILE = CONTAINER / "Dockerfile"
PHASES = ("install", "pre_build", "build", "post_build")
REPOSITORY_URI = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-pipeline-abcd1234"
DIGEST = "sha256:" + "ab" * 32
GIT_SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.lint
def test_hadolint_is_clean() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "hadolint"), str(DOCKERFILE)], capture_output=True, text=True
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_dockerfile_keeps_the_sagemaker_contract() -> None:
    text = DOCKERFILE.read_text()
    assert "ARG BASE_IMAGE=python:3.12-slim" in text
    assert "LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true" in text
    assert "EXPOSE 8080" in text
    assert "PYTHONUNBUFFERED=1" in text
    assert "smp-check --for build" in text
    final_stage = text.rsplit("FROM ", 1)[1]
    assert "COPY --from=deps /opt/venv /opt/venv" in final_stage
    assert "COPY --from=build /opt/app/ /opt/venv/" in final_stage
    # nothing else installed in the final stage (no build tools, no caches) but the Debian packages the
    # package's table asks for, whose apt lists are removed in the same layer
    [install] = [line for line in final_stage.splitlines() if line.startswith("RUN")]
    assert install.startswith("RUN if [ -s /tmp/debian-packages.txt ]")
    assert "rm -rf /var/lib/apt/lists/*" in final_stage
    # exec form: `IMAGE train` becomes `smp-dispatch train`, which execs train as PID 1 (no shell in between)
    assert final_stage.rstrip().endswith('ENTRYPOINT ["/opt/venv/bin/smp-dispatch"]')
    assert "CMD" not in final_stage  # no command = smp-dispatch chooses; a CMD would hide that


def test_dockerfile_orders_layers_so_a_code_change_rebuilds_only_the_package() -> None:
    """The layer cache keeps every layer before the first one whose input changed: the package's
    files are copied after the dependencies and the runtime are installed, and the final image takes
    them as a layer of their own."""
    lines = [line.split()[0:2] for line in DOCKERFILE.read_text().splitlines() if line[:1].isupper()]
    order = [" ".join(words) for words in lines if words[0] in ("COPY", "FROM")]
    assert order.index("COPY requirements.txt") < order.index("COPY runtime/") < order.index("COPY package/")
    assert order[-2:] == ["COPY --from=deps", "COPY --from=build"]


def test_buildspec_phases_and_exported_variables() -> None:
    spec = yaml.safe_load(BUILDSPEC.read_text())
    assert str(spec["version"]) == "0.2"
    assert tuple(spec["phases"]) == PHASES
    assert spec["env"]["exported-variables"] == ["IMAGE_URI", "IMAGE_DIGEST"]
    pre_build = "\n".join(spec["phases"]["pre_build"]["commands"])
    assert "smp-check" in pre_build
    build = "\n".join(spec["phases"]["build"]["commands"])
    assert "docker build" in build and "docker push" in build
    for phase in ("install", "pre_build", "build"):
        assert spec["phases"][phase]["on-failure"] == "ABORT"
    for phase in PHASES:  # an unquoted "echo a: b" would parse as a mapping, which CodeBuild rejects
        assert all(isinstance(command, str) for command in spec["phases"][phase]["commands"]), phase


AWS_STUB = """#!/usr/bin/env bash
echo "aws $*" >> "$STUB_DIR/calls"
case "$1 $2" in
  "s3 cp") cp "$STUB_BUNDLE" "${@: -1}" ;;
  "ecr get-login-password") echo token ;;
  "ecr describe-images")
    [ -f "$STUB_DIR/pushed" ] || { echo "ImageNotFoundException" >&2; exit 254; }
    case "$*" in
      *"imageTag=$(cat "$STUB_DIR/pushed")"*) echo "$STUB_DIGEST" ;;
      *--image-ids*) echo "ImageNotFoundException" >&2; exit 254 ;;
      *) cat "$STUB_DIR/pushed" ;;  # the last pushed image's tag (the layer cache)
    esac ;;
  *) echo "unexpected aws call: $*" >&2; exit 2 ;;
esac
"""

DOCKER_STUB = """#!/usr/bin/env bash
echo "docker $*" >> "$STUB_DIR/calls"
case "$1" in
  login) cat > /dev/null ;;
  build) cp -r "${@: -1}" "$STUB_DIR/context" ;;
  push) echo "${2##*:}" > "$STUB_DIR/pushed" ;;
esac
"""


def run_buildspec(
    tmp_path: Path, package: Path, stub_dir: Path, **overrides: str
) -> subprocess.CompletedProcess:
    """Runs the phases' commands in one bash session, as CodeBuild does, aborting on the first failure."""
    from scripts.package_container import build as package_container

    spec = yaml.safe_load(BUILDSPEC.read_text())
    bin_dir = stub_dir / "bin"
    if not bin_dir.exists():
        bin_dir.mkdir(parents=True)
        for name, text in (("aws", AWS_STUB), ("docker", DOCKER_STUB)):
            (bin_dir / name).write_text(text)
            (bin_dir / name).chmod(0o755)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        **{k: str(v) for k, v in spec["env"]["variables"].items()},
        "BUILD_WORK_DIR": str(tmp_path / "work"),
        "ECR_REPOSITORY_URI": REPOSITORY_URI,
        "CONTAINER_BUNDLE_URI": "s3://code-bucket/stack/container-0123/container.zip",
        "CODEBUILD_RESOLVED_SOURCE_VERSION": GIT_SHA,
        "CODEBUILD_BUILD_SUCCEEDING": "1",
        "STUB_DIR": str(stub_dir),
        "STUB_BUNDLE": str(package_container(tmp_path / "container.zip")),
        "STUB_DIGEST": DIGEST,
        **overrides,
    }
    lines = []
    for phase in PHASES:
        for command in spec["phases"][phase]["commands"]:
            lines += [command, f'rc=$?; [ $rc -eq 0 ] || {{ echo "PHASE FAILED: {phase}"; exit $rc; }}']
    lines += [f'echo "EXPORTED {name}=${name}"' for name in spec["env"]["exported-variables"]]
    return subprocess.run(
        ["bash", "-c", "\n".join(lines)], cwd=package, env=env, capture_output=True, text=True, timeout=300
    )


def exported(result: subprocess.CompletedProcess) -> dict[str, str]:
    pairs = [line.split(" ", 1)[1] for line in result.stdout.splitlines() if line.startswith("EXPORTED ")]
    return dict(pair.split("=", 1) for pair in pairs)


def test_buildspec_builds_pushes_and_exports_then_reuses_the_image(tmp_path: Path) -> None:
    source = shutil.copytree(EXAMPLES / "iris_model", tmp_path / "source")
    stubs = tmp_path / "stubs"
    first = run_buildspec(tmp_path, source, stubs)
    assert first.returncode == 0, first.stdout + first.stderr
    variables = exported(first)
    tag = variables["IMAGE_URI"].rsplit(":", 1)[1]
    assert variables["IMAGE_URI"] == f"{REPOSITORY_URI}:{tag}"
    assert tag.startswith(GIT_SHA + "-") and len(tag) == 40 + 1 + 12
    assert variables["IMAGE_DIGEST"] == DIGEST
    calls = (stubs / "calls").read_text().splitlines()
    assert "aws s3 cp --only-show-errors s3://code-bucket/stack/container-0123/container.zip" in calls[0]
    assert (
        "docker login --username AWS --password-stdin 123456789012.dkr.ecr.eu-west-1.amazonaws.com" in calls
    )
    assert f"docker push {REPOSITORY_URI}:{tag}" in calls
    base = "BASE_IMAGE=public.ecr.aws/docker/library/python:3.12-slim"
    assert any(
        call.startswith(f"docker build --build-arg {base} --tag {REPOSITORY_URI}:{tag}") for call in calls
    )
    context = stubs / "context"
    assert sorted(p.name for p in context.iterdir()) == [
        "Dockerfile",
        "debian-packages.txt",
        "package",
        "requirements.txt",
        "runtime",
        "wheels",
    ]
    assert (context / "package" / "src" / "iris_model" / "train.py").exists()
    assert "smp-check: OK iris-model" in first.stdout

    assert not any(call.startswith("docker pull") for call in calls)  # nothing to cache from yet

    (stubs / "calls").unlink()
    again = run_buildspec(tmp_path, source, stubs)
    assert again.returncode == 0, again.stdout + again.stderr
    assert exported(again) == variables
    assert "already exists; reusing it" in again.stdout
    assert not any(
        call.startswith(("docker build", "docker push"))
        for call in (stubs / "calls").read_text().splitlines()
    )

    # A new commit builds on the last image pushed, as its layer cache.
    (stubs / "calls").unlink()
    newer = run_buildspec(tmp_path, source, stubs, CODEBUILD_RESOLVED_SOURCE_VERSION="f" * 40)
    assert newer.returncode == 0, newer.stdout + newer.stderr
    calls = (stubs / "calls").read_text().splitlines()
    previous = variables["IMAGE_URI"]
    assert f"docker pull --quiet {previous}" in calls
    [build] = [call for call in calls if call.startswith("docker build")]
    assert f"--cache-from {previous}" in build and "BUILDKIT_INLINE_CACHE=1" in build
    assert exported(newer)["IMAGE_URI"] != previous


def test_buildspec_fails_with_the_snippet_when_entry_points_are_missing(tmp_path: Path) -> None:
    source = write_package_without_entry_points(tmp_path / "source")
    stubs = tmp_path / "stubs"
    result = run_buildspec(tmp_path, source, stubs)
    assert result.returncode == 2
    assert "PHASE FAILED: pre_build" in result.stdout
    assert '[project.entry-points."your_package.training"]' in result.stderr
    assert not any(call.startswith("docker") for call in (stubs / "calls").read_text().splitlines())


def test_buildspec_refuses_to_tag_without_a_commit(tmp_path: Path) -> None:
    source = shutil.copytree(EXAMPLES / "iris_model", tmp_path / "source")
    result = run_buildspec(tmp_path, source, tmp_path / "stubs", CODEBUILD_RESOLVED_SOURCE_VERSION="")
    assert result.returncode == 1
    assert "no git commit sha" in result.stdout


def test_context_holds_the_package_runtime_and_wheels(tmp_path: Path) -> None:
    import build_image

    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "x-1.0-py3-none-any.whl").write_bytes(b"")
    context = build_image.assemble_context(EXAMPLES / "iris_seed", tmp_path / "context", wheels)
    assert (context / "Dockerfile").read_text() == DOCKERFILE.read_text()
    assert (context / "runtime" / "smp_runtime" / "serving" / "app.py").exists()
    assert (context / "package" / "src" / "iris_seed" / "server.py").exists()
    assert (context / "wheels" / "x-1.0-py3-none-any.whl").exists()
    with pytest.raises(build_image.BuildError, match=r"no pyproject\.toml or setup\.py"):
        build_image.assemble_context(ROOT / "docs", tmp_path / "other")
