"""The interpreters each server runs in, each set up like that server's own image.

- built-in server: a virtualenv made by container/install_local.py --venv (the image's
  container/requirements.txt, the runtime and the example package), kept in .venv/bench-image
  and refreshed every run so it serves the working tree's code;
- BYO reference: .venv/bench-byo with benchmarks/requirements.txt (made by `make bench`);
- ceiling and harness: this interpreter (.venv).
"""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv"
BYO_VENV = VENV / "bench-byo"
IMAGE_VENV = VENV / "bench-image"
INSTALL_LOCAL = REPO / "container" / "install_local.py"


class EnvironmentMissing(RuntimeError):
    pass


def byo_python() -> Path:
    python = BYO_VENV / "bin" / "python"
    if not python.exists():
        raise EnvironmentMissing(
            f"{BYO_VENV.relative_to(REPO)} is missing: `make bench` (or `make venv`) creates it from "
            "benchmarks/requirements.txt"
        )
    return python


def image_venv(package: Path) -> Path:
    """Create or refresh the image-like virtualenv with the runtime and `package`; returns its bin/."""
    if not INSTALL_LOCAL.exists():
        raise EnvironmentMissing(f"{INSTALL_LOCAL.relative_to(REPO)} is missing; it installs the runtime")
    completed = subprocess.run(
        [sys.executable, str(INSTALL_LOCAL), "--venv", str(IMAGE_VENV), str(package)],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        failure = completed.stderr[-2000:]
        raise EnvironmentMissing(f"installing the runtime and {package.name} failed: {failure}")
    return IMAGE_VENV / "bin"
