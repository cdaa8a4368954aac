"""The Build stage locally: the runtime and the user package installed into one directory (the image's
equivalent), its content digest recorded, and the result "pushed" to the stack's ECR repository."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localmode import ROOT
from localmode.aws.iam import service_requests
from localmode.aws.iam.requests import AuthRequest, Where
from localmode.aws.sagemaker.runtimes import PodmanRuntime, ProcessRuntime, Runtime
from localmode.pipeline import package_needs
from localmode.pipeline.source import IGNORED, SourceRevision, tree_id

CONTAINER_DIR = ROOT / "container"
RUNTIME_DIR = CONTAINER_DIR / "runtime"
RUNTIME_DISTRIBUTION = "smp-runtime"
DEPENDENCIES_DIR = ".deps"  # in the build folder: the package's dependencies this Python lacks
MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"


class BuildError(RuntimeError):
    pass


@dataclass(frozen=True)
class BuiltImage:
    image_uri: str
    image_digest: str
    content_digest: str
    runtime: Runtime
    reused: bool
    local_image: str = ""  # the podman tag, when the real image was built


def content_digest(directory: Path) -> str:
    """sha256 over every installed file's path and bytes (compiled caches excluded)."""
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            digest.update(str(path.relative_to(directory)).encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return "sha256:" + digest.hexdigest()


def install(target: Path, sources: list[Path], scratch: Path) -> None:
    """pip install without an index or build isolation: only this machine's packages are used."""
    copies = []
    for source in sources:
        copy = scratch / source.name
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(source, copy, ignore=IGNORED)
        copies.append(str(copy))
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input"]
    command += ["--no-index", "--no-build-isolation", "--no-deps", "--target", str(target), *copies]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BuildError(f"installing {', '.join(s.name for s in sources)} failed:\n{result.stderr.strip()}")


def tree_digest(directory: Path) -> str:
    """sha256 over a source tree's paths and bytes, skipping what the build ignores."""
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        parts = path.relative_to(directory).parts
        if any(part in ("build", "dist", "__pycache__") or part.endswith(".egg-info") for part in parts):
            continue
        if path.is_file() and path.suffix != ".pyc":
            digest.update(str(path.relative_to(directory)).encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def build_key(revision: SourceRevision) -> str:
    """What a build depends on: the package as committed (its dependencies are in its pyproject), the
    runtime's sources, the image's pinned requirements and this Python. Two runs of the same content
    share a build, whatever their commit sha; different content never does."""
    digest = hashlib.sha256()
    digest.update(b"package\0" + tree_id(revision).encode())
    digest.update(b"runtime\0" + tree_digest(RUNTIME_DIR).encode())
    requirements = CONTAINER_DIR / "requirements.txt"
    if requirements.is_file():
        digest.update(b"requirements\0" + requirements.read_bytes())
    digest.update(b"python\0" + sys.version.encode())
    return digest.hexdigest()


def check_debian_packages(repository: Path) -> None:
    """Fails the build, saying what to install, when the package's Debian packages are missing here."""
    builder = _container_builder()
    try:
        package_needs.require_debian_packages(builder.debian_packages(repository))
    except (builder.BuildError, package_needs.PackageNeedsError) as error:
        raise BuildError(str(error)) from error


def install_tree(tree: Path, repository: Path, scratch: Path) -> None:
    """The runtime and the package, then the package's dependencies this Python does not satisfy."""
    install(tree, [RUNTIME_DIR, repository], scratch)
    wanted = package_needs.unsatisfied(package_needs.package_requirements(tree, {RUNTIME_DISTRIBUTION}))
    if wanted:
        try:
            package_needs.install_dependencies(wanted, tree / DEPENDENCIES_DIR)
        except package_needs.PackageNeedsError as error:
            raise BuildError(str(error)) from error


def build_package(revision: SourceRevision, build_root: Path) -> tuple[ProcessRuntime, str, bool]:
    """Install runtime + package once per content key. The install goes to a folder of its own and is
    renamed into place when complete, so concurrent builders (of one work folder or a shared cache)
    never see or mix a half-built tree: the first rename wins, a later one is discarded."""
    check_debian_packages(revision.repository)
    target = build_root / build_key(revision)[:24]
    marker = target / ".complete"
    reused = marker.is_file()
    if not reused:
        build_root.mkdir(parents=True, exist_ok=True)
        staging = build_root / f".building-{target.name}-{uuid.uuid4().hex[:8]}"
        try:
            install_tree(staging / "tree", revision.repository, staging / "scratch")
            (staging / "tree" / ".complete").write_text(revision.commit)
            try:
                (staging / "tree").rename(target)
            except OSError:
                if not marker.is_file():
                    raise
                reused = True  # another build of the same content finished first
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return process_runtime(target), content_digest(target), reused


def process_runtime(target: Path) -> ProcessRuntime:
    """How the emulator runs a build folder: its bin/ (console scripts too) and its dependencies."""
    dependencies = target / DEPENDENCIES_DIR
    has_dependencies = dependencies.is_dir()
    return ProcessRuntime(
        bin_dir=target / "bin",
        python_path=(target, dependencies) if has_dependencies else (target,),
        extra_bin_dirs=(dependencies / "bin",) if (dependencies / "bin").is_dir() else (),
        own_server=package_needs.declares_own_server(target),
    )


def push_image(ecr: Any, repository_uri: str, tag: str, digest: str) -> tuple[str, str]:
    """Record the build in ECR as an image manifest whose config is the content digest."""
    repository = repository_uri.split("/", 1)[1]
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 0,
                "digest": digest,
            },
            "layers": [],
        },
        sort_keys=True,
    )
    existing = ecr.batch_get_image(repositoryName=repository, imageIds=[{"imageTag": tag}])["images"]
    if existing:
        manifest = existing[0]["imageManifest"]  # tags are immutable: the first push of this sha stands
    else:
        ecr.put_image(
            repositoryName=repository,
            imageManifest=manifest,
            imageManifestMediaType=MANIFEST_MEDIA_TYPE,
            imageTag=tag,
        )
    # A registry digest is the sha256 of the manifest (moto reports the digest of an empty one).
    return f"{repository_uri}:{tag}", "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()


def repository_has_images(ecr: Any, repository_uri: str) -> bool:
    """The buildspec pulls the last pushed image as its layer cache when there is one."""
    repository = repository_uri.split("/", 1)[1]
    return bool(ecr.list_images(repositoryName=repository, maxResults=1)["imageIds"])


def image_exists(ecr: Any, repository_uri: str, tag: str) -> bool:
    repository = repository_uri.split("/", 1)[1]
    return bool(ecr.batch_get_image(repositoryName=repository, imageIds=[{"imageTag": tag}])["images"])


def _s3_location(uri_or_arn: str) -> tuple[str, str]:
    bucket, _, key = uri_or_arn.removeprefix("s3://").removeprefix("arn:aws:s3:::").partition("/")
    return bucket, key


def codebuild_requests(
    project: dict[str, Any],
    source_artifact: tuple[str, str],
    pushed: bool,
    where: Where,
    cache_from: bool = False,
) -> list[AuthRequest]:
    """What one build of the project asks for with its service role (``project`` as BatchGetProjects
    returns it): the buildspec and the container bundle it names, the repository it pushes to."""
    environment = {item["name"]: item["value"] for item in project["environment"]["environmentVariables"]}
    return service_requests.image_build(
        log_group=project["logsConfig"]["cloudWatchLogs"]["groupName"],
        build_id=f"{project['name']}:{uuid.uuid4()}",
        artifact=source_artifact,
        buildspec=_s3_location(project["source"]["buildspec"]),
        bundle=_s3_location(environment["CONTAINER_BUNDLE_URI"]),
        repository=environment["ECR_REPOSITORY_URI"].split("/", 1)[1],
        pushed=pushed,
        where=where,
        cache_from=cache_from,
    )


def build_image(revision: SourceRevision, build_root: Path, ecr: Any, repository_uri: str) -> BuiltImage:
    runtime, digest, reused = build_package(revision, build_root)
    image_uri, image_digest = push_image(ecr, repository_uri, revision.commit, digest)
    return BuiltImage(image_uri, image_digest, digest, runtime, reused)


def _container_builder() -> Any:
    """container/build_image.py, the image build CodeBuild's buildspec and the container tests use."""
    spec = importlib.util.spec_from_file_location("smp_build_image", CONTAINER_DIR / "build_image.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def podman_image_id(tag: str) -> str:
    result = subprocess.run(
        ["podman", "image", "inspect", "--format", "{{.Id}}", tag],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() if result.returncode == 0 else ""


def build_container_image(
    revision: SourceRevision, ecr: Any, repository_uri: str, tag_prefix: str
) -> BuiltImage:
    """The real image from container/Dockerfile (offline: debootstrap base + cached wheels)."""
    tag = f"localhost/{tag_prefix}:{build_key(revision)[:12]}"  # content, not the per-run commit
    reused = bool(podman_image_id(tag))
    if not reused:
        builder = _container_builder()
        try:
            builder.build(revision.repository, tag)
        except builder.BuildError as error:
            raise BuildError(str(error)) from error
    digest = "sha256:" + podman_image_id(tag).removeprefix("sha256:")
    image_uri, image_digest = push_image(ecr, repository_uri, revision.commit, digest)
    return BuiltImage(image_uri, image_digest, digest, PodmanRuntime(tag), reused, local_image=tag)


def remove_container_image(tag: str) -> None:
    subprocess.run(["podman", "rmi", "--force", tag], capture_output=True, check=False)


def local_container_images(tag_prefix: str) -> list[str]:
    """Images a previous `--image` run of this stack built (kept as a cache until a purge)."""
    if shutil.which("podman") is None:
        return []
    listing = subprocess.run(
        [
            "podman",
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}}",
            "--filter",
            f"reference=localhost/{tag_prefix}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return [line for line in listing.stdout.split() if line.startswith(f"localhost/{tag_prefix}:")]
