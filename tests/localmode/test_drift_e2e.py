"""Data capture and the drift check end to end, locally: the stack's DataCapturePercent reaches the
endpoint config, the emulator captures requests as SageMaker does, and the scheduled drift check
turns a drifted payload into the violation report, the metric and the email."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from localmode.run.settings import sample_rows
from tests.localmode.conftest import logical_role, quiet_pipeline

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


def test_a_drifted_payload_produces_the_violation_the_metric_and_the_email(
    tmp_path: Path, shared_build_cache
):
    pipeline = quiet_pipeline(
        tmp_path,
        build_cache=shared_build_cache,
        parameters={"DataCapturePercent": "100", "DriftThreshold": "3"},
    )
    try:
        pipeline.start_services()
        pipeline.deploy()
        pipeline.seed_data()
        assert pipeline.run_push().status == "Succeeded"
        endpoint = pipeline.outputs["EndpointName"]
        sagemaker = pipeline.client("sagemaker", pipeline.emulator.url)
        config = sagemaker.describe_endpoint_config(
            EndpointConfigName=pipeline.runs()[-1]["endpoint_config_name"]
        )
        model_bucket = pipeline.outputs["ModelArtifactBucket"]
        assert config["DataCaptureConfig"]["DestinationS3Uri"] == f"s3://{model_bucket}/data-capture/"
        assert config["DataCaptureConfig"]["InitialSamplingPercentage"] == 100

        # Requests like the training data: no drift.
        for row in sample_rows(pipeline.settings.data_file):
            pipeline.predict(row)
        quiet = pipeline.run_drift_check()
        assert quiet["status"] == "ok", quiet
        assert drift_metrics(pipeline, endpoint)["DriftViolations"] == 0.0
        emails_before = len(pipeline.emails())

        # Petal length (the third feature) far outside anything the model was trained on.
        for _ in range(30):
            pipeline.predict("5.8,3.0,40.0,1.2")
        drifted = pipeline.run_drift_check()
        assert drifted["status"] == "drift", drifted

        report_key = drifted["report"].split("/", 3)[3]
        report = json.loads(
            pipeline.client("s3").get_object(Bucket=model_bucket, Key=report_key)["Body"].read()
        )
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
    finally:
        pipeline.close()
