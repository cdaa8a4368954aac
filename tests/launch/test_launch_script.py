"""The real launch-cicd-pipeline.sh against a moto server, with the real template."""

from __future__ import annotations

import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from scripts.cfn_template import load_template

from .conftest import ACCOUNT, REGION, SCRIPT, TEMPLATE
from .moto_fixes import change_sets_fail

REQUIRED = ("--github-owner", "octo", "--github-repo", "model-repo", "--notification-email", "ml@example.com")
SET_BY_DEPLOY = {"LambdaCodeBucket", "LambdaCodeKey", "ContainerCodePrefix"}
# Every output the stack always has (the connection is checked on its own below).
OUTPUTS = [
    name
    for name, spec in load_template(TEMPLATE)["Outputs"].items()
    if "Condition" not in spec and name != "ConnectionArn"
]


def code_bucket(region: str = REGION) -> str:
    return f"sagemaker-pipeline-code-{ACCOUNT}-{region}"


def parameters_of(stack: dict) -> dict[str, str]:
    return {item["ParameterKey"]: item["ParameterValue"] for item in stack["Parameters"]}


def describe(cloudformation, name: str) -> dict:
    return cloudformation.describe_stacks(StackName=name)["Stacks"][0]


def assert_no_stack(cloudformation, name: str) -> None:
    with pytest.raises(ClientError, match="does not exist"):
        cloudformation.describe_stacks(StackName=name)


def deployed(launch, stack_name: str, *extra: str, env: dict[str, str] | None = None):
    result = launch("deploy", "--stack-name", stack_name, *REQUIRED, *extra, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


# --- help and lint -------------------------------------------------------------------------------


def test_help_documents_every_command_and_every_template_parameter(launch):
    result = launch("--help")

    assert result.returncode == 0, result.stderr
    for command in ("deploy", "status", "delete", "--purge", "package", "publish", "--bucket", "--local"):
        assert command in result.stdout
    user_parameters = set(load_template(TEMPLATE)["Parameters"]) - SET_BY_DEPLOY
    for name in user_parameters:
        assert f" {name}\n" in result.stdout, f"--help has no flag for template parameter {name}"
    assert "--notification-email VALUE" in result.stdout
    assert "SMP_NOTIFICATION_EMAIL" in result.stdout


@pytest.mark.lint
def test_shellcheck_finds_nothing():
    shellcheck = Path(sys.executable).parent / "shellcheck"
    result = subprocess.run(
        [str(shellcheck), "--severity=style", str(SCRIPT)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout
    assert result.stdout == ""


# --- deploy --------------------------------------------------------------------------------------


def test_deploy_creates_the_stack_uploads_the_code_and_prints_the_outputs(launch, stack_name, aws_client):
    connection = f"arn:aws:codeconnections:{REGION}:{ACCOUNT}:connection/0c9a6f4e-8d7b-4a51-9e2f-3b6d5c4a1e00"
    result = deployed(launch, stack_name, "--code-connection-arn", connection)

    cloudformation = aws_client("cloudformation")
    stack = describe(cloudformation, stack_name)
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    parameters = parameters_of(stack)
    assert parameters["NotificationEmail"] == "ml@example.com"
    assert parameters["GitHubOwner"] == "octo"
    assert parameters["TrainingInstanceType"] == "ml.m5.large"  # the template default
    assert parameters["LambdaCodeBucket"] == code_bucket()
    s3 = aws_client("s3")
    s3.head_object(Bucket=code_bucket(), Key=parameters["LambdaCodeKey"])
    s3.head_object(Bucket=code_bucket(), Key=parameters["ContainerCodePrefix"] + "container.zip")
    assert parameters["LambdaCodeKey"].startswith(f"{stack_name}/lambdas-")
    block = s3.get_public_access_block(Bucket=code_bucket())["PublicAccessBlockConfiguration"]
    assert all(block.values())

    outputs = {item["OutputKey"]: item["OutputValue"] for item in stack["Outputs"]}
    assert f"Outputs of {stack_name} ({REGION}):" in result.stdout
    for key in OUTPUTS:
        assert key in outputs
        assert f"  {key}" in result.stdout
        assert outputs[key] in result.stdout
    assert "CREATE_COMPLETE" in result.stdout  # streamed stack event
    assert outputs["ConnectionArn"] == connection
    # moto has no CodeConnections API: the script warns and still succeeds.
    assert "could not read the GitHub connection status" in result.stderr
    assert "https://console.aws.amazon.com/codesuite/settings/connections?region=eu-west-1" in result.stderr


def test_redeploy_without_changes_succeeds_and_an_update_keeps_unset_values(launch, stack_name, aws_client):
    deployed(launch, stack_name)

    again = deployed(launch, stack_name)
    assert "Already uploaded" in again.stdout
    assert "Built dist/lambdas.zip" in again.stdout

    update = launch("deploy", "--stack-name", stack_name, "--training-instance-count", "2")
    assert update.returncode == 0, update.stdout + update.stderr
    parameters = parameters_of(describe(aws_client("cloudformation"), stack_name))
    assert parameters["TrainingInstanceCount"] == "2"
    assert parameters["NotificationEmail"] == "ml@example.com"  # previous value kept
    assert parameters["GitHubRepo"] == "model-repo"


def test_deploy_works_in_us_east_1_which_takes_no_location_constraint(launch, stack_name, aws_client):
    deployed(launch, stack_name, "--region", "us-east-1")

    stack = describe(aws_client("cloudformation", "us-east-1"), stack_name)
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert parameters_of(stack)["LambdaCodeBucket"] == code_bucket("us-east-1")
    assert_no_stack(aws_client("cloudformation"), stack_name)


def logging_cli(tmp_path: Path) -> Path:
    """The real AWS CLI behind a wrapper that records every command line."""
    wrapper = tmp_path / "aws-logging"
    wrapper.write_text(
        "#!/usr/bin/env bash\n"
        f'echo "$*" >> {tmp_path / "aws-calls.log"}\n'
        f'exec {SCRIPT.parent / ".venv" / "bin" / "aws"} "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper


def test_flags_beat_environment_which_beats_the_settings_file(
    launch, stack_name, aws_client, settings_file, tmp_path
):
    marker = tmp_path / "executed"
    settings_file.write_text(
        "# comments and blank lines are fine\n\n"
        "SMP_GITHUB_OWNER=octo\n"
        "export SMP_GITHUB_REPO='model-repo'\n"
        'SMP_NOTIFICATION_EMAIL="file@example.com"\n'
        "SMP_TRAINING_INSTANCE_COUNT=3\n"
        "SMP_ENDPOINT_INSTANCE_COUNT=3\n"
        f"SMP_BUILD_IMAGE=$(touch {marker})\n"
    )
    result = launch(
        "deploy",
        "--stack-name",
        stack_name,
        "--endpoint-instance-count",
        "2",
        "--build-image",
        "aws/codebuild/standard:7.0",
        env={
            "SMP_NOTIFICATION_EMAIL": "env@example.com",
            "SMP_ENDPOINT_INSTANCE_COUNT": "4",
            "SMP_AWS_CLI": str(logging_cli(tmp_path)),
        },
    )

    assert result.returncode == 0, result.stdout + result.stderr
    parameters = parameters_of(describe(aws_client("cloudformation"), stack_name))
    assert parameters["NotificationEmail"] == "env@example.com"
    assert parameters["TrainingInstanceCount"] == "3"
    assert parameters["EndpointInstanceCount"] == "2"
    assert parameters["GitHubRepo"] == "model-repo"
    assert not marker.exists(), "the settings file must be read as data, never executed"
    assert "SMP_TRAINING_INSTANCE_COUNT (" in result.stdout  # the origin of each value is shown
    calls = (tmp_path / "aws-calls.log").read_text()
    assert "cloudformation deploy" in calls
    assert "--parameter-overrides file://" in calls
    assert "env@example.com" not in calls, "parameter values must not appear in any command line"


def test_a_failed_deploy_prints_the_failed_events_and_the_next_deploy_says_what_to_do(
    launch, stack_name, aws_client
):
    reason = "Resource handler returned message: bucket name already taken"
    with change_sets_fail("TrainingInputBucket", reason):
        failed = launch("deploy", "--stack-name", stack_name, *REQUIRED, env={"AWS_MAX_ATTEMPTS": "1"})

    assert failed.returncode == 1
    assert f"Deploy of {stack_name} failed" in failed.stderr
    failed_events = failed.stderr.split("Failed events:", 1)[1]
    assert "CREATE_FAILED" in failed_events
    assert "TrainingInputBucket" in failed_events
    assert reason in failed_events
    assert describe(aws_client("cloudformation"), stack_name)["StackStatus"] == "ROLLBACK_COMPLETE"

    retry = launch("deploy", "--stack-name", stack_name, *REQUIRED)
    assert retry.returncode == 2
    assert "ROLLBACK_COMPLETE" in retry.stderr
    assert f"delete --stack-name {stack_name}" in retry.stderr


# --- fail fast -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--notification-email", "not-an-email", "NotificationEmail 'not-an-email' is not an e-mail address"),
        (
            "--training-instance-type",
            "ml.x9.huge",
            "TrainingInstanceType 'ml.x9.huge' is not one of the allowed",
        ),
        (
            "--endpoint-instance-type",
            "m5.large",
            "EndpointInstanceType 'm5.large' is not a SageMaker instance",
        ),
        ("--training-instance-count", "two", "TrainingInstanceCount 'two' is not a number"),
        ("--use-spot-training", "yes", "UseSpotTraining 'yes' must be true or false"),
        ("--hyperparameters", "{not json", "Hyperparameters '{not json' is not valid JSON"),
        ("--max-training-runtime-seconds", "90000", "MaxTrainingRuntimeSeconds '90000' is above the maximum"),
    ],
)
def test_a_bad_parameter_fails_before_any_aws_call(launch, stack_name, aws_client, flag, value, message):
    result = launch("deploy", "--stack-name", stack_name, *REQUIRED, flag, value)

    assert result.returncode == 2
    assert f"error: {flag}: {message}" in result.stderr
    assert "Built dist/lambdas.zip" not in result.stdout
    assert_no_stack(aws_client("cloudformation"), stack_name)


def test_a_bad_value_in_the_settings_file_names_the_file_and_line(launch, stack_name, settings_file):
    settings_file.write_text("SMP_GITHUB_OWNER=octo\nSMP_TRAINING_INSTANCE_TYPE=ml.m5.gigantic\n")

    result = launch("deploy", "--stack-name", stack_name)

    assert result.returncode == 2
    assert f"SMP_TRAINING_INSTANCE_TYPE ({settings_file} line 2): TrainingInstanceType" in result.stderr


def test_unknown_settings_file_variables_and_options_are_refused(launch, stack_name, settings_file):
    settings_file.write_text("SMP_NOTIFICATION_EMAL=typo@example.com\n")
    typo = launch("deploy", "--stack-name", stack_name)
    assert typo.returncode == 2
    assert f"{settings_file} line 1: unknown variable SMP_NOTIFICATION_EMAL" in typo.stderr

    settings_file.write_text("")
    unknown = launch("deploy", "--notification-emal", "x@example.com")
    assert unknown.returncode == 2
    assert "unknown option --notification-emal" in unknown.stderr


def test_a_new_stack_needs_the_parameters_without_default(launch, stack_name, aws_client):
    result = launch("deploy", "--stack-name", stack_name, "--github-owner", "octo")

    assert result.returncode == 2
    assert "NotificationEmail is required for a new stack" in result.stderr
    assert "GitHubRepo is required for a new stack" in result.stderr
    assert_no_stack(aws_client("cloudformation"), stack_name)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ("--github-owner", "octo", "--github-repo", "model-repo"),
            "NotificationEmail is required for a new stack",
        ),
        (
            (*REQUIRED[:4], "--notification-email", "not-an-email"),
            "NotificationEmail 'not-an-email' is not an e-mail",
        ),
        ((*REQUIRED, "--github-repo", "has spaces"), "GitHubRepo 'has spaces' does not match the pattern"),
        (
            (*REQUIRED, "--deploy-endpoint", "false", "--require-manual-approval", "true"),
            "RequireManualApproval=true needs DeployEndpoint=true",
        ),
    ],
)
def test_invalid_input_fails_before_the_first_aws_write(launch, stack_name, aws_client, arguments, message):
    bucket = f"code-{stack_name}"
    result = launch("deploy", "--stack-name", stack_name, "--code-bucket", bucket, *arguments)

    assert result.returncode == 2
    assert message in result.stderr
    assert "Built dist/lambdas.zip" not in result.stdout
    buckets = [entry["Name"] for entry in aws_client("s3").list_buckets()["Buckets"]]
    assert bucket not in buckets
    assert_no_stack(aws_client("cloudformation"), stack_name)


# Assembled at run time so the repository holds nothing a secret scanner takes for a real token.
FAKE_GITHUB_TOKEN = "ghp" + "_abcdefghijklmnopqrstuvwxyz0123456789"


@pytest.mark.parametrize("flag", ["--github-token", f"--oauth-token={FAKE_GITHUB_TOKEN}"])
def test_secret_flags_are_refused_without_echoing_the_secret(launch, flag):
    result = launch("deploy", flag, FAKE_GITHUB_TOKEN)

    assert result.returncode == 2
    assert "no secret is ever taken on the command line" in result.stderr
    assert "CodeConnections" in result.stderr
    assert "ghp_abc" not in result.stdout + result.stderr


def test_values_that_look_like_credentials_are_masked(launch, stack_name):
    token = FAKE_GITHUB_TOKEN
    result = launch("deploy", "--stack-name", stack_name, *REQUIRED, "--github-owner", token)

    assert result.returncode == 2
    assert token not in result.stdout + result.stderr
    assert "error: --github-owner: GitHubOwner **** does not match the pattern" in result.stderr


# --- status and delete -----------------------------------------------------------------------


def pending_connection_cli(tmp_path: Path) -> Path:
    """An AWS CLI that reports every connection PENDING (moto has no CodeConnections) and logs the ARN."""
    wrapper = tmp_path / "aws"
    wrapper.write_text(
        "#!/usr/bin/env bash\n"
        'if [[ " $* " == *" get-connection "* ]]; then\n'
        f'  echo "$*" >> {tmp_path / "get-connection.log"}\n'
        "  echo PENDING\n"
        "  exit 0\n"
        "fi\n"
        f'exec {SCRIPT.parent / ".venv" / "bin" / "aws"} "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper


def test_status_then_delete_removes_the_stack(launch, stack_name, aws_client, tmp_path):
    connection = f"arn:aws:codeconnections:{REGION}:{ACCOUNT}:connection/5d0c3f1a-9b8e-4c7d-a6f5-e4d3c2b1a090"
    deployed(launch, stack_name, "--code-connection-arn", connection)
    status = launch(
        "status", "--stack-name", stack_name, env={"SMP_AWS_CLI": str(pending_connection_cli(tmp_path))}
    )
    assert status.returncode == 0, status.stderr
    assert f"Stack {stack_name} ({REGION}): CREATE_COMPLETE\n" in status.stdout
    assert "TrainingInputBucket" in status.stdout
    assert "GitHub connection: PENDING" in status.stdout
    assert (
        f"open https://console.aws.amazon.com/codesuite/settings/connections?region={REGION}" in status.stdout
    )
    assert f"--connection-arn {connection}" in (tmp_path / "get-connection.log").read_text()

    result = launch("delete", "--stack-name", stack_name)

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Stack {stack_name} deleted." in result.stdout
    assert "DELETE_COMPLETE" in result.stdout
    assert_no_stack(aws_client("cloudformation"), stack_name)
    gone = launch("status", "--stack-name", stack_name)
    assert gone.returncode == 1
    assert f"Stack {stack_name} does not exist in {REGION}." in gone.stderr
    again = launch("delete", "--stack-name", stack_name)
    assert again.returncode == 0
    assert "nothing to delete" in again.stdout


def test_delete_purge_switches_data_deletion_on_before_deleting(launch, stack_name, aws_client):
    deployed(launch, stack_name)
    cloudformation = aws_client("cloudformation")
    stack_id = describe(cloudformation, stack_name)["StackId"]
    assert parameters_of(describe(cloudformation, stack_id))["DeleteDataOnStackDelete"] == "false"

    result = launch("delete", "--purge", "--stack-name", stack_name)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Setting DeleteDataOnStackDelete=true" in result.stdout
    deleted = describe(cloudformation, stack_id)
    assert deleted["StackStatus"] == "DELETE_COMPLETE"
    assert parameters_of(deleted)["DeleteDataOnStackDelete"] == "true"
    assert parameters_of(deleted)["NotificationEmail"] == "ml@example.com"


# --- package, publish, local -------------------------------------------------------------------


def test_package_builds_both_bundles_without_aws(launch, repo_root):
    result = launch("package", env={"AWS_ENDPOINT_URL": "http://localhost:9"})

    assert result.returncode == 0, result.stderr
    assert (repo_root / "dist" / "lambdas.zip").stat().st_size > 0
    assert (repo_root / "dist" / "container.zip").stat().st_size > 0


def test_publish_uploads_the_release_and_prints_a_region_aware_launch_stack_url(launch, aws_client):
    region = "ap-southeast-2"
    bucket = "smp-public-releases"
    s3 = aws_client("s3", region)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})

    result = launch("publish", "--bucket", bucket, "--version", "v1.2.3", "--stack-name", "ml-pipeline")

    if not (Path(SCRIPT).parent / "container" / "buildspec.yml").exists():
        assert result.returncode == 2
        assert "container/buildspec.yml is missing" in result.stderr
        pytest.skip("container/buildspec.yml does not exist yet")
    assert result.returncode == 0, result.stderr
    release = "sagemaker-pipeline/v1.2.3/"
    keys = {item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert {
        release + name
        for name in ("sagemaker-pipeline.yaml", "lambdas.zip", "container.zip", "buildspec.yml")
    } <= keys
    grants = s3.get_object_acl(Bucket=bucket, Key=release + "sagemaker-pipeline.yaml")["Grants"]
    assert [grant["Permission"] for grant in grants] == ["FULL_CONTROL"]  # no public ACL

    template_url = f"https://{bucket}.s3.{region}.amazonaws.com/{release}sagemaker-pipeline.yaml"
    assert f"Template:     {template_url}" in result.stdout
    launch_line = next(line for line in result.stdout.splitlines() if line.startswith("Launch Stack: "))
    launch_url = launch_line.removeprefix("Launch Stack: ")
    console, fragment = launch_url.split("#", 1)
    assert console == f"https://console.aws.amazon.com/cloudformation/home?region={region}"
    path, query = fragment.split("?", 1)
    assert path == "/stacks/quickcreate"
    fields = dict(urllib.parse.parse_qsl(query))
    assert fields == {
        "templateURL": template_url,
        "stackName": "ml-pipeline",
        "param_LambdaCodeBucket": bucket,
        "param_LambdaCodeKey": release + "lambdas.zip",
        "param_ContainerCodePrefix": release,
    }


def test_publish_needs_a_bucket(launch):
    result = launch("publish")

    assert result.returncode == 2
    assert "publish needs --bucket BUCKET" in result.stderr


def test_local_hands_every_other_argument_to_localmode(launch, tmp_path):
    # `python -m` looks in the working directory first, so this stand-in shadows the real package.
    (tmp_path / "localmode").mkdir()
    (tmp_path / "localmode" / "__init__.py").write_text("")
    (tmp_path / "localmode" / "__main__.py").write_text("import sys\nprint('localmode', sys.argv[1:])\n")

    demo = launch("--local", cwd=tmp_path)
    delete = launch("delete", "--local", "--purge", "--stack-name", "demo", cwd=tmp_path)

    assert demo.stdout == "localmode []\n", demo.stderr
    assert delete.stdout == "localmode ['delete', '--purge', '--stack-name', 'demo']\n", delete.stderr


def test_local_refuses_commands_local_mode_does_not_have(launch):
    result = launch("--local", "publish", "--bucket", "b")

    assert result.returncode == 2
    assert "--local does not support 'publish'" in result.stderr


def test_redeploy_without_an_idle_deleted_endpoint_says_what_to_do(launch, stack_name):
    deployed(launch, stack_name)
    result = launch("redeploy", "--stack-name", stack_name)
    assert result.returncode == 1
    assert "was left by the idle-endpoint guard; push a commit" in result.stderr
