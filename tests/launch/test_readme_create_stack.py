"""The README's `aws cloudformation create-stack` instructions, typed as a user would, against a local
moto server that refuses a TemplateBody over 51,200 bytes as CloudFormation does."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from localmode.aws.strict_moto import TEMPLATE_BODY_MAX_BYTES

from .conftest import REGION, ROOT, TEMPLATE

README = ROOT / "README.md"
SECTION = re.compile(r"### 2\. `aws cloudformation create-stack`(.*?)### 3\.", re.DOTALL)


def readme_blocks(language: str) -> list[str]:
    section = SECTION.search(README.read_text(encoding="utf-8"))
    assert section, "the README has no create-stack section"
    return re.findall(rf"```{language}\n(.*?)```", section.group(1), re.DOTALL)


def aws_environment(moto_endpoint: str) -> dict[str, str]:
    environment = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "SMP_"))}
    environment.update(
        PATH=f"{ROOT / '.venv' / 'bin'}{os.pathsep}{environment.get('PATH', '')}",
        AWS_ENDPOINT_URL=moto_endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
    )
    return environment


def run_bash(script: str, moto_endpoint: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT,
        env=aws_environment(moto_endpoint),
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_the_template_needs_a_url(moto_endpoint):
    assert TEMPLATE.stat().st_size > TEMPLATE_BODY_MAX_BYTES
    refused = run_bash(
        f"aws cloudformation create-stack --stack-name too-big --template-body file://{TEMPLATE} "
        "--capabilities CAPABILITY_IAM",
        moto_endpoint,
    )
    assert refused.returncode != 0
    assert (
        "failed to satisfy constraint: Member must have length less than or equal to 51200" in refused.stderr
    )


def test_the_readme_commands_create_the_stack(moto_endpoint, aws_client, tmp_path: Path):
    [commands] = readme_blocks("bash")
    [parameters] = readme_blocks("json")
    parameters_file = tmp_path / "my-parameters.json"
    parameters_file.write_text(parameters, encoding="utf-8")
    script = commands.replace("file://my-parameters.json", f"file://{parameters_file}")
    assert "--template-body" not in script

    result = run_bash(script, moto_endpoint)

    assert result.returncode == 0, result.stdout + result.stderr
    [stack] = aws_client("cloudformation").describe_stacks(StackName="iris-pipeline")["Stacks"]
    assert stack["StackStatus"] != "ROLLBACK_COMPLETE"
    keys = {
        item["Key"]
        for item in aws_client("s3").list_objects_v2(Bucket="my-code-bucket-eu-west-1")["Contents"]
    }
    assert keys == {
        f"sagemaker-pipeline/{name}"
        for name in ("lambdas.zip", "container.zip", "buildspec.yml", "sagemaker-pipeline.yaml")
    }
    aws_client("cloudformation").delete_stack(StackName="iris-pipeline")


@pytest.fixture(autouse=True)
def _no_leftover_stack(aws_client):
    yield
    try:
        aws_client("cloudformation").delete_stack(StackName="iris-pipeline")
    except Exception:  # noqa: BLE001 - nothing to clean up
        pass
