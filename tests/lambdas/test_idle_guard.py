"""The idle-endpoint guard end to end on a fake clock (issue 16 item 1): an endpoint idle for
IdleEndpointHours is deleted (its model and config kept), recorded, the owner emailed how to bring it
back, and `launch-cicd-pipeline.sh redeploy`'s core brings it back serving the same release."""

from __future__ import annotations

import datetime as dt
from typing import Any

import idle_guard
import pytest
from common import clients, idle_endpoint
from lambda_helpers import ENDPOINT, IMAGE_URI, ROLE_ARN, STACK

from scripts.redeploy_endpoint import RedeployError, redeploy

RELEASE = f"{STACK}-release-1"
STACK_TAGS = [
    {"Key": "sagemaker-pipeline:stack", "Value": STACK},
    {"Key": "sagemaker-pipeline:run-id", "Value": "r1"},
]


@pytest.fixture
def guard(aws, monkeypatch):
    monkeypatch.setenv("IDLE_HOURS", "2")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    sagemaker = aws.sagemaker
    sagemaker.create_model(
        ModelName=RELEASE, PrimaryContainer={"Image": IMAGE_URI}, ExecutionRoleArn=ROLE_ARN
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=RELEASE,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": RELEASE,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
        Tags=STACK_TAGS,
    )
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=RELEASE, Tags=STACK_TAGS)
    return aws


def run_guard(now: dt.datetime) -> dict[str, str]:
    return idle_guard.handle({}, services=idle_guard.Services.create, now=lambda: now)


def endpoint_changed(sagemaker: Any) -> dt.datetime:
    return sagemaker.describe_endpoint(EndpointName=ENDPOINT)["LastModifiedTime"]


def invoked(at: dt.datetime, count: float = 3.0) -> None:
    clients.client("cloudwatch").put_metric_data(
        Namespace="AWS/SageMaker",
        MetricData=[
            {
                "MetricName": "Invocations",
                "Dimensions": [
                    {"Name": "EndpointName", "Value": ENDPOINT},
                    {"Name": "VariantName", "Value": "AllTraffic"},
                ],
                "Timestamp": at,
                "Value": count,
                "Unit": "None",
            }
        ],
    )


def config_tags(sagemaker: Any) -> dict[str, str]:
    arn = sagemaker.describe_endpoint_config(EndpointConfigName=RELEASE)["EndpointConfigArn"]
    return {tag["Key"]: tag["Value"] for tag in sagemaker.list_tags(ResourceArn=arn)["Tags"]}


def test_idle_deleted_emailed_redeployed_serving(guard):
    sagemaker = guard.sagemaker
    start = endpoint_changed(sagemaker)

    # one hour in: younger than the idle window, kept
    assert run_guard(start + dt.timedelta(hours=1))["action"] == "kept"
    # three hours in, but served a request 30 minutes ago: kept
    invoked(start + dt.timedelta(hours=2, minutes=30))
    assert run_guard(start + dt.timedelta(hours=3))["action"] == "kept"
    assert guard.emails() == []

    # six hours in, nothing for the last two: deleted, recorded, emailed
    later = start + dt.timedelta(hours=6)
    assert run_guard(later) == {"action": "deleted", "reason": "no invocations in 2 hours"}
    assert sagemaker.list_endpoints()["Endpoints"] == []
    assert sagemaker.describe_model(ModelName=RELEASE)["ModelName"] == RELEASE  # kept
    assert config_tags(sagemaker)[idle_endpoint.IDLE_DELETED_TAG] == later.strftime("%Y-%m-%dT%H:%M:%SZ")
    [(subject, body)] = guard.emails()
    assert subject == f"[{STACK}] Idle endpoint {ENDPOINT} deleted"
    assert f"./launch-cicd-pipeline.sh redeploy --stack-name {STACK} --region eu-west-1" in body
    assert RELEASE in body

    # the next hour finds nothing to do
    assert run_guard(later + dt.timedelta(hours=1))["action"] == "absent"

    # redeploy: the same release, InService, the mark removed
    said: list[str] = []
    assert redeploy(sagemaker, STACK, ENDPOINT, say=said.append, sleep=lambda _s: None) == RELEASE
    endpoint = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    assert (endpoint["EndpointStatus"], endpoint["EndpointConfigName"]) == ("InService", RELEASE)
    tags = {
        tag["Key"]: tag["Value"] for tag in sagemaker.list_tags(ResourceArn=endpoint["EndpointArn"])["Tags"]
    }
    assert tags == {"sagemaker-pipeline:stack": STACK, "sagemaker-pipeline:run-id": "r1"}
    assert idle_endpoint.IDLE_DELETED_TAG not in config_tags(sagemaker)
    assert said[-1] == f"Endpoint {ENDPOINT} is InService with {RELEASE}"


def test_redeploy_refuses_when_the_endpoint_exists_or_nothing_was_marked(guard):
    with pytest.raises(RedeployError, match="exists"):
        redeploy(guard.sagemaker, STACK, ENDPOINT, say=lambda _m: None, sleep=lambda _s: None)
    guard.sagemaker.delete_endpoint(EndpointName=ENDPOINT)  # deleted by hand, not by the guard
    with pytest.raises(RedeployError, match="push a commit"):
        redeploy(guard.sagemaker, STACK, ENDPOINT, say=lambda _m: None, sleep=lambda _s: None)


def test_an_endpoint_of_another_stack_is_never_deleted(guard, monkeypatch):
    monkeypatch.setenv("STACK_NAME", "someone-else")
    later = endpoint_changed(guard.sagemaker) + dt.timedelta(hours=6)
    assert run_guard(later)["action"] == "kept"
    assert [e["EndpointName"] for e in guard.sagemaker.list_endpoints()["Endpoints"]] == [ENDPOINT]
    assert guard.emails() == []


def test_the_guards_clock_is_the_schedule_ticks_time():
    tick = idle_guard.tick_time({"time": "2026-12-01T18:00:00Z", "detail-type": "Scheduled Event"})
    assert tick == dt.datetime(2026, 12, 1, 18, tzinfo=dt.UTC)
    before = dt.datetime.now(dt.UTC)
    for event in ({}, {"time": "not a time"}, {"time": "2026-12-01T18:00:00"}, None):  # no zone: the clock
        assert idle_guard.tick_time(event) >= before
