"""Builds the image: assembles the build context, and, where no registry is reachable, a base and wheels.

    # CodeBuild (buildspec.yml): context only, then `docker build`
    python3 container/build_image.py context --package . --output /tmp/context

    # this machine (podman, no image registry): base from debootstrap, wheels from PyPI, build
    python3 container/build_image.py build --package examples/iris_model --tag localhost/iris:dev

Offline builds: the base image is made with debootstrap (Debian bookworm, its python3) and imported
once as localhost/smp-base:bookworm; wheels for that Python (the image's requirements, the package's
own dependencies and its build backend) are downloaded once into a cache directory
(~/.cache/sagemaker-pipeline, or SMP_CACHE_DIR); the build installs with PIP_NO_INDEX=1.

The package's `[tool.sagemaker-pipeline]` table may list `debian-packages` (e.g. ["nginx"]): the image
installs them with apt-get (docs/contracts.md has the table's schema).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

CONTAINER_DIR = Path(__file__).resolve().parent
RUNTIME_DIR = CONTAINER_DIR / "runtime"
REQUIREMENTS = CONTAINER_DIR / "requirements.txt"
PODMAN_CONF = CONTAINER_DIR / "podman-containers.conf"
BASE_TAG = "localhost/smp-base:bookworm"
DEBIAN_SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# Build backends the packages need when pip builds them without an index.
BUILD_REQUIREMENTS = ("setuptools==80.9.0", "wheel==0.45.1")
WHEEL_PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "linux_x86_64")
CONTEXT_TIMESTAMP = 315532800  # 1980-01-01, the earliest time a zip (the container bundle) can hold
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist", ".venv", ".git")


PACKAGE_TABLE = "sagemaker-pipeline"
DEBIAN_PACKAGES_KEY = "debian-packages"
DEBIAN_PACKAGES_FILE = "debian-packages.txt"
# Debian policy: lower case letters, digits, + - . ; at least two characters, starting alphanumeric.
DEBIAN_PACKAGE_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]+")


class BuildError(RuntimeError):
    """A build step failed; the message says which and why."""


def read_pyproject(package: Path) -> dict[str, object]:
    pyproject = package / "pyproject.toml"
    if not pyproject.is_file():
        return {}
    try:
        return tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise BuildError(f"{pyproject} cannot be read: {error}") from error


def debian_packages(package: Path) -> list[str]:
    """The Debian packages the package's [tool.sagemaker-pipeline] table asks for (validated)."""
    tool = read_pyproject(package).get("tool", {})
    table = tool.get(PACKAGE_TABLE, {}) if isinstance(tool, dict) else {}
    where = f"[tool.{PACKAGE_TABLE}] {DEBIAN_PACKAGES_KEY} in {package / 'pyproject.toml'}"
    if not isinstance(table, dict):
        raise BuildError(f"[tool.{PACKAGE_TABLE}] in {package / 'pyproject.toml'} must be a table")
    names = table.get(DEBIAN_PACKAGES_KEY, [])
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise BuildError(f'{where} must be a list of package names, e.g. {DEBIAN_PACKAGES_KEY} = ["nginx"]')
    invalid = [name for name in names if not DEBIAN_PACKAGE_NAME.fullmatch(name)]
    if invalid:
        raise BuildError(
            f"{where}: {', '.join(map(repr, invalid))} is not a Debian package name (lower-case letters, "
            "digits and + - . only; versions are not pinned here)"
        )
    return list(dict.fromkeys(names))


def build_requirements(package: Path) -> list[str]:
    """What pip needs to build the package: its [build-system] requires, else setuptools + wheel."""
    system = read_pyproject(package).get("build-system", {})
    requires = system.get("requires") if isinstance(system, dict) else None
    return [str(item) for item in requires] if isinstance(requires, list) else list(BUILD_REQUIREMENTS)


def package_requirements(package: Path) -> list[str]:
    """The package's own dependencies (Requires-Dist without extras), read from a wheel built from it,
    so that pyproject.toml and setup.py packages alike are honoured."""
    with tempfile.TemporaryDirectory(prefix="smp-metadata-") as scratch:
        copy = Path(scratch) / "package"
        shutil.copytree(package, copy, ignore=_IGNORED)
        command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check"]
        wheel_dir = Path(scratch) / "wheel"
        command += ["--no-deps", "--no-build-isolation", "--wheel-dir", str(wheel_dir), str(copy)]
        _run(command, f"reading the dependencies of {package}")
        [wheel] = wheel_dir.glob("*.whl")
        with zipfile.ZipFile(wheel) as archive:
            [metadata] = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
            text = archive.read(metadata).decode("utf-8")
    requirements = []
    for line in text.splitlines():
        if line.startswith("Requires-Dist:"):
            requirement = line.split(":", 1)[1].strip()
            if "extra ==" not in requirement.replace('"', "'").replace("extra==", "extra =="):
                requirements.append(requirement)
    return requirements


def cache_dir() -> Path:
    return Path(os.environ.get("SMP_CACHE_DIR") or Path.home() / ".cache" / "sagemaker-pipeline")


@contextlib.contextmanager
def _cache_lock(name: str) -> Iterator[None]:
    """Serialises base and wheel preparation between concurrent builds (tests, local mode)."""
    cache_dir().mkdir(parents=True, exist_ok=True)
    with open(cache_dir() / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def engine_environment() -> dict[str, str]:
    """os.environ plus the podman settings these machines need (kept if the caller set their own)."""
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(PODMAN_CONF))
    return env


def _run(command: Sequence[str], what: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(command), text=True, capture_output=True, check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()[-4000:]
        raise BuildError(f"{what} failed (exit {result.returncode}): {' '.join(command)}\n{output}")
    return result


def assemble_context(package: Path, output: Path, wheels: Path | None = None) -> Path:
    """Dockerfile, requirements.txt, runtime/, package/ and wheels/ in `output` (replaced if present)."""
    if not any((package / name).is_file() for name in ("pyproject.toml", "setup.py")):
        raise BuildError(f"{package} is not a Python package: it has no pyproject.toml or setup.py")
    if output.exists():
        shutil.rmtree(output)
    output.mkdir(parents=True)
    shutil.copy2(CONTAINER_DIR / "Dockerfile", output / "Dockerfile")
    shutil.copy2(REQUIREMENTS, output / "requirements.txt")
    shutil.copytree(RUNTIME_DIR, output / "runtime", ignore=_IGNORED)
    shutil.copytree(package, output / "package", ignore=_IGNORED)
    if wheels is not None:
        shutil.copytree(wheels, output / "wheels")
    else:
        (output / "wheels").mkdir()
    (output / DEBIAN_PACKAGES_FILE).write_text("".join(f"{name}\n" for name in debian_packages(package)))
    _fix_timestamps(output)
    return output


def _fix_timestamps(root: Path) -> None:
    """podman's layer cache keys a COPY on the files' times too: a fresh copy of unchanged files
    would rebuild every layer from the first COPY on. One fixed time keeps unchanged layers cached."""
    for path in [root, *root.rglob("*")]:
        os.utime(path, (CONTEXT_TIMESTAMP, CONTEXT_TIMESTAMP), follow_symlinks=False)


def image_exists(engine: str, tag: str) -> bool:
    probe = subprocess.run([engine, "image", "exists", tag], env=engine_environment(), check=False)
    return probe.returncode == 0


def ensure_base_image(engine: str = "podman", mirror: str | None = None) -> str:
    """localhost/smp-base:bookworm, made once with debootstrap (python3, python3-venv) and imported."""
    with _cache_lock("base"):
        if not image_exists(engine, BASE_TAG):
            _make_base_image(engine, mirror)
    return BASE_TAG


def _make_base_image(engine: str, mirror: str | None) -> None:
    if shutil.which("debootstrap") is None and not Path("/usr/sbin/debootstrap").exists():
        raise BuildError(
            "debootstrap is not installed (apt-get install debootstrap); it makes the base image"
        )
    root = cache_dir() / f"debootstrap-{DEBIAN_SUITE}"
    complete = root.with_name(root.name + ".complete")
    if not complete.exists():
        if root.exists():
            shutil.rmtree(root)
        root.parent.mkdir(parents=True, exist_ok=True)
        mirror = mirror or os.environ.get("DEBIAN_MIRROR") or DEFAULT_MIRROR
        _run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=python3,python3-venv",
                DEBIAN_SUITE,
                str(root),
                mirror,
            ],
            "debootstrap",
        )
        complete.touch()
    tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
    try:
        _run(
            [engine, "import", "-", BASE_TAG],
            "importing the base image",
            stdin=tar.stdout,
            env=engine_environment(),
        )
    finally:
        tar.wait()


def base_python_version(engine: str, base_image: str) -> str:
    command = [
        engine,
        "run",
        "--rm",
        base_image,
        "python3",
        "-c",
        "import sys; print('%d.%d' % sys.version_info[:2])",
    ]
    return _run(command, "probing the base image's Python", env=engine_environment()).stdout.strip()


def ensure_wheelhouse(python_version: str, extra: Sequence[str] = ()) -> Path:
    """Wheels for container/requirements.txt, the build backends and `extra` (the package's own
    dependencies and build backend) for `python_version`, cached per set."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes() + "\n".join([*BUILD_REQUIREMENTS, *extra]).encode())
    wheels = cache_dir() / f"wheels-py{python_version}-{digest.hexdigest()[:12]}"
    with _cache_lock("wheels"):
        if not (wheels / ".complete").exists():
            _download_wheels(wheels, python_version, extra)
    return wheels


def _download_wheels(wheels: Path, python_version: str, extra: Sequence[str]) -> None:
    wheels.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"]
    command += ["--only-binary=:all:", "--python-version", python_version, "--implementation", "cp"]
    for platform in WHEEL_PLATFORMS:
        command += ["--platform", platform]
    command += ["--dest", str(wheels), "-r", str(REQUIREMENTS), *BUILD_REQUIREMENTS, *extra]
    _run(command, f"downloading wheels for Python {python_version}")
    (wheels / ".complete").touch()


def build(
    package: Path,
    tag: str,
    engine: str = "podman",
    base_image: str | None = None,
    offline: bool = True,
    use_layer_cache: bool = True,
) -> str:
    """Builds `tag` from `package`; offline = debootstrap base + cached wheels + PIP_NO_INDEX=1."""
    build_args: list[str] = [] if use_layer_cache else ["--no-cache"]
    wheels = None
    if offline:
        base_image = base_image or ensure_base_image(engine)
        extra = [*package_requirements(package), *build_requirements(package)]
        wheels = ensure_wheelhouse(base_python_version(engine, base_image), extra)
        build_args += ["--build-arg", "PIP_NO_INDEX=1"]
    if base_image:
        build_args += ["--build-arg", f"BASE_IMAGE={base_image}"]
    # One build at a time per machine: concurrent podman builds (parallel test runs) trip over
    # each other's layer storage.
    with tempfile.TemporaryDirectory(prefix="smp-context-") as scratch, _cache_lock("build"):
        context = assemble_context(package, Path(scratch) / "context", wheels)
        _run(
            [engine, "build", *build_args, "--tag", tag, str(context)],
            "image build",
            env=engine_environment(),
        )
    return tag


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    context = commands.add_parser("context", help="assemble the build context")
    context.add_argument("--package", type=Path, required=True, help="the user's package directory")
    context.add_argument("--output", type=Path, required=True)
    context.add_argument("--wheels", type=Path, help="directory of wheels to ship in the context")
    image = commands.add_parser("build", help="build the image with a local engine")
    image.add_argument("--package", type=Path, required=True)
    image.add_argument("--tag", required=True)
    image.add_argument("--engine", default="podman")
    image.add_argument("--base-image", help="default: python:3.12-slim online, the debootstrap base offline")
    image.add_argument("--online", action="store_true", help="pull the base and use the package index")
    args = parser.parse_args(argv)
    try:
        if args.command == "context":
            print(assemble_context(args.package, args.output, args.wheels))
        else:
            print(build(args.package, args.tag, args.engine, args.base_image, offline=not args.online))
    except BuildError as error:
        print(f"build_image: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
