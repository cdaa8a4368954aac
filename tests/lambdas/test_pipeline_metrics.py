"""The pipeline's own metrics: job_events publishes each training outcome once, for the dashboard."""

from __future__ import annotations

import datetime as dt

import job_events
from common import clients, logs, pipeline_metrics, training_state
from lambda_helpers import EXECUTION_ID, JOB_NAME, load_event
from test_job_events import run  # noqa: F401 - the run item the events update


def datapoints(name: str, **dimensions: str) -> list[dict]:
    return clients.client("cloudwatch").get_metric_statistics(
        Namespace="SageMakerPipeline",
        MetricName=name,
        Dimensions=[{"Name": key, "Value": value} for key, value in dimensions.items()],
        StartTime=dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
        EndTime=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
        Period=86400,
        Statistics=["Sum"],
    )["Datapoints"]


def test_a_terminal_state_is_counted_once_with_its_duration(aws, run):  # noqa: F811
    for _ in range(2):  # EventBridge delivers at least once
        job_events.handler(load_event("training_completed"), None)

    [runs_point] = datapoints("PipelineRuns", StackName="demo-stack", Status="Completed")
    assert runs_point["Sum"] == 1.0
    [billable] = datapoints("TrainingBillableSeconds", StackName="demo-stack")
    assert billable["Sum"] == 300.0
    assert datapoints("TrainingDurationSeconds", StackName="demo-stack")
    assert datapoints("TrainingCostUSD", StackName="demo-stack") == []  # no cost per run recorded yet
    assert aws.item()["metrics_published_job"] == JOB_NAME


def test_a_failed_job_is_counted_under_its_status(aws, run):  # noqa: F811
    job_events.handler(load_event("training_failed"), None)
    [point] = datapoints("PipelineRuns", StackName="demo-stack", Status="Failed")
    assert point["Sum"] == 1.0


def test_the_cost_is_published_when_known():
    state = training_state.TrainingJobState(
        name=JOB_NAME,
        arn="",
        status="Completed",
        started_at="2026-12-01T10:00:00Z",
        ended_at="2026-12-01T10:05:30Z",
        billable_seconds=330,
    )
    data = {
        item["MetricName"]: item for item in pipeline_metrics.training_outcome_metrics("s", state, 0.0421)
    }
    assert data["TrainingDurationSeconds"]["Value"] == 330.0
    assert data["TrainingCostUSD"]["Value"] == 0.0421
    assert data["PipelineRuns"]["Dimensions"] == [
        {"Name": "StackName", "Value": "s"},
        {"Name": "Status", "Value": "Completed"},
    ]


def test_cloudwatch_refusing_the_data_never_fails_the_recording(aws, run):  # noqa: F811
    class Refusing:
        def put_metric_data(self, **_params):
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "PutMetricData")

    state = training_state.TrainingJobState(name=JOB_NAME, arn="", status="Completed")
    assert not pipeline_metrics.publish_training_outcome(
        Refusing(), aws.table, EXECUTION_ID, "demo-stack", state, None, logs.Log("t")
    )
