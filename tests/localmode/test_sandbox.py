"""sandbox.py: a job's own /opt/ml and /tmp; an own server's own network with a forwarded port."""

from __future__ import annotations

import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from localmode.aws.processes import free_port, terminate_group
from localmode.aws.sagemaker import sandbox

SANDBOX = Path(sandbox.__file__)
needs_namespaces = pytest.mark.skipif(
    sandbox.namespace_problem(network=True) is not None,
    reason=f"this machine gives no namespaces: {sandbox.namespace_problem(network=True)}",
)


def run(opt_ml: Path, tmp: Path, *program: str, forward: int | None = None) -> list[str]:
    command = [sys.executable, str(SANDBOX), "--opt-ml", str(opt_ml), "--tmp", str(tmp)]
    if forward is not None:
        command += ["--forward", str(forward)]
    return [*command, "--", *program]


@needs_namespaces
def test_a_job_sees_its_folder_at_opt_ml_and_a_tmp_of_its_own(tmp_path: Path):
    opt_ml, tmp = tmp_path / "job", tmp_path / "job.tmp"
    (opt_ml / "input").mkdir(parents=True)
    (opt_ml / "input" / "rows.csv").write_text("1,2\n")
    script = (
        "cat /opt/ml/input/rows.csv; echo model > /opt/ml/model.txt; echo scratch > /tmp/scratch;"
        ' echo "$SAGEMAKER_BASE_DIR $TMPDIR"'
    )
    result = subprocess.run(run(opt_ml, tmp, "sh", "-c", script), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["1,2", "/opt/ml /tmp"]
    assert (opt_ml / "model.txt").read_text() == "model\n"
    assert (tmp / "scratch").read_text() == "scratch\n"
    assert not Path("/tmp/scratch").exists() or Path("/tmp/scratch").read_text() != "scratch\n"


@needs_namespaces
def test_the_exit_status_and_a_signal_death_come_back(tmp_path: Path):
    failed = subprocess.run(run(tmp_path / "a", tmp_path / "a.tmp", "sh", "-c", "exit 7"), timeout=60)
    assert failed.returncode == 7
    killed = subprocess.run(run(tmp_path / "b", tmp_path / "b.tmp", "sh", "-c", "kill -TERM $$"), timeout=60)
    assert killed.returncode == 143


@needs_namespaces
def test_two_servers_on_the_same_fixed_port_each_get_their_own(tmp_path: Path):
    servers, ports = [], []
    for name in ("blue", "green"):
        opt_ml = tmp_path / name
        opt_ml.mkdir()
        (opt_ml / "who").write_text(name)
        port = free_port()
        command = run(
            opt_ml,
            tmp_path / f"{name}.tmp",
            sys.executable,
            "-m",
            "http.server",
            "8080",
            "--directory",
            "/opt/ml",
            forward=port,
        )
        servers.append(
            subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
            )
        )
        ports.append(port)
    try:
        answers = {}
        deadline = time.monotonic() + 60
        while len(answers) < 2 and time.monotonic() < deadline:
            for name, port in zip(("blue", "green"), ports, strict=True):
                try:
                    answers[name] = requests.get(f"http://127.0.0.1:{port}/who", timeout=2).text
                except requests.RequestException:
                    time.sleep(0.2)
        assert answers == {"blue": "blue", "green": "green"}
    finally:
        for server in servers:
            terminate_group(server)
    log = servers[0].stdout.read().decode()
    assert f"127.0.0.1:{ports[0]} forwards to its port 8080" in log


def test_without_namespaces_training_runs_on_its_folder_and_an_own_server_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setattr(sandbox, "namespace_problem", lambda network: "unshare: Operation not permitted")
    opt_ml = tmp_path / "job"
    opt_ml.mkdir()
    code = sandbox.main(
        [
            "--opt-ml",
            str(opt_ml),
            "--tmp",
            str(tmp_path / "t"),
            "--",
            "sh",
            "-c",
            'test "$SAGEMAKER_BASE_DIR" = "' + str(opt_ml) + '"',
        ]
    )
    assert code == 0
    assert "no private /opt/ml for this job (unshare: Operation not permitted)" in capsys.readouterr().err

    code = sandbox.main(
        ["--opt-ml", str(opt_ml), "--tmp", str(tmp_path / "t"), "--forward", "18080", "--", "true"]
    )
    assert code == 1
    message = capsys.readouterr().err
    assert "needs a network namespace of its own" in message and "--local run --image" in message


@needs_namespaces
def test_killing_the_sandbox_ends_every_process_of_the_job(tmp_path: Path):
    """As with a container: SIGKILL to the job's process (what a crash or the emulator's kill does)
    ends the processes the job started too, and nothing keeps its output pipe open."""
    opt_ml = tmp_path / "job"
    script = "sleep 60 & echo $! > /opt/ml/child.pid; echo started; wait"
    process = subprocess.Popen(
        run(opt_ml, tmp_path / "job.tmp", "sh", "-c", script), stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "started"
    child = int((opt_ml / "child.pid").read_text())  # its pid in the job's own pid namespace
    assert child > 0
    process.kill()
    process.wait(timeout=10)
    readable, _, _ = select.select([process.stdout], [], [], 10)  # an orphaned sleep would hold it 60 s
    assert readable and process.stdout.read() == ""  # EOF: no process of the job holds the pipe
