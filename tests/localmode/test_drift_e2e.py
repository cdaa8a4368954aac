"""Data capture, the drift check and the dashboard's metrics end to end, locally: the stack's
DataCapturePercent reaches the endpoint config, the emulator captures requests as SageMaker does, the
scheduled drift check turns a drifted payload into the violation report, the metric and the email,
and every dashboard widget's metric has data after the run."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from localmode.run.settings import sample_rows
from tests.localmode.conftest import logical_role, quiet_pipeline
from tests.template.test_dashboard import widget_metrics

pytestmark = pytest.mark.e2e


def drift_metrics(pipeline, endpoint: str) -> dict[str, float]:
    cloudwatch = pipeline.client("cloudwatch")
    found = {}
    for name in ("CapturedRequests", "FeatureDriftScore", "DriftViolations"):
        points = cloudwatch.get_metric_statistics(
            Namespace="SageMakerPipeline",
            MetricName=name,
            Dimensions=[{"Name": "EndpointName", "Value": endpoint}],
            StartTime=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1),
            EndTime=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
            Period=60,
            Statistics=["Maximum"],
        )["Datapoints"]
        if points:
            found[name] = max(point["Maximum"] for point in points)
    return found


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, shared_build_cache: Path):
    """One push with capture on, requests like the training data, a check, drifted requests, a check."""
    pipeline = quiet_pipeline(
        tmp_path_factory.mktemp("drift"),
        build_cache=shared_build_cache,
        parameters={"DataCapturePercent": "100", "DriftThreshold": "3"},
    )
    try:
        pipeline.start_services()
        pipeline.deploy()
        pipeline.seed_data()
        assert pipeline.run_push().status == "Succeeded"
        for row in sample_rows(pipeline.settings.data_file):
            pipeline.predict(row)
        quiet = pipeline.run_drift_check()
        quiet_violations = drift_metrics(pipeline, pipeline.outputs["EndpointName"])["DriftViolations"]
        emails_before = len(pipeline.emails())
        # Petal length (the third feature) far outside anything the model was trained on.
        for _ in range(30):
            pipeline.predict("5.8,3.0,40.0,1.2")
        drifted = pipeline.run_drift_check()
        yield pipeline, quiet, quiet_violations, emails_before, drifted
    finally:
        pipeline.close()


def test_a_drifted_payload_produces_the_violation_the_metric_and_the_email(world):
    pipeline, quiet, quiet_violations, emails_before, drifted = world
    endpoint = pipeline.outputs["EndpointName"]
    model_bucket = pipeline.outputs["ModelArtifactBucket"]
    sagemaker = pipeline.client("sagemaker", pipeline.emulator.url)
    config = sagemaker.describe_endpoint_config(
        EndpointConfigName=pipeline.runs()[-1]["endpoint_config_name"]
    )
    assert config["DataCaptureConfig"]["DestinationS3Uri"] == f"s3://{model_bucket}/data-capture/"
    assert config["DataCaptureConfig"]["InitialSamplingPercentage"] == 100

    assert quiet["status"] == "ok", quiet  # requests like the training data: no drift
    assert quiet_violations == 0.0
    assert drifted["status"] == "drift", drifted
    report_key = drifted["report"].split("/", 3)[3]
    report = json.loads(pipeline.client("s3").get_object(Bucket=model_bucket, Key=report_key)["Body"].read())
    assert [violation["feature"] for violation in report["violations"]] == [2]
    assert drift_metrics(pipeline, endpoint)["DriftViolations"] == 1.0
    [email] = pipeline.emails()[emails_before:]
    assert f"Input drift on {endpoint}" in email["subject"]
    assert "feature 2: captured mean" in email["message"] and drifted["report"] in email["message"]

    assert pipeline.iam_gate.denials == []
    drift_actions = {
        simulation.action
        for who, simulation, result in pipeline.iam_gate.decided
        if logical_role(who) == "DriftCheckRole" and result == "Allowed"
    }
    assert {"sagemaker:DescribeEndpoint", "cloudwatch:PutMetricData", "sns:Publish"} <= drift_actions


def test_every_dashboard_widget_has_data_after_a_local_run(world):
    """What the dashboard shows is published by the stack's own parts: the job events function, the
    drift check and, for the endpoint, SageMaker (the emulator publishes what SageMaker does)."""
    pipeline = world[0]
    cloudwatch = pipeline.client("cloudwatch")
    published = set()
    for page in cloudwatch.get_paginator("list_metrics").paginate():
        for metric in page["Metrics"]:
            dimensions = tuple(sorted((item["Name"], item["Value"]) for item in metric.get("Dimensions", [])))
            published.add((metric["Namespace"], metric["MetricName"], dimensions))
    shown = widget_metrics(pipeline.settings.stack_name, pipeline.outputs["EndpointName"])
    missing = {
        (namespace, name, tuple(sorted(dimensions)))
        for namespace, name, dimensions in shown
        if (namespace, name, tuple(sorted(dimensions))) not in published
    }
    # A run that only succeeds has no Failed or Stopped outcome to count; the cost per run is
    # published once a run records its cost.
    expected_missing = {
        (namespace, name, dimensions)
        for namespace, name, dimensions in missing
        if name == "TrainingCostUSD"
        or ("Status", "Failed") in dimensions
        or ("Status", "Stopped") in dimensions
    }
    assert missing == expected_missing
    present = {name for _namespace, name, _dimensions in shown - missing}
    assert present == {
        "PipelineRuns",
        "TrainingDurationSeconds",
        "TrainingBillableSeconds",
        "Invocations",
        "ModelLatency",
        "Invocation4XXErrors",
        "Invocation5XXErrors",
        "CPUUtilization",
        "MemoryUtilization",
        "DriftViolations",
        "FeatureDriftScore",
    }


def test_the_run_writes_one_self_contained_html_report(world):
    from localmode.run.demo import write_html_report

    pipeline = world[0]
    path = write_html_report(pipeline)
    text = path.read_text()
    assert path.name == "report.html" and path.parent == pipeline.settings.own_dir
    assert text.count("<svg") >= 2 and "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "Invocations (sum)" in text and "DriftViolations" in text
    assert "Push to InService, per stage" in text


def test_a_purging_delete_removes_the_captured_data_and_the_schedule(world):
    """Issue 16 item 10: the captures and drift reports live in the model bucket, which a delete with
    --purge (DeleteDataOnStackDelete) empties and removes; the schedule goes with the stack. Last in
    this module: it deletes the world."""
    pipeline = world[0]
    model_bucket = pipeline.outputs["ModelArtifactBucket"]
    s3 = pipeline.client("s3")
    assert s3.list_objects_v2(Bucket=model_bucket, Prefix="data-capture/")["KeyCount"] > 0
    rule = pipeline.physical_id("DriftCheckSchedule")

    pipeline.delete(purge=True)

    with pytest.raises(ClientError):
        s3.list_objects_v2(Bucket=model_bucket, Prefix="data-capture/")
    with pytest.raises(ClientError):
        pipeline.client("events").describe_rule(Name=rule)
