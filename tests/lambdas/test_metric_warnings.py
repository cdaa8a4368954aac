"""Issue 14 item 4: a metric declared in MetricDefinitions that the training log never printed is warned
about on the run item (``warnings``) and in the outcome email, with its regex and the log's last lines."""

from __future__ import annotations

import copy
import time
from types import SimpleNamespace

import job_events
import pytest
import train_trigger
from common import clients, logs, runs, training_state
from common.metric_warnings import LOG_GROUP
from lambda_helpers import EXECUTION_ID, JOB_NAME, MODEL_BUCKET, Intercept, client_error, load_event

STREAM = f"{JOB_NAME}/algo-1-1583831889"
DEFINITIONS = [
    {"Name": "validation:accuracy", "Regex": "accuracy=([0-9.]+)"},
    {"Name": "validation:rmse", "Regex": "rmse=([0-9.]+)"},
]
LOG_LINES = [f"epoch {index}: loss=0.{index}" for index in range(1, 16)] + ["validation accuracy: 0.93"]


@pytest.fixture
def run(aws):
    aws.table.put_item(Item={"run_id": EXECUTION_ID, "training_job_name": JOB_NAME, "status": "InProgress"})


@pytest.fixture
def training_log(aws):
    cloudwatch = clients.client("logs")
    cloudwatch.create_log_group(logGroupName=LOG_GROUP)
    cloudwatch.create_log_stream(logGroupName=LOG_GROUP, logStreamName=STREAM)
    now = int(time.time() * 1000)  # CloudWatch refuses events older than 14 days
    cloudwatch.put_log_events(
        logGroupName=LOG_GROUP,
        logStreamName=STREAM,
        logEvents=[{"timestamp": now + index, "message": line} for index, line in enumerate(LOG_LINES)],
    )
    return cloudwatch


def completed(definitions=DEFINITIONS) -> dict:
    detail = copy.deepcopy(load_event("training_completed")["detail"])  # captured validation:accuracy only
    if definitions is not None:
        detail["AlgorithmSpecification"]["MetricDefinitions"] = definitions
    return detail


def record(aws, detail: dict) -> str:
    settings = runs.RecordSettings("demo-stack", MODEL_BUCKET, aws.topic_arn, "demo-stack-metadata")
    services = runs.RecordServices(aws.table, aws.s3, clients.client("logs"))
    state = training_state.TrainingJobState.from_description(detail)
    return runs.record_training_state(state, EXECUTION_ID, settings, services, logs.Log("test"))


def test_a_declared_metric_never_printed_is_warned_with_its_regex_and_the_last_log_lines(
    aws, run, training_log
):
    assert record(aws, completed()) == "recorded+notified"

    [warning] = aws.item()["warnings"]
    assert "'validation:rmse'" in warning and "regex 'rmse=([0-9.]+)'" in warning
    assert "validation:accuracy" not in warning  # captured: no warning
    assert f"Last 10 lines of {LOG_GROUP} {STREAM}:" in warning
    assert "validation accuracy: 0.93" in warning and "epoch 7: loss=0.7" in warning
    assert "epoch 6: loss=0.6" not in warning  # only the last ten lines
    [(subject, body)] = aws.emails()
    assert subject == f"[demo-stack] Training Completed: {JOB_NAME}"
    assert "Warnings:\n  - Metric 'validation:rmse'" in body and "  validation accuracy: 0.93" in body


def test_every_declared_metric_captured_leaves_no_warning_and_reads_no_log(aws, run):
    reads = Intercept(clients.client("logs"), "DescribeLogStreams")
    assert record(aws, completed(DEFINITIONS[:1])) == "recorded+notified"
    assert "warnings" not in aws.item()
    assert reads.calls == []
    assert "Warnings:" not in aws.emails()[0][1]


def test_a_log_that_cannot_be_read_still_gives_the_warning(aws, run, training_log):
    denied = (
        "User: arn:aws:sts::123456789012:assumed-role/r/fn is not authorized to perform: logs:GetLogEvents"
    )
    Intercept(clients.client("logs"), "GetLogEvents", client_error("AccessDeniedException", denied))
    record(aws, completed())
    [warning] = aws.item()["warnings"]
    assert "'validation:rmse'" in warning and "the training log could not be read:" in warning
    assert "logs:GetLogEvents was denied (AccessDeniedException" in warning


@pytest.mark.parametrize("group_exists", [True, False])
def test_a_job_without_a_log_stream_says_so(aws, run, group_exists):
    if group_exists:
        clients.client("logs").create_log_group(logGroupName=LOG_GROUP)
    record(aws, completed())
    [warning] = aws.item()["warnings"]
    assert f"(no log stream of {JOB_NAME} in {LOG_GROUP})" in warning


def test_an_event_without_metric_definitions_is_checked_against_the_run_item(aws, run, training_log):
    """EventBridge's detail may leave MetricDefinitions out: train_trigger recorded them on the item."""
    aws.table.update_item(
        Key={"run_id": EXECUTION_ID},
        UpdateExpression="SET metric_definitions = :definitions",
        ExpressionAttributeValues={":definitions": DEFINITIONS},
    )
    assert job_events.handler({**load_event("training_completed"), "detail": completed(None)}, None) == {
        "outcome": "recorded+notified"
    }
    [warning] = aws.item()["warnings"]
    assert "'validation:rmse'" in warning and "validation accuracy: 0.93" in warning


def test_a_failed_job_gets_no_metric_warning(aws, run, training_log):
    detail = completed()
    detail.update(TrainingJobStatus="Failed", FailureReason="AlgorithmError: boom", FinalMetricDataList=[])
    record(aws, detail)
    assert "warnings" not in aws.item()


def test_train_trigger_records_the_declared_metrics_on_the_run_item():
    settings = SimpleNamespace(
        git_repository="octo/repo",
        git_branch="main",
        hyperparameters={},
        metric_definitions=DEFINITIONS,
        instance_type="ml.m5.large",
        instance_count=1,
        volume_size_gb=10,
        max_runtime_seconds=3600,
        use_spot=False,
        max_wait_seconds=0,
    )
    request = SimpleNamespace(
        trigger="push", trigger_detail="", git_commit="abc", image_uri="i", image_digest="d"
    )
    assert train_trigger.run_attributes(settings, request)["metric_definitions"] == DEFINITIONS
