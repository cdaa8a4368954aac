"""Throttling and 5xx: retried by botocore's standard mode against a local endpoint, then reported."""

from __future__ import annotations

import json

import botocore.retries.standard
import pytest
import train_trigger
from common import clients
from lambda_helpers import EXECUTION_ID, JOB_NAME, CapturingServer, PipelineResults, pipeline_job

TOKEN = json.dumps(
    {"attempt": 1, "job": JOB_NAME, "run": EXECUTION_ID}, separators=(",", ":"), sort_keys=True
)
IN_PROGRESS = {
    "TrainingJobName": JOB_NAME,
    "TrainingJobArn": f"arn:aws:sagemaker:eu-west-1:123456789012:training-job/{JOB_NAME}",
    "TrainingJobStatus": "InProgress",
    "SecondaryStatus": "Training",
    "AlgorithmSpecification": {"TrainingInputMode": "File"},
    "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
    "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    "CreationTime": 1764331200.0,
}


def sagemaker_answers(failures: int, status: int, code: str):
    """A SageMaker JSON endpoint failing ``failures`` times with ``code`` before answering."""
    seen: list[int] = []

    def answer(_method: str, _path: str, _body: bytes):
        seen.append(1)
        if len(seen) <= failures:
            payload = {"__type": code, "message": "Rate exceeded" if status == 400 else "Internal failure"}
            return status, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(payload).encode()
        return 200, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(IN_PROGRESS).encode()

    return answer


def poll_against(monkeypatch, answer) -> tuple[int, tuple[str, dict]]:
    """One polling invocation of train_trigger against a SageMaker answering with ``answer``:
    (requests SageMaker received, the one job result)."""
    with CapturingServer(answer) as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", server.url)
        clients.reset_clients()
        results = PipelineResults()
        train_trigger.handler(pipeline_job(continuation=TOKEN), None)
    return len(server.requests), results.only()


@pytest.fixture
def no_backoff(monkeypatch):
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)


@pytest.mark.parametrize(
    ("status", "code"), [(400, "ThrottlingException"), (500, "InternalFailure"), (503, "ServiceUnavailable")]
)
def test_transient_errors_are_retried_and_the_job_continues(
    fresh_clients, monkeypatch, no_backoff, status, code
):
    requests, (outcome, params) = poll_against(monkeypatch, sagemaker_answers(2, status, code))
    assert requests == 3
    assert outcome == "success" and params["continuationToken"] == TOKEN


def test_persistent_throttling_is_reported_after_the_retries(fresh_clients, monkeypatch, no_backoff):
    requests, (outcome, params) = poll_against(monkeypatch, sagemaker_answers(99, 400, "ThrottlingException"))
    assert requests == 3
    assert outcome == "failure"
    message = params["failureDetails"]["message"]
    assert "kept failing DescribeTrainingJob (ThrottlingException) after retries" in message
