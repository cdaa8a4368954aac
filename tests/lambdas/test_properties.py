"""Fuzzed events: malformed or truncated input never raises, and CodePipeline jobs get one result.

Each handler gets 200 events derived from its documented samples: fields deleted, replaced by
arbitrary JSON, strings truncated (UserParameters, continuation tokens, SQS bodies included),
or the whole event replaced by a truncated serialisation or arbitrary JSON.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import data_trigger
import deploy_endpoint
import job_events
import pytest
import teardown
import train_trigger
from common import clients, codepipeline
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lambda_helpers import EXECUTION_ID, JOB_NAME, Intercept, deploy_job, load_event, pipeline_job

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _parent(event: Any, path: tuple) -> Any:
    for step in path[:-1]:
        event = event[step]
    return event


@st.composite
def mutated(draw: st.DrawFn, samples: list[dict[str, Any]]) -> Any:
    event = copy.deepcopy(draw(st.sampled_from(samples)))
    whole = draw(st.integers(min_value=0, max_value=9))
    if whole == 0:
        text = json.dumps(event)
        cut = text[: draw(st.integers(min_value=0, max_value=len(text) - 1))]
        try:
            return json.loads(cut)
        except ValueError:
            return cut
    if whole == 1:
        return draw(json_values)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(event)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _parent(event, path)
        action = draw(st.sampled_from(["delete", "replace", "truncate"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "replace":
            parent[path[-1]] = draw(json_values)
        elif isinstance(parent[path[-1]], str):
            text = parent[path[-1]]
            parent[path[-1]] = text[: draw(st.integers(min_value=0, max_value=max(len(text) - 1, 0)))]
        else:
            parent[path[-1]] = str(parent[path[-1]])[:3]
    return event


def _expected_results(event: Any) -> int:
    return 1 if codepipeline.codepipeline_job_id(event) else 0


TRAIN_SAMPLES = [
    pipeline_job(),
    pipeline_job(continuation=json.dumps({"attempt": 1, "job": JOB_NAME, "run": EXECUTION_ID})),
]
DEPLOY_SAMPLES = [
    deploy_job(),
    deploy_job(
        continuation=json.dumps({"config": JOB_NAME, "endpoint": "demo-stack-endpoint", "run": EXECUTION_ID})
    ),
]


@pytest.fixture
def completed_training(aws):
    """A completed training job the fuzzed deploy events can find, so deeper paths get exercised."""
    aws.table.put_item(Item={"run_id": EXECUTION_ID, "training_job_name": JOB_NAME, "image_uri": "x"})
    Intercept(
        clients.client("sagemaker"),
        "DescribeTrainingJob",
        lambda _p: {
            "TrainingJobName": JOB_NAME,
            "TrainingJobArn": f"arn:aws:sagemaker:eu-west-1:123456789012:training-job/{JOB_NAME}",
            "TrainingJobStatus": "Completed",
            "ModelArtifacts": {"S3ModelArtifacts": "s3://demo-stack-models/model.tar.gz"},
            "AlgorithmSpecification": {"TrainingInputMode": "File"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
            "CreationTime": 1764331200.0,
        },
    )


@FUZZ
@given(event=mutated(TRAIN_SAMPLES))
def test_train_trigger_fuzz(aws, results, event):
    results.clear()
    train_trigger.handler(event, None)
    assert results.count == _expected_results(event)


@FUZZ
@given(event=mutated(DEPLOY_SAMPLES))
def test_deploy_endpoint_fuzz(aws, results, completed_training, event):
    results.clear()
    Intercept(clients.client("sagemaker"), "UpdateEndpoint", lambda _p: {"EndpointArn": "arn:x"})
    deploy_endpoint.handler(event, None)
    assert results.count == _expected_results(event)


@FUZZ
@given(
    event=mutated(
        [
            load_event("training_inprogress"),
            load_event("training_completed"),
            load_event("training_failed"),
            load_event("training_stopped"),
        ]
    )
)
def test_job_events_fuzz(aws, event):
    aws.table.put_item(Item={"run_id": EXECUTION_ID, "training_job_name": JOB_NAME, "status": "InProgress"})
    result = job_events.handler(event, None)
    assert result["outcome"] in {
        "ignored",
        "in-progress",
        "stale",
        "recorded",
        "recorded+notified",
        "duplicate",
    }


@FUZZ
@given(event=mutated([load_event("sqs_s3_object_created")]))
def test_data_trigger_fuzz(aws, event):
    Intercept(
        clients.client("codepipeline"),
        "StartPipelineExecution",
        lambda _p: {"pipelineExecutionId": "00000000-0000-0000-0000-000000000001"},
    )
    result = data_trigger.handler(event, None)
    records = event.get("Records") if isinstance(event, dict) else None
    ids = {
        record.get("messageId")
        for record in (records if isinstance(records, list) else [])
        if isinstance(record, dict) and isinstance(record.get("messageId"), str)
    }
    assert {failure["itemIdentifier"] for failure in result["batchItemFailures"]} <= ids


@FUZZ
@given(event=mutated([load_event("cfn_create"), load_event("cfn_update"), load_event("cfn_delete")]))
def test_teardown_fuzz(aws, http_server, event):
    http_server.requests.clear()
    if isinstance(event, dict) and isinstance(event.get("ResponseURL"), str):
        event["ResponseURL"] = event["ResponseURL"].replace(
            "https://cloudformation-custom-resource-response-euwest1.s3-eu-west-1.amazonaws.com",
            http_server.url,
        )
    status = teardown.handler(event, None)
    answered = isinstance(event, dict) and isinstance(event.get("ResponseURL"), str)
    assert status in ({"SUCCESS", "FAILED"} if answered else {""})
    if answered and event["ResponseURL"].startswith(http_server.url + "/"):
        assert len(http_server.requests) == 1
        assert json.loads(http_server.requests[0]["body"])["Status"] == status
