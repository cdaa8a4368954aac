"""The Source stage locally: the example package as a git repository, "pushed" at a commit sha."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

IGNORED = shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__", "*.pyc")
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "sagemaker-pipeline local mode",
    "GIT_AUTHOR_EMAIL": "local@example.com",
    "GIT_COMMITTER_NAME": "sagemaker-pipeline local mode",
    "GIT_COMMITTER_EMAIL": "local@example.com",
}


@dataclass(frozen=True)
class SourceRevision:
    repository: Path
    commit: str
    branch: str


def _git(repository: Path, *args: str) -> str:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(repository), **GIT_IDENTITY}
    result = subprocess.run(
        ["git", "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args],
        cwd=repository,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip()


def push_package(package_dir: Path, repository: Path, branch: str = "main") -> SourceRevision:
    """Copy the package into a local git repository and commit it; the same content keeps its sha."""
    if not (package_dir / "pyproject.toml").is_file() and not (package_dir / "setup.py").is_file():
        raise FileNotFoundError(f"{package_dir} is not a Python package (no pyproject.toml or setup.py)")
    if not (repository / ".git").is_dir():
        repository.mkdir(parents=True, exist_ok=True)
        _git(repository, "init", "--quiet", "--initial-branch", branch)
    for child in repository.iterdir():
        if child.name != ".git":
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    shutil.copytree(package_dir, repository, ignore=IGNORED, dirs_exist_ok=True)
    _git(repository, "add", "--all")
    if _git(repository, "status", "--porcelain"):
        _git(repository, "commit", "--quiet", "-m", f"{package_dir.name}: pushed by local mode")
    return SourceRevision(repository, _git(repository, "rev-parse", "HEAD"), branch)


def tree_id(revision: SourceRevision) -> str:
    """The git tree of the commit: its content (files and modes), whatever the commit's time."""
    return _git(revision.repository, "rev-parse", f"{revision.commit}^{{tree}}")
