"""What a user package needs beyond local mode's own Python: its dependencies and Debian packages.

Process mode installs the package into a folder (the image's stand-in) and runs it with this Python,
whose environment already holds the image's requirements (numpy, scikit-learn, ...). The package's
other dependencies (Requires-Dist not satisfied here) are installed next to it, pinned to this
environment's versions where they overlap; the Debian packages its [tool.sagemaker-pipeline] table
lists are checked up front, since process mode cannot install them the way the image build does.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement


class PackageNeedsError(RuntimeError):
    """A dependency cannot be installed or a Debian package is missing; the message says what to do."""


def unsatisfied(requirements: list[str]) -> list[str]:
    """The requirements this Python's environment does not satisfy (markers evaluated for it)."""
    missing = []
    for text in requirements:
        try:
            requirement = Requirement(text)
        except InvalidRequirement as error:
            raise PackageNeedsError(f"the package declares an invalid dependency {text!r}: {error}") from None
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        try:
            installed = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            missing.append(text)
            continue
        if requirement.specifier and not requirement.specifier.contains(installed, prereleases=True):
            missing.append(text)
    return missing


def package_requirements(tree: Path, exclude: set[str]) -> list[str]:
    """Requires-Dist of the distributions installed in `tree`, but those named in `exclude`."""
    requirements: list[str] = []
    for distribution in metadata.distributions(path=[str(tree)]):
        if _normalize(distribution.metadata["Name"] or "") in exclude:
            continue
        requirements += distribution.requires or []
    return requirements


def declares_own_server(tree: Path) -> bool:
    """True when a package in `tree` declares a `serve` entry point (it runs its own server)."""
    return any(
        point.name == "serve" and "." in point.group
        for distribution in metadata.distributions(path=[str(tree)])
        for point in distribution.entry_points
    )


def install_dependencies(requirements: list[str], target: Path) -> None:
    """pip-installs `requirements` (and what they need) into `target`, constrained to the versions
    this environment has, so that a package shared with it (numpy, ...) never differs."""
    target.mkdir(parents=True, exist_ok=True)
    constraints = target.parent / "constraints.txt"
    constraints.write_text(
        "".join(
            f"{distribution.metadata['Name']}=={distribution.version}\n"
            for distribution in metadata.distributions()
            if distribution.metadata["Name"]
        )
    )
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input"]
    command += ["--target", str(target), "--constraint", str(constraints), *requirements]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PackageNeedsError(
            f"installing the package's dependencies ({', '.join(requirements)}) failed:\n"
            f"{result.stderr.strip()[-3000:]}\nCheck their names and versions in the package's "
            "pyproject.toml ([project] dependencies); local mode pins what it shares with its own "
            "environment."
        )


def missing_debian_packages(names: list[str]) -> list[str]:
    """Those of `names` that dpkg does not report installed (all of them where there is no dpkg)."""
    if not names:
        return []
    if shutil.which("dpkg-query") is None:
        return list(names)
    missing = []
    for name in names:
        query = subprocess.run(
            ["dpkg-query", "--show", "--showformat=${db:Status-Status}", name],
            capture_output=True,
            text=True,
            check=False,
        )
        if query.returncode != 0 or query.stdout.strip() != "installed":
            missing.append(name)
    return missing


def require_debian_packages(names: list[str]) -> None:
    missing = missing_debian_packages(names)
    if missing:
        listed = " ".join(missing)
        raise PackageNeedsError(
            f"the package needs Debian packages that are not installed here: {listed} (its "
            "[tool.sagemaker-pipeline] debian-packages). Install them (as root: "
            f"apt-get install -y {listed}) or run with --image, which installs them in the image."
        )


def _normalize(name: str) -> str:
    return name.replace("_", "-").replace(".", "-").lower()
