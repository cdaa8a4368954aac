"""Local runs as a user starts them (`python -m localmode ...`): two packages at once on one work
folder, each serving its own model, and a solo run afterwards predicting exactly what a clean run
predicts; a kept run's printed AWS CLI (fileb://) and curl commands answering; a failed run's fix."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from localmode import ROOT
from tests.localmode.conftest import read_until_kept

pytestmark = pytest.mark.e2e

LINE_MODEL = ROOT / "tests" / "localmode" / "packages" / "line_model"
LINE_DATA = LINE_MODEL / "data"
RMSE = '[{"Name":"validation:rmse","Regex":"validation:rmse=([0-9.e-]+)"}]'
IRIS_FAILING_MESSAGE = (
    "iris_failing refuses to train: this example fails on purpose to exercise the failure path"
)
PREDICTION = re.compile(r"^  (\S+)  ->  (\S+)$", re.M)


@pytest.fixture(autouse=True)
def _no_settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("")
    for name in list(os.environ):
        if name.startswith("SMP_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SMP_ENV_FILE", str(empty))


def start(*arguments: str | Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "localmode", *map(str, arguments)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process: subprocess.Popen) -> tuple[int, str]:
    output, _ = process.communicate(timeout=420)
    return process.returncode, output


def predictions(output: str) -> list[tuple[str, str]]:
    section = output.split("Live prediction from endpoint", 1)[1].split("Stack outputs", 1)[0]
    return PREDICTION.findall(section)


def test_two_packages_at_once_on_one_work_folder_then_a_solo_run_predicts_as_a_clean_run(tmp_path):
    workdir = tmp_path / "shared"
    iris = start("run", "--workdir", workdir)
    line = start(
        "run",
        "--workdir",
        workdir,
        "--package",
        LINE_MODEL,
        "--data",
        LINE_DATA,
        "--metric-definitions",
        RMSE,
    )
    (iris_code, iris_output), (line_code, line_output) = finish(iris), finish(line)

    assert iris_code == 0, iris_output
    assert line_code == 0, line_output
    # one owner at a time: the second one said whom it waited for
    waited = [output for output in (iris_output, line_output) if "Waiting: the work folder" in output]
    assert len(waited) == 1
    holder = line if waited[0] is iris_output else iris
    assert f"in use by local mode pid {holder.pid} " in waited[0]
    # each run served its own model: iris classes for iris rows, the line's values for its rows
    assert [label for _, label in predictions(iris_output)] == ["0", "1", "2"]
    line_rows = predictions(line_output)
    assert [row for row, _ in line_rows] == ["1,0", "1,1", "1,2"]  # the data's first rows, label dropped
    assert [round(float(value), 6) for _, value in line_rows] == [4.0, 2.0, 0.0]
    assert "validation:rmse 0" in line_output and "validation:accuracy" in iris_output
    run_folders = {re.search(r"Run folder (\S+)", output).group(1) for output in (iris_output, line_output)}
    assert len(run_folders) == 2 and all(Path(folder).parent == workdir / "runs" for folder in run_folders)

    # every iris row, asked of a solo run on the used folder and of a clean run on a new one
    payload = tmp_path / "all-rows.csv"
    rows = (ROOT / "examples" / "data" / "iris.csv").read_text().split()
    payload.write_text("\n".join(row.split(",", 1)[1] for row in rows) + "\n")
    solo_code, solo_output = finish(start("run", "--workdir", workdir, "--smoke-payload", payload))
    clean_code, clean_output = finish(
        start("run", "--workdir", tmp_path / "clean", "--smoke-payload", payload)
    )

    assert solo_code == 0 and clean_code == 0, solo_output + clean_output
    assert len(predictions(solo_output)) == len(rows)
    assert predictions(solo_output) == predictions(clean_output)
    assert "reused the build of this content" in solo_output.split("Train", 1)[0]  # isolation, no rebuild
    assert "runtime + package built" in clean_output


def test_a_kept_run_prints_commands_that_work_with_the_aws_cli_and_curl(tmp_path):
    workdir = tmp_path / "kept"
    keeper = start(
        "run",
        "--keep",
        "--workdir",
        workdir,
        "--package",
        LINE_MODEL,
        "--data",
        LINE_DATA,
        "--stack-name",
        "line",
    )
    try:
        output = read_until_kept(keeper)
        commands = [line.strip() for line in output.split("Still running", 1)[1].splitlines()[1:]]
        assert "Next steps" in output.split("Still running", 1)[1]
        environment = dict(os.environ, PATH=f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}")
        for assignment in shlex.split(commands[0].removeprefix("export ")):
            name, value = assignment.split("=", 1)
            environment[name] = value
        [invoke] = [command for command in commands if "invoke-endpoint" in command]
        [curl] = [command for command in commands if command.startswith("curl ")]
        assert "--body fileb://" in invoke  # AWS CLI v2 reads a plain --body as base64

        invoked = subprocess.run(
            invoke, shell=True, env=environment, capture_output=True, text=True, timeout=60
        )
        curled = subprocess.run(curl, shell=True, env=environment, capture_output=True, text=True, timeout=60)

        assert invoked.returncode == 0, invoked.stderr
        assert [round(float(value), 6) for value in invoked.stdout.split()[:3]] == [4.0, 2.0, 0.0]
        assert curled.returncode == 0, curled.stderr
        assert [round(float(value), 6) for value in curled.stdout.split()] == [4.0, 2.0, 0.0]
        status = subprocess.run(
            [sys.executable, "-m", "localmode", "status", "--workdir", str(workdir)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert status.returncode == 0 and "Stack line: CREATE_COMPLETE" in status.stdout
        deleted = subprocess.run(
            [sys.executable, "-m", "localmode", "delete", "--purge", "--workdir", str(workdir)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert deleted.returncode == 0, deleted.stdout + deleted.stderr
        assert keeper.wait(timeout=60) in (0, 130)
    finally:
        if keeper.poll() is None:
            keeper.terminate()
            keeper.wait(timeout=60)


def test_a_failed_run_names_the_most_likely_fix(tmp_path):
    code, output = finish(
        start("run", "--workdir", tmp_path / "w", "--package", ROOT / "examples" / "iris_failing")
    )

    assert code == 1
    assert "runs FAILED" in output
    assert "Most likely fix (Train failed): training failed: run the package's train" in output
    assert "Traceback" not in output
    # the code's own message, whole, in the progress, the run records and the printed emails
    headline = f"AlgorithmError: RuntimeError: {IRIS_FAILING_MESSAGE}"
    assert re.search(rf"\] Train    FAILED: .* failed: {re.escape(headline)}\n", output)
    why = output.split("Why runs failed (failure_reason in the run record)\n", 1)[1].split("\n\n", 1)[0]
    assert why.count(f"    {headline}\n") == 2 and "raise RuntimeError(FAILURE_MESSAGE)" in why
    assert output.count(f"Failure reason: {headline}\n") == 2
    assert "exited with" not in output


def test_a_declared_metric_the_log_never_printed_is_warned_about_after_the_train_line(tmp_path):
    definitions = RMSE[:-1] + ',{"Name":"validation:r2","Regex":"validation:r2=([0-9.]+)"}]'
    code, output = finish(
        start(
            "run",
            "--workdir",
            tmp_path / "w",
            "--package",
            LINE_MODEL,
            "--data",
            LINE_DATA,
            "--metric-definitions",
            definitions,
        )
    )

    assert code == 0, output
    train_line, after = output.split("] Train    job", 1)[1].split("\n", 1)
    assert "validation:rmse 0" in train_line
    warning = after.split("\n", 1)[0]
    assert "] Warning  Metric 'validation:r2' is declared in MetricDefinitions" in warning
    assert "validation:r2=([0-9.]+)" in warning


def test_a_smoke_payload_the_model_refuses_fails_the_deploy_and_names_the_payload_as_the_fix(tmp_path):
    payload = tmp_path / "two-features.csv"
    payload.write_text("1,0\n")  # the iris model takes four

    code, output = finish(start("run", "--workdir", tmp_path / "w", "--smoke-payload", payload))

    assert code == 1, output
    assert "Smoke test failed" in output
    assert "Most likely fix (Deploy failed): the smoke test's request did not suit the model" in output
