"""Installs the runtime and a user package outside the image: the image's equivalent, for local runs.

Two ways:
- `--target DIR`: runtime + packages only (no dependencies) into DIR, for an interpreter that already
  has the image's requirements (this repo's .venv does). Run `DIR/bin/train` / `DIR/bin/serve` with
  the environment from `run_environment(DIR)` (PYTHONPATH=DIR).
- `--venv DIR`: a fresh virtual environment with container/requirements.txt, the runtime and the
  packages, like the image's /opt/venv.

    python container/install_local.py --target /tmp/smp examples/iris_model
    SAGEMAKER_BASE_DIR=/tmp/ml PYTHONPATH=/tmp/smp /tmp/smp/bin/train
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import venv
from collections.abc import Sequence
from pathlib import Path

CONTAINER_DIR = Path(__file__).resolve().parent
RUNTIME_DIR = CONTAINER_DIR / "runtime"
REQUIREMENTS = CONTAINER_DIR / "requirements.txt"
PIP_QUIET = ["--quiet", "--disable-pip-version-check", "--no-input"]
_BUILD_LEFTOVERS = shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__", ".venv", ".git")


def install_into_target(
    target: Path, packages: Sequence[Path], python: str = sys.executable, with_runtime: bool = True
) -> Path:
    """pip-installs the runtime (unless with_runtime=False) and `packages`, without dependencies."""
    target.mkdir(parents=True, exist_ok=True)
    command = [python, "-m", "pip", "install", *PIP_QUIET, "--no-deps", "--upgrade"]
    if _can_build_in_place(python):
        command.append("--no-build-isolation")  # seconds instead of a fresh setuptools per package
    sources = [RUNTIME_DIR, *packages] if with_runtime else list(packages)
    with tempfile.TemporaryDirectory(prefix="smp-install-") as scratch:
        copies = _clean_copies(sources, Path(scratch))
        subprocess.run([*command, "--target", str(target), *map(str, copies)], check=True)
    return target


def _clean_copies(sources: Sequence[Path], scratch: Path) -> list[Path]:
    """pip builds in-tree; building copies keeps build/ and *.egg-info out of the sources."""
    copies = []
    for index, source in enumerate(sources):
        copy = scratch / f"{index}-{Path(source).resolve().name}"
        shutil.copytree(source, copy, ignore=_BUILD_LEFTOVERS)
        copies.append(copy)
    return copies


def _can_build_in_place(python: str) -> bool:
    probe = subprocess.run([python, "-c", "import setuptools, wheel"], capture_output=True, check=False)
    return probe.returncode == 0


def install_into_venv(venv_dir: Path, packages: Sequence[Path]) -> Path:
    """A virtual environment with the image's requirements, the runtime and `packages`."""
    python = venv_dir / "bin" / "python"
    if not python.exists():
        venv.EnvBuilder(with_pip=True).create(venv_dir)
    command = [str(python), "-m", "pip", "install", *PIP_QUIET, "-r", str(REQUIREMENTS)]
    with tempfile.TemporaryDirectory(prefix="smp-install-") as scratch:
        copies = _clean_copies([RUNTIME_DIR, *packages], Path(scratch))
        subprocess.run([*command, *map(str, copies)], check=True)
    return venv_dir


def run_environment(target: Path, base_dir: Path | None = None) -> dict[str, str]:
    """os.environ plus what `target/bin/train` and `target/bin/serve` need to find their code."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(target), env.get("PYTHONPATH", "")) if p)
    env["PATH"] = os.pathsep.join((str(target / "bin"), env.get("PATH", "")))
    env["PYTHONUNBUFFERED"] = "1"
    if base_dir is not None:
        env["SAGEMAKER_BASE_DIR"] = str(base_dir)
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--target", type=Path, help="install runtime + packages (no dependencies) here")
    where.add_argument("--venv", type=Path, help="create/update a virtualenv with everything the image has")
    parser.add_argument(
        "packages", nargs="*", type=Path, help="package directories (pyproject.toml/setup.py)"
    )
    args = parser.parse_args(argv)
    for package in args.packages:
        if not any((package / name).is_file() for name in ("pyproject.toml", "setup.py")):
            parser.error(f"{package} has no pyproject.toml or setup.py")
    if args.target:
        install_into_target(args.target, args.packages)
        print(f"installed into {args.target}; run with PYTHONPATH={args.target} {args.target}/bin/train")
    else:
        install_into_venv(args.venv, args.packages)
        print(f"installed into {args.venv}; run {args.venv}/bin/train or {args.venv}/bin/serve")
    return 0


if __name__ == "__main__":
    sys.exit(main())
