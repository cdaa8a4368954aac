"""Issue 14 item 4 in the emulator: a training job's log goes to CloudWatch Logs where SageMaker puts it,
so a declared metric the log never printed is warned about locally as in AWS, with the log's tail."""

from __future__ import annotations

import copy
import uuid

import boto3
from common import logs, runs, training_state
from common.metric_warnings import LOG_GROUP

from tests.localmode.conftest import REGION, make_client, training_request, wait_for_training

DEFINITIONS = [
    {"Name": "validation:accuracy", "Regex": "accuracy=([0-9.]+)"},  # the stand-in prints it
    {"Name": "validation:rmse", "Regex": "rmse=([0-9.]+)"},  # it never does
]


def test_the_training_log_is_in_cloudwatch_logs_as_sagemaker_writes_it(sagemaker, data_bucket, moto_url):
    name = f"logged-{uuid.uuid4().hex[:8]}"
    sagemaker.create_training_job(**training_request(name, data_bucket))
    assert wait_for_training(sagemaker, name)["TrainingJobStatus"] == "Completed"

    cloudwatch = make_client("logs", moto_url)
    [stream] = cloudwatch.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix=f"{name}/")[
        "logStreams"
    ]
    assert stream["logStreamName"].startswith(f"{name}/algo-1-")
    events = cloudwatch.get_log_events(logGroupName=LOG_GROUP, logStreamName=stream["logStreamName"])[
        "events"
    ]
    assert [event["message"] for event in events] == ["read 3 rows", "validation accuracy=0.530"]


def test_a_declared_metric_the_log_never_printed_is_warned_about(sagemaker, data_bucket, moto_url):
    name = f"unprinted-{uuid.uuid4().hex[:8]}"
    request = training_request(name, data_bucket)
    request["AlgorithmSpecification"]["MetricDefinitions"] = copy.deepcopy(DEFINITIONS)
    sagemaker.create_training_job(**request)
    described = wait_for_training(sagemaker, name)
    assert [metric["MetricName"] for metric in described["FinalMetricDataList"]] == ["validation:accuracy"]

    table = boto3.resource("dynamodb", endpoint_url=moto_url, region_name=REGION).create_table(
        TableName=f"runs-{uuid.uuid4().hex[:8]}",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "run_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "run_id", "KeyType": "HASH"}],
    )
    table.put_item(Item={"run_id": "run-1", "training_job_name": name, "status": "InProgress"})
    state = training_state.TrainingJobState.from_description(described)
    services = runs.RecordServices(table, make_client("s3", moto_url), make_client("logs", moto_url))
    settings = runs.RecordSettings("demo-stack", data_bucket, "", table.name)
    assert runs.record_training_state(state, "run-1", settings, services, logs.Log("test")) == "recorded"

    [warning] = table.get_item(Key={"run_id": "run-1"})["Item"]["warnings"]
    assert "'validation:rmse'" in warning and "regex 'rmse=([0-9.]+)'" in warning
    assert "  read 3 rows\n  validation accuracy=0.530" in warning  # the stand-in's whole log
