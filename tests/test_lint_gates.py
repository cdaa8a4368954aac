"""Static gates over the whole repository: cfn-lint, checkov, ruff, shellcheck."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.cfn_template import TEMPLATE_PATH, load_template

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.lint


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)


def test_cfn_lint_reports_nothing():
    result = run(str(BIN / "cfn-lint"), "--format", "parseable", str(TEMPLATE_PATH))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_checkov_fails_nothing_and_every_skip_is_justified():
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    result = subprocess.run(
        [
            str(BIN / "checkov"),
            "-f",
            str(TEMPLATE_PATH),
            "--framework",
            "cloudformation",
            "--output",
            "json",
            "--skip-download",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )
    report = json.loads(result.stdout)
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert summary["failed"] == 0, failed
    assert summary["passed"] > 100
    assert summary["skipped"] == len(report["results"]["skipped_checks"]) > 0
    for spec in load_template()["Resources"].values():
        for skip in spec.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert len(skip.get("comment", "")) >= 40, f"skip {skip['id']} needs a written reason"


def test_ruff_is_clean():
    result = run(str(BIN / "ruff"), "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_shellcheck_is_clean_on_every_shell_script():
    # not virtualenvs or build outputs (build/sdk-check holds the SDKs' virtualenvs, with their own scripts)
    ignored = {".venv", "build", "node_modules"}
    scripts = [p for p in ROOT.rglob("*.sh") if not ignored & set(p.relative_to(ROOT).parts)]
    scripts += [ROOT / ".ci" / "run"]
    launch = ROOT / "launch-cicd-pipeline.sh"
    assert launch in scripts or not launch.exists()
    result = run(str(BIN / "shellcheck"), "--severity=style", *map(str, scripts))
    assert result.returncode == 0, result.stdout + result.stderr


def test_taskcat_config_lints_and_covers_two_regions():
    taskcat = ROOT / ".venv" / "taskcat" / "bin" / "taskcat"
    assert taskcat.exists(), "make venv installs taskcat into .venv/taskcat (requirements-taskcat.txt)"
    result = run(str(taskcat), "lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Linting passed" in result.stdout + result.stderr
    import yaml

    config = yaml.safe_load((ROOT / ".taskcat.yml").read_text(encoding="utf-8"))
    assert len(config["project"]["regions"]) >= 2
    assert config["project"]["template"] == "template/sagemaker-pipeline.yaml"
