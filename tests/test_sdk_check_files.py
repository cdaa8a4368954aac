"""make sdk-check's pinned SDKs: one major each, and the versions docs/sdk-local-mode.md names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "sdk-local-mode.md"


def pinned(requirements: Path) -> dict[str, str]:
    lines = requirements.read_text().splitlines()
    return dict(line.split("==", 1) for line in lines if line and not line.startswith("#"))


@pytest.mark.parametrize("major", ["2", "3"])
def test_each_requirement_file_pins_every_package_and_one_sagemaker_major(major: str) -> None:
    requirements = ROOT / "sdk-check" / f"requirements-sdk{major}.txt"
    versions = pinned(requirements)  # a line without == would fail the unpacking
    assert versions["sagemaker"].split(".")[0] == major
    assert (
        f"sagemaker {versions['sagemaker']}" in DOC.read_text()
        or f"sagemaker=={versions['sagemaker']}" in DOC.read_text()
    )


def test_the_makefile_target_installs_both_and_runs_the_check() -> None:
    makefile = (ROOT / "Makefile").read_text()
    target = re.search(r"^sdk-check:.*$", makefile, re.MULTILINE)
    assert target and "sdk2/.installed" in target.group(0) and "sdk3/.installed" in target.group(0)
    assert "scripts/install-sdk-check-deps.sh" in makefile and "sdk-check/run.py" in makefile
