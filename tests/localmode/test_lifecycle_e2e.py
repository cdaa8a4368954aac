"""Issue 15's "done when", locally: a kept world with two runs (the push and the data-triggered rerun),
then `rollback`, leaves a `rollback` run in `runs`, every run with a cost, and registry versions that
carry their approval status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from localmode import ROOT
from tests.localmode.conftest import read_until_kept

pytestmark = pytest.mark.e2e


def localmode(*arguments: str | Path, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "localmode", *map(str, arguments)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_two_runs_then_rollback_leave_a_costed_rollback_run_in_the_history(tmp_path, monkeypatch):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    for name in list(os.environ):
        if name.startswith("SMP_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SMP_ENV_FILE", str(empty))
    workdir = tmp_path / "kept"
    keeper = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "localmode",
            "run",
            "--keep",
            "--workdir",
            str(workdir),
            "--stack-name",
            "life",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # Every training outcome email carries the run's model version and cost (the Train stage
        # sends it once both are recorded, although job_events learns of the job's end first).
        output = read_until_kept(keeper)
        outcomes = output.count("Subject: [life] Training Completed")
        assert outcomes >= 2, output
        assert output.count("Model version:  ") == outcomes, output
        assert output.count("Training cost:  ") == outcomes and "Training cost:  unknown" not in output
        assert output.count("Endpoint:       life-endpoint") == outcomes, output

        before = json.loads(localmode("runs", "--json", "--workdir", workdir).stdout)
        trained = [run for run in before if run["status"] == "Completed" and run["model_version"]]
        assert len(trained) >= 2, before
        assert all(run["model_approval_status"] == "Approved" for run in trained)
        assert all(run["training_cost_usd"] not in ("unknown", None) for run in trained), before

        rolled = localmode("rollback", "--workdir", workdir)
        assert rolled.returncode == 0, rolled.stdout + rolled.stderr
        assert "back to version 1" in rolled.stdout and "trigger rollback" in rolled.stdout

        history = localmode("runs", "--workdir", workdir)
        after = json.loads(localmode("runs", "--json", "--workdir", workdir).stdout)
        [rollback] = [run for run in after if run["trigger"] == "rollback"]
        assert rollback["deployed"] and rollback["model_version"] == 1
        assert all(run["training_cost_usd"] not in ("unknown", None) for run in after), after
        assert "rollback" in history.stdout and "yes" in history.stdout
        again = localmode("rollback", "--to", "7", "--workdir", workdir)
        assert again.returncode == 1 and "no approved version has that number" in again.stdout

        deleted = localmode("delete", "--purge", "--workdir", workdir, timeout=180)
        assert deleted.returncode == 0, deleted.stdout + deleted.stderr
        assert keeper.wait(timeout=60) in (0, 130)
    finally:
        if keeper.poll() is None:
            keeper.terminate()
            keeper.wait(timeout=60)
