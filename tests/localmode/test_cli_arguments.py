"""Local mode's arguments, checked before anything starts: one line naming the argument, the rule and
a valid example, exit code 2, no traceback; stack parameters as `deploy` takes them (flags, SMP_
variables, the settings file, the same validator with the template's Rules); the smoke payload rule."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from localmode import ROOT
from localmode.run import cli
from localmode.run.session import LocalPipeline, warning_text
from localmode.run.settings import LocalSettings
from scripts import launch_params

LINE_MODEL = ROOT / "tests" / "localmode" / "packages" / "line_model"
IRIS_MODEL = ROOT / "examples" / "iris_model"


@pytest.fixture(autouse=True)
def empty_settings_file(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty settings file, so a developer's own pipeline.env never leaks into a test."""
    path = tmp_path_factory.getbasetemp() / "empty-pipeline.env"
    path.write_text("")
    for name in list(os.environ):
        if name.startswith("SMP_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SMP_ENV_FILE", str(path))
    return path


def localmode(*arguments: str, env: dict[str, str] | None = None, cwd: Path = ROOT):
    environment = dict(os.environ)
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "localmode", *arguments],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


BAD_ARGUMENTS = [
    (
        ["--stack-name", "my_stack"],
        "--stack-name 'my_stack': a stack name is a letter",
        "--stack-name smp-demo",
    ),
    (["--stack-name", "9lives"], "--stack-name '9lives'", "e.g. --stack-name smp-demo"),
    (["--region", "moon"], "--region 'moon': a region is a name", "e.g. --region eu-west-1"),
    (["--region", "EU-WEST-1"], "--region 'EU-WEST-1'", "e.g. --region eu-west-1"),
    (
        ["--package", "/nonexistent"],
        "--package /nonexistent: must be the folder",
        "--package examples/iris_model",
    ),
    (["--package", "docs"], "--package docs: not a Python package", "--package examples/iris_model"),
    (
        ["--data", "/nonexistent.csv"],
        "--data /nonexistent.csv: must be an existing file or folder",
        "--data ",
    ),
    (["--smoke-payload", "README.md"], "--smoke-payload README.md: a smoke test payload is a .csv", "e.g."),
    (["--smoke-payload", "none.csv"], "--smoke-payload none.csv: the file does not exist", "e.g."),
    (["--workdir", "README.md"], "--workdir README.md: must be a folder", "e.g. --workdir .local-run"),
    (
        ["--training-instance-type", "t2.micro"],
        "--training-instance-type: TrainingInstanceType 't2.micro'",
        "e.g.",
    ),
    (
        ["--endpoint-instance-count", "zero"],
        "--endpoint-instance-count: EndpointInstanceCount 'zero' is not",
        "",
    ),
    (["--hyperparameters", "[1]"], "--hyperparameters: Hyperparameters '[1]' must be a JSON object", ""),
    (
        ["--deployment-strategy", "Canary"],
        "DeploymentStrategy=Canary or Linear needs EndpointInstanceCount",
        "",
    ),
    (["--deploy-endpoint", "false", "--quality-gate", "a>1"], "QualityGate is only used with Deploy", ""),
    (
        ["--stack-name", "a" * 60],
        "the default EndpointName <stack name>-endpoint would be 69",
        "--endpoint-name",
    ),
    (["--no-such-option"], "unrecognized arguments: --no-such-option", "--help"),
    (["--github-token=ghp_abc"], "--github-token: no secret is ever taken on the command line", "e.g."),
    (["--region"], "argument --region: expected one argument", "--help"),
    (["teleport"], "argument command: invalid choice: 'teleport'", "--help"),
    (["run", "--purge"], "--purge: only goes with delete", "e.g. delete --purge"),
    (["status", "--keep"], "--keep: only goes with run", "e.g. run --keep"),
    (["status", "--data", "x.csv"], "--data: only goes with run and deploy", "e.g. run --data"),
    (["delete", "--notification-email", "a@b.co"], "--notification-email: stack parameters only go", "e.g."),
]


@pytest.mark.parametrize(("arguments", "message", "example"), BAD_ARGUMENTS)
def test_a_bad_argument_exits_2_with_one_line_naming_it(arguments, message, example):
    result = localmode(*arguments)

    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert example in lines[0]
    assert "Traceback" not in result.stderr
    assert "ghp_abc" not in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SMP_REGION", "nowhere", "SMP_REGION (environment) 'nowhere': a region is a name"),
        ("SMP_STACK_NAME", "bad name", "SMP_STACK_NAME (environment) 'bad name': a stack name"),
        (
            "SMP_NOTIFICATION_EMAIL",
            "nobody",
            "SMP_NOTIFICATION_EMAIL (environment): NotificationEmail 'nobody'",
        ),
    ],
)
def test_a_bad_environment_value_names_the_variable(variable, value, message):
    result = localmode(env={variable: value})

    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr


def test_a_bad_settings_file_line_names_the_file_and_line(tmp_path):
    settings_file = tmp_path / "pipeline.env"
    settings_file.write_text("# mine\nSMP_TRAINING_INSTANCE_COUNT=0\n")
    unknown = tmp_path / "unknown.env"
    unknown.write_text("SMP_NO_SUCH=1\n")

    bad_value = localmode("--env-file", str(settings_file))
    bad_name = localmode(env={"SMP_ENV_FILE": str(unknown)})
    missing = localmode("--env-file", str(tmp_path / "absent.env"))

    assert bad_value.returncode == bad_name.returncode == missing.returncode == 2
    assert (
        f"SMP_TRAINING_INSTANCE_COUNT ({settings_file} line 2): TrainingInstanceCount '0'" in bad_value.stderr
    )
    assert f"{unknown} line 1: unknown variable SMP_NO_SUCH" in bad_name.stderr
    assert "--env-file" in missing.stderr and "does not exist" in missing.stderr
    for result in (bad_value, bad_name, missing):
        assert len(result.stderr.splitlines()) == 1


def test_the_launch_script_hands_bad_local_arguments_over_and_exits_2():
    result = subprocess.run(
        [str(ROOT / "launch-cicd-pipeline.sh"), "--local", "--region", "mars-1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: --region 'mars-1': a region is a name such as eu-west-1, e.g. --region eu-west-1"
    )


def settings(arguments: list[str], environ: dict[str, str]) -> LocalSettings:
    environ = {"SMP_ENV_FILE": os.environ["SMP_ENV_FILE"], **environ}
    return cli.settings_from(cli.parse(arguments, launch_params.parameter_flags()), environ)


def test_flag_beats_environment_beats_settings_file_beats_local_value(tmp_path):
    settings_file = tmp_path / "pipeline.env"
    settings_file.write_text(
        "SMP_MAX_TRAINING_RUNTIME_SECONDS=600\nSMP_LOG_RETENTION_DAYS=7\n"
        "SMP_DATA_TRIGGER_QUIET_SECONDS='30'\nSMP_STACK_NAME=from-file\n"
    )
    environ = {"SMP_ENV_FILE": str(settings_file), "SMP_LOG_RETENTION_DAYS": "14", "SMP_REGION": "us-west-2"}

    found = settings(["--max-training-runtime-seconds", "900"], environ)
    defaults = settings([], dict(os.environ))

    values = found.stack_parameters()
    assert values["MaxTrainingRuntimeSeconds"] == "900"  # flag over file
    assert values["LogRetentionDays"] == "14"  # environment over file
    assert values["DataTriggerQuietSeconds"] == "30"  # file over local mode's 0
    assert (found.stack_name, found.region) == ("from-file", "us-west-2")
    assert defaults.stack_parameters()["DataTriggerQuietSeconds"] == "0"
    assert (defaults.stack_name, defaults.region) == ("smp-demo", "eu-west-1")
    assert "LogRetentionDays" not in defaults.stack_parameters()  # the template default applies


def test_every_deploy_flag_is_a_local_flag():
    flags = launch_params.parameter_flags()
    found = settings(["--github-branch", "dev", "--endpoint-name", "my-endpoint"], {})
    parsed = cli.parse(["--github-branch", "dev", "--endpoint-name", "my-endpoint"], flags)

    specs = launch_params.load_parameter_specs(cli.TEMPLATE)
    assert set(flags.values()) == set(specs) - cli.SET_BY_LOCAL_MODE
    assert parsed.param_github_branch == "dev" and parsed.param_endpoint_name == "my-endpoint"
    assert found.stack_parameters()["GitHubBranch"] == "dev"
    assert found.stack_parameters()["EndpointName"] == "my-endpoint"


def test_data_file_or_folder_goes_under_the_input_prefix(tmp_path):
    folder = tmp_path / "data"
    (folder / "2026").mkdir(parents=True)
    (folder / "a.csv").write_text("1,2\n")
    (folder / "2026" / "b.csv").write_text("3,4\n")
    (folder / ".hidden").write_text("x\n")

    from_folder = settings(["--data", str(folder), "--training-input-prefix", "data/train/"], {})
    from_file = settings(["--data", str(folder / "a.csv")], {})

    assert [key for _, key in from_folder.uploads()] == ["data/train/2026/b.csv", "data/train/a.csv"]
    assert [key for _, key in from_file.uploads()] == ["input/a.csv"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(cli.ArgumentProblem, match="the folder holds no file"):
        settings(["--data", str(empty)], {})


def test_the_smoke_payload_comes_from_the_flag_then_the_package_then_the_data(tmp_path):
    payload = tmp_path / "rows.json"
    payload.write_text("[[1, 2]]")

    flagged = settings(["--package", str(IRIS_MODEL), "--smoke-payload", str(payload)], {})
    declared = settings(["--package", str(IRIS_MODEL)], {})
    from_data = settings(["--package", str(LINE_MODEL), "--data", str(LINE_MODEL / "data" / "line.csv")], {})

    assert flagged.smoke_payload_source()[1] == b"[[1, 2]]"
    assert flagged.smoke_payload_key() == "smoke/sample.json"
    assert declared.smoke_payload_source()[1] == (IRIS_MODEL / "smoke.csv").read_bytes()
    assert "smoke-payload" in declared.smoke_payload_source()[0]
    assert from_data.smoke_payload_source()[1] == b"1,0\n1,1\n1,2\n"  # first rows, label column dropped
    assert from_data.smoke_payload_key() == "smoke/sample.csv"


def test_a_package_declaring_a_missing_smoke_payload_is_refused(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "pyproject.toml").write_text('[tool.sagemaker-pipeline]\nsmoke-payload = "gone.csv"\n')

    result = localmode("--package", str(package))

    assert result.returncode == 2
    assert "[tool.sagemaker-pipeline] smoke-payload" in result.stderr and "does not exist" in result.stderr


def test_no_endpoint_means_no_smoke_test_key():
    found = settings(["--deploy-endpoint", "false"], {})

    assert "SmokeTestPayloadKey" not in found.stack_parameters()
    assert found.smoke_payload_key() == ""


def test_run_record_warnings_are_printed_after_the_train_stage_and_their_absence_tolerated():
    lines: list[str] = []
    pipeline = LocalPipeline(LocalSettings(), lines.append)
    items: list[dict[str, Any]] = [
        {
            "training_job_name": "job-1",
            "status": "Completed",
            "final_metrics": {"validation:rmse": 0.5},
            "warnings": [
                {
                    "message": "metric validation:r2 (regex r2=([0-9.]+)) was never printed",
                    "last_log_lines": ["epoch 3", "done"],
                },
                "plain text warning",
            ],
        },
        {"training_job_name": "job-2", "status": "Completed"},
    ]
    pipeline.run_item = lambda run_id: items.pop(0)  # type: ignore[method-assign]
    action = {"actionTypeId": {"category": "Invoke"}}

    execution = SimpleNamespace(execution_id="run-1")
    pipeline._after_action(execution, "Train", action)  # type: ignore[arg-type]
    pipeline._after_action(execution, "Train", action)  # type: ignore[arg-type]

    text = "\n".join(lines)
    assert "Warning  metric validation:r2 (regex r2=([0-9.]+)) was never printed" in text
    assert "| done" in text
    assert "Warning  plain text warning" in text
    assert "job job-2  InProgress -> Completed" in lines[-1]
    assert warning_text({"metric": "x"}) == "metric x"


def test_image_without_podman_is_refused_before_anything_starts(tmp_path):
    result = localmode("--image", env={"PATH": str(tmp_path)})  # no podman there

    assert result.returncode == 2
    assert result.stderr.startswith("error: --image: builds and runs the real image with podman")
    assert len(result.stderr.splitlines()) == 1


def test_a_state_file_cut_short_means_no_kept_world(tmp_path):
    (tmp_path / "state.json").write_text('{"pid": ')

    result = localmode("status", "--workdir", str(tmp_path))

    assert result.returncode == 1
    assert "No local deployment is running" in result.stdout and "Traceback" not in result.stderr


def test_data_that_is_not_csv_text_needs_a_smoke_payload(tmp_path):
    data = tmp_path / "table.parquet"
    data.write_bytes(b"PAR1\x00\xff\xfe\x00")
    payload = tmp_path / "smoke.csv"
    payload.write_text("1,2\n")

    refused = localmode("--package", str(LINE_MODEL), "--data", str(data))
    accepted = settings(
        ["--package", str(LINE_MODEL), "--data", str(data), "--smoke-payload", str(payload)], {}
    )

    assert refused.returncode == 2 and len(refused.stderr.splitlines()) == 1
    assert "holds no CSV text; give one with --smoke-payload FILE" in refused.stderr
    assert accepted.smoke_payload_source()[1] == b"1,2\n"
