"""The commands as the launch script runs them, across processes: deploy (kept running), status,
delete --purge (through the running deployment's services), and nothing left running afterwards."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from localmode import ROOT
from localmode.run.kept_world import process_alive
from tests.localmode.conftest import wait_for

pytestmark = pytest.mark.e2e


def localmode(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "localmode", *arguments], cwd=ROOT, capture_output=True, text=True, timeout=180
    )


def test_deploy_status_and_delete_purge_across_processes(tmp_path):
    workdir = tmp_path / "local-run"
    keeper = subprocess.Popen(
        [sys.executable, "-m", "localmode", "deploy", "--workdir", str(workdir)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        state_file = workdir / "state.json"
        wait_for(state_file.is_file, timeout=120, message="the deployment to come up")
        state = json.loads(state_file.read_text())

        status = localmode("status", "--workdir", str(workdir))
        assert status.returncode == 0, status.stdout + status.stderr
        assert "Stack smp-demo: CREATE_COMPLETE" in status.stdout

        deleted = localmode("delete", "--purge", "--workdir", str(workdir))
        assert deleted.returncode == 0, deleted.stdout + deleted.stderr
        assert "Teardown: teardown answered SUCCESS" in deleted.stdout
        assert "stack smp-demo deleted" in deleted.stdout

        assert keeper.wait(timeout=60) in (0, 130)
        output = keeper.stdout.read()
        assert "aws --endpoint-url" in output  # the commands to poke the running deployment
        assert not state_file.exists()
        time.sleep(0.5)
        assert not process_alive(state["moto_pid"])
        after = localmode("status", "--workdir", str(workdir))
        assert after.returncode == 1 and "No local deployment is running" in after.stdout
    finally:
        if keeper.poll() is None:
            keeper.terminate()  # SIGTERM: the keeper stops moto, the emulator and its model servers
            keeper.wait(timeout=60)
