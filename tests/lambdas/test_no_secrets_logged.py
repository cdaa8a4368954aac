"""No handler ever writes a credential to its logs or into a result, on success or failure paths."""

from __future__ import annotations

import json
import logging

import data_trigger
import deploy_endpoint
import job_events
import pytest
import teardown
import train_trigger
from common import clients
from lambda_helpers import SECRETS, CapturingServer, Intercept, deploy_job, load_event, pipeline_job

SECRET_ACCESS_KEY, SESSION_TOKEN, ACCESS_KEY_ID = SECRETS


def _codepipeline_events(build) -> list[dict]:
    valid = build()
    bad_parameters = build()
    configuration = bad_parameters["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]
    configuration["UserParameters"] = configuration["UserParameters"][:25]
    garbled_token = build(continuation="{" + SESSION_TOKEN)
    return [valid, bad_parameters, garbled_token]


def _training_event() -> dict:
    event = load_event("training_failed")
    event["detail"]["Environment"] = {"AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY}
    event["detail"]["HyperParameters"]["api_token"] = SESSION_TOKEN
    return event


def _sqs_event() -> dict:
    event = load_event("sqs_s3_object_created")
    record = event["Records"][0]
    record["messageAttributes"] = {"token": {"stringValue": SESSION_TOKEN, "dataType": "String"}}
    broken = dict(record, messageId="broken", body=record["body"][:40] + SECRET_ACCESS_KEY)
    event["Records"].append(broken)
    return event


def _custom_resource_events(url: str) -> list[dict]:
    events = []
    for name in ("cfn_create", "cfn_delete"):
        event = load_event(name)
        event["ResponseURL"] = (
            f"{url}/response?X-Amz-Security-Token={SESSION_TOKEN}&X-Amz-Credential={ACCESS_KEY_ID}"
        )
        event["ResourceProperties"]["ApiKey"] = SECRET_ACCESS_KEY
        events.append(event)
    broken = dict(events[0], RequestType=SECRET_ACCESS_KEY)
    return [*events, broken]


@pytest.fixture
def all_output(caplog, capfd):
    caplog.set_level(logging.INFO)  # botocore's DEBUG wire logs are off in Lambda too

    def collect() -> str:
        captured = capfd.readouterr()
        return "\n".join([caplog.text, captured.out, captured.err])

    return collect


def test_no_handler_logs_or_returns_a_secret(aws, results, all_output):
    Intercept(clients.client("sagemaker"), "UpdateEndpoint", lambda _p: {"EndpointArn": "arn:x"})
    Intercept(
        clients.client("codepipeline"),
        "StartPipelineExecution",
        lambda _p: {"pipelineExecutionId": "00000000-0000-0000-0000-000000000001"},
    )
    outputs = []
    for event in _codepipeline_events(pipeline_job):
        train_trigger.handler(event, None)
    for event in _codepipeline_events(deploy_job):
        deploy_endpoint.handler(event, None)
    aws.table.put_item(
        Item={
            "run_id": "2f1b7c3e-5a1d-4c6e-9f0a-1b2c3d4e5f60",
            "training_job_name": "demo-stack-2f1b7c3e-5a1d-4c6e-9f0a-1b2c3d4e5f60",
            "status": "InProgress",
        }
    )
    outputs.append(json.dumps(job_events.handler(_training_event(), None)))
    outputs.append(json.dumps(data_trigger.handler(_sqs_event(), None)))
    forbidden = (403, {}, b"<Error><Code>AccessDenied</Code></Error>")
    with CapturingServer(lambda *_: forbidden) as server:
        for event in _custom_resource_events(server.url):
            outputs.append(str(teardown.handler(event, None)))

    assert results.count == 6
    results_text = json.dumps([results.successes.calls, results.failures.calls])
    logged = all_output()
    assert '"handler": "train_trigger"' in logged and '"handler": "teardown"' in logged
    for secret in SECRETS:
        assert secret not in logged
        assert secret not in results_text
        assert secret not in "\n".join(outputs)
    for _subject, body in aws.emails():
        assert not any(secret in body for secret in SECRETS)
