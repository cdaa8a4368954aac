"""The image's ENTRYPOINT: arguments run as given; with none, train or serve from SageMaker's layout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from smp_runtime import dispatch
from smp_runtime.dispatch import NoRole, choose, command_line


def training_layout(root: Path, *files: str, base: str = "opt/ml") -> Path:
    """What SageMaker and both SDKs' local modes mount for training: input/config/*.json, an empty model/."""
    config = root / base / "input" / "config"
    config.mkdir(parents=True)
    for name in files:
        (config / name).write_text(json.dumps({}))
    (root / base / "model").mkdir()
    return root


def hosting_layout(root: Path) -> Path:
    """What an endpoint gets: the model artefact unpacked into /opt/ml/model, no input/."""
    model = root / "opt" / "ml" / "model"
    model.mkdir(parents=True)
    (model / "model.joblib").write_bytes(b"model")
    return root


@pytest.mark.parametrize("name", dispatch.TRAINING_CONFIG_FILES)
def test_each_training_config_file_means_train(tmp_path: Path, name: str) -> None:
    choice = choose({}, training_layout(tmp_path, name))
    assert choice.command == "train"
    assert name in choice.reason


@pytest.mark.parametrize("variable", dispatch.TRAINING_VARIABLES)
def test_a_training_job_variable_means_train(tmp_path: Path, variable: str) -> None:
    assert choose({variable: "job-1"}, tmp_path).command == "train"


def test_training_wins_over_a_model_left_by_a_previous_run(tmp_path: Path) -> None:
    root = hosting_layout(tmp_path)
    config = root / "opt" / "ml" / "input" / "config"
    config.mkdir(parents=True)
    (config / "resourceconfig.json").write_text('{"current_host": "algo-1", "hosts": ["algo-1"]}')
    assert choose({"SAGEMAKER_BIND_TO_PORT": "8080"}, root).command == "train"


def test_a_model_in_opt_ml_model_means_serve(tmp_path: Path) -> None:
    choice = choose({}, hosting_layout(tmp_path))
    assert choice.command == "serve"
    assert "model" in choice.reason


@pytest.mark.parametrize("variable", dispatch.HOSTING_VARIABLES)
def test_a_hosting_variable_means_serve_even_with_an_empty_model_dir(tmp_path: Path, variable: str) -> None:
    (tmp_path / "opt" / "ml" / "model").mkdir(parents=True)
    assert choose({variable: "8080"}, tmp_path).command == "serve"


def test_an_empty_model_dir_alone_says_nothing(tmp_path: Path) -> None:
    (tmp_path / "opt" / "ml" / "model").mkdir(parents=True)
    assert choose({}, tmp_path).command is None


def test_sagemaker_base_dir_moves_where_it_looks(tmp_path: Path) -> None:
    root = training_layout(tmp_path, "hyperparameters.json", base="srv/job")
    assert choose({}, root).command is None
    assert choose({"SAGEMAKER_BASE_DIR": "/srv/job"}, root).command == "train"


def test_empty_variables_do_not_count(tmp_path: Path) -> None:
    assert choose({"TRAINING_JOB_NAME": "", "SAGEMAKER_BIND_TO_PORT": ""}, tmp_path).command is None


@pytest.mark.parametrize(
    "argv", [["train"], ["serve"], ["python3", "-c", "print(1)"], ["bash"], ["serve", "--extra"]]
)
def test_arguments_run_exactly_as_given_whatever_the_layout(tmp_path: Path, argv: list[str]) -> None:
    root = training_layout(tmp_path, "resourceconfig.json")
    assert command_line(argv, {}, root) == (argv, "")


def test_no_arguments_runs_the_chosen_command_and_says_why(tmp_path: Path) -> None:
    command, note = command_line([], {}, hosting_layout(tmp_path))
    assert command == ["serve"]
    assert "no command given; running `serve`" in note


def test_no_arguments_and_no_evidence_explains_how_to_run_it(tmp_path: Path) -> None:
    with pytest.raises(NoRole) as raised:
        command_line([], {}, tmp_path)
    message = str(raised.value)
    assert "docker run IMAGE train" in message and "docker run IMAGE serve" in message
    assert str(tmp_path / "opt" / "ml" / "input" / "config") in message


def start_dispatch(args: list[str], base: Path, **env: str) -> subprocess.Popen[str]:
    """smp-dispatch as a process, with SAGEMAKER_BASE_DIR pointing at a temp /opt/ml."""
    runtime = Path(dispatch.__file__).resolve().parents[1]
    environ = {**os.environ, "PYTHONPATH": str(runtime), "SAGEMAKER_BASE_DIR": str(base), **env}
    code = "import sys; from smp_runtime.dispatch import main; sys.exit(main())"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_dispatch(args: list[str], base: Path) -> tuple[int, str, str, int]:
    process = start_dispatch(args, base)
    stdout, stderr = process.communicate(timeout=60)
    return process.returncode, stdout, stderr, process.pid


def test_the_process_execs_its_arguments_in_place_and_returns_their_status(tmp_path: Path) -> None:
    """exec, not a child: the command keeps the PID (PID 1 in a container, so SIGTERM reaches it)."""
    status, stdout, stderr, pid = run_dispatch(["sh", "-c", "echo $$; exit 7"], tmp_path)
    assert (status, stdout.strip(), stderr) == (7, str(pid), "")


def test_the_process_without_evidence_exits_2_with_the_how_to(tmp_path: Path) -> None:
    status, _, stderr, _ = run_dispatch([], tmp_path / "empty")
    assert status == dispatch.EXIT_NO_ROLE
    assert "docker run IMAGE train" in stderr


def test_an_unknown_command_exits_127_naming_it(tmp_path: Path) -> None:
    status, _, stderr, _ = run_dispatch(["no-such-command-here"], tmp_path)
    assert status == 127
    assert "no-such-command-here: command not found" in stderr
