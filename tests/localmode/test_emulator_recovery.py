"""Issue 14 items 7 and 3 in the emulator, with the real deploy handler: an endpoint left Failed is
deleted and created again by the next deploy, and an update whose smoke test fails is rolled back to
the config the endpoint served before it (never to a release SageMaker itself rolled back)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import deploy_endpoint
import pytest
from common import clients, names
from common.codepipeline import JobFailure
from common.deploy_settings import DeploySettings
from common.endpoint_recovery import BY_SAGEMAKER, BY_SMOKE_TEST
from common.logs import Log

from localmode.aws.mailbox import Mailbox
from tests.localmode.conftest import REGION, make_client, training_request, wait_for_training
from tests.localmode.test_emulator_endpoints import trained_model, wait_settled

STACK = "demo-stack"
ENDPOINT = "demo-stack-endpoint"
SAGEMAKER_ROLE = "arn:aws:iam::123456789012:role/smp-sagemaker-execution"


class Job:
    """One CodePipeline job invocation's result, as run_job would report it."""

    def __init__(self) -> None:
        self.log = Log("deploy_endpoint")
        self.token = ""
        self.summary = ""

    def succeed(self, summary: str, continuation_token: str = "", variables: Any = None) -> None:
        self.summary, self.token = summary, continuation_token


@pytest.fixture
def world(moto_url: str, emulator: Any, data_bucket: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The run table and topic in moto, the deploy handler's clients on moto and the emulator."""
    suffix = uuid.uuid4().hex[:8]
    dynamodb = boto3.resource("dynamodb", endpoint_url=moto_url, region_name=REGION)
    table = dynamodb.create_table(
        TableName=f"runs-{suffix}",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "run_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "run_id", "KeyType": "HASH"}],
    )
    sns = make_client("sns", moto_url)
    topic_arn = sns.create_topic(Name=f"notifications-{suffix}")["TopicArn"]
    mailbox = Mailbox(sns, make_client("sqs", moto_url), topic_arn, f"mailbox-{suffix}")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", moto_url)  # the handler's own SNS client (notify)
    clients.reset_clients()
    sagemaker = make_client("sagemaker", emulator.url)
    settings = DeploySettings(
        stack_name=STACK,
        table_name=table.name,
        topic_arn=topic_arn,
        role_arn=SAGEMAKER_ROLE,
        kms_key_arn="",
        endpoint_name=ENDPOINT,
        instance_type="ml.m5.large",
        instance_count=1,
        strategy="AllAtOnce",
        alarm_names=(),
        gate=None,
        smoke_bucket=data_bucket,
        smoke_key="",
        keep_last=10,
    )
    services = deploy_endpoint.Services(
        sagemaker,
        make_client("sagemaker-runtime", emulator.url),
        make_client("s3", moto_url),
        table,
        make_client("application-autoscaling", moto_url),
    )
    yield SimpleNamespace(
        sagemaker=sagemaker,
        settings=settings,
        services=services,
        table=table,
        mailbox=mailbox,
        s3=make_client("s3", moto_url),
        bucket=data_bucket,
    )
    clients.reset_clients()


def trained_run(world: Any, **hyperparameters: str) -> str:
    """A run whose training job completed in the emulator, recorded as the Train stage records it."""
    run_id = str(uuid.uuid4())
    job_name = names.resource_name(STACK, run_id)
    world.sagemaker.create_training_job(**training_request(job_name, world.bucket, **hyperparameters))
    assert wait_for_training(world.sagemaker, job_name)["TrainingJobStatus"] == "Completed"
    world.table.put_item(
        Item={"run_id": run_id, "training_job_name": job_name, "status": "Completed", "image_uri": ""}
    )
    return run_id


def deploy(world: Any, run_id: str, smoke_key: str = "") -> tuple[str, str]:
    """The Deploy action played as CodePipeline plays it: the first invocation, then the continuations
    until a result; ('succeeded' | 'failed', summary or failure message)."""
    settings = DeploySettings(**{**world.settings.__dict__, "smoke_key": smoke_key})
    token = None
    for _ in range(600):
        job = Job()
        try:
            deploy_endpoint.core(deploy_endpoint.DeployRequest(run_id, token), settings, world.services, job)
        except JobFailure as failure:
            return "failed", str(failure)
        if not job.token:
            return "succeeded", job.summary
        token = json.loads(job.token)
        time.sleep(0.1)  # CodePipeline waits between continuations too
    raise AssertionError(f"the deploy of run {run_id} never ended")


def predict(world: Any) -> bytes:
    answer = world.services.runtime.invoke_endpoint(
        EndpointName=ENDPOINT, Body=b"1,2", ContentType="text/csv"
    )
    return answer["Body"].read()


# ------------------------------------------------------------------------------------------- item 7
def test_update_of_a_failed_endpoint_is_refused_and_delete_then_create_is_accepted(sagemaker, data_bucket):
    """AWS: "DeleteEndpoint is the only operation that can be performed on a failed endpoint"."""
    broken = trained_model(sagemaker, data_bucket, "model-broken", broken="true")
    good = trained_model(sagemaker, data_bucket, "model-good")
    sagemaker.create_endpoint(EndpointName="ep", EndpointConfigName=broken)
    assert wait_settled(sagemaker, "ep")["EndpointStatus"] == "Failed"

    with pytest.raises(sagemaker.exceptions.ClientError) as refused:
        sagemaker.update_endpoint(EndpointName="ep", EndpointConfigName=good)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "DeleteEndpoint is the only operation" in refused.value.response["Error"]["Message"]

    sagemaker.delete_endpoint(EndpointName="ep")
    sagemaker.create_endpoint(EndpointName="ep", EndpointConfigName=good)
    assert wait_settled(sagemaker, "ep")["EndpointStatus"] == "InService"


def test_the_next_deploy_recreates_an_endpoint_left_failed(world):
    broken_run = trained_run(world, broken="true")
    outcome, message = deploy(world, broken_run)
    assert outcome == "failed" and "is Failed" in message
    assert world.sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] == "Failed"

    run = trained_run(world)
    outcome, message = deploy(world, run)

    assert outcome == "succeeded", message
    endpoint = world.sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    assert endpoint["EndpointStatus"] == "InService"
    assert endpoint["EndpointConfigName"] == names.resource_name(STACK, run)
    assert predict(world) == b"3"  # the stand-in answers its training row count (input/a.csv: 3 rows)
    item = world.table.get_item(Key={"run_id": run})["Item"]
    assert item["deploy_status"] == "InService" and item["recreated_failed_endpoint"] is True


# ------------------------------------------------------------------------------------------- item 3
def test_a_failed_smoke_test_rolls_back_to_what_the_endpoint_served_before(world):
    first = trained_run(world)
    assert deploy(world, first)[0] == "succeeded"
    first_config = names.resource_name(STACK, first)

    # An update that SageMaker rolls back itself (the model cannot load): it never served, so it is
    # recorded as rolled back and never becomes anyone's "previous".
    world.s3.put_object(Bucket=world.bucket, Key="input/b.csv", Body=b"7,8\n")
    never_served = trained_run(world, broken="true")
    outcome, message = deploy(world, never_served)
    assert outcome == "failed" and f"rolled back to {first_config}" in message
    rolled = world.table.get_item(Key={"run_id": never_served})["Item"]
    assert rolled["deploy_status"] == "RolledBack" and rolled["rollback"]["by"] == BY_SAGEMAKER
    assert rolled["rollback"]["to_config"] == first_config

    # The next release loads but fails the smoke test (the stand-in refuses JSON): back to the first.
    world.s3.put_object(Bucket=world.bucket, Key="smoke/payload.json", Body=b'{"rows": [[1, 2]]}')
    third = trained_run(world)
    outcome, message = deploy(world, third, smoke_key="smoke/payload.json")

    assert (
        outcome == "failed" and "Smoke test failed" in message and f"rolled back to {first_config}" in message
    )
    endpoint = world.sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    assert endpoint["EndpointStatus"] == "InService" and endpoint["EndpointConfigName"] == first_config
    assert predict(world) == b"3"  # the first model (3 rows), not the third (4 rows)
    item = world.table.get_item(Key={"run_id": third})["Item"]
    assert item["previous_endpoint_config_name"] == first_config
    assert item["deploy_status"] == "RolledBack"
    assert item["rollback"]["by"] == BY_SMOKE_TEST and item["rollback"]["to_config"] == first_config
    assert item["rollback"]["from_config"] == names.resource_name(STACK, third)
    subjects = [mail["subject"] for mail in world.mailbox.read()]
    assert subjects == [f"[{STACK}] Deploy rolled back: {ENDPOINT}"] * 2  # SageMaker's, then ours
