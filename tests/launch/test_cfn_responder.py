"""The custom resource responder lets moto finish a CreateStack whose template has Custom::Teardown."""

from __future__ import annotations

import time

import pytest

from .cfn_responder import CustomResourceResponder
from .conftest import ACCOUNT, REGION, TEMPLATE


@pytest.fixture
def code_object(aws_client) -> tuple[str, str]:
    bucket, key = f"responder-code-{ACCOUNT}", "lambdas.zip"
    s3 = aws_client("s3")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=bucket, Key=key, Body=b"PK\x05\x06" + b"\x00" * 18)  # an empty zip
    return bucket, key


def wait_for_status(cloudformation, stack_name: str, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    while True:
        status = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"]
        if status != "CREATE_IN_PROGRESS" or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


def test_create_stack_with_the_real_template_completes_once_teardown_is_answered(
    moto_endpoint, aws_client, code_object, stack_name
):
    cloudformation = aws_client("cloudformation")
    bucket, key = code_object
    aws_client("s3").put_object(Bucket=bucket, Key="sagemaker-pipeline.yaml", Body=TEMPLATE.read_bytes())
    cloudformation.create_stack(
        StackName=stack_name,
        TemplateURL=f"https://{bucket}.s3.{REGION}.amazonaws.com/sagemaker-pipeline.yaml",
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
        Parameters=[
            {"ParameterKey": name, "ParameterValue": value}
            for name, value in {
                "GitHubOwner": "octo",
                "GitHubRepo": "model-repo",
                "NotificationEmail": "ml@example.com",
                "LambdaCodeBucket": bucket,
                "LambdaCodeKey": key,
            }.items()
        ],
    )
    assert (
        cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"]
        == "CREATE_IN_PROGRESS"
    )

    responder = CustomResourceResponder(cloudformation, moto_endpoint)
    responder.start()
    try:
        status = wait_for_status(cloudformation, stack_name)
    finally:
        responder.stop()

    assert status == "CREATE_COMPLETE"
    assert (stack_name, "Teardown") in responder.answered
    assert responder.errors == []
