"""drift_check: the baseline from training data, captured requests compared, report, metrics and email."""

from __future__ import annotations

import base64
import datetime as dt
import json
from types import SimpleNamespace
from typing import Any

import drift_check
import pytest
from botocore.exceptions import ClientError
from common import clients, drift
from lambda_helpers import ENDPOINT, INPUT_BUCKET, MODEL_BUCKET, load_event

NOW = dt.datetime(2026, 12, 1, 14, 30, tzinfo=dt.UTC)
CONFIG = "demo-stack-run-0001"
TRAINING = "\n".join(f"{i % 3},{5 + (i % 10) / 10},{3 + (i % 7) / 10}" for i in range(200))
CAPTURE_PREFIX = "data-capture/"


def capture_line(payload: str, encoding: str = "CSV") -> str:
    data = base64.b64encode(payload.encode()).decode() if encoding == "BASE64" else payload
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {
                    "observedContentType": "text/csv",
                    "mode": "INPUT",
                    "data": data,
                    "encoding": encoding,
                },
                "endpointOutput": {
                    "observedContentType": "text/csv",
                    "mode": "OUTPUT",
                    "data": "1",
                    "encoding": "CSV",
                },
            },
            "eventMetadata": {"eventId": "e1", "inferenceTime": "2026-12-01T14:00:00Z"},
            "eventVersion": "0",
        }
    )


class FakeSageMaker:
    """DescribeEndpoint only (moto's endpoints have no config to read back as the emulator's do)."""

    def __init__(self, status: str | None = "InService") -> None:
        self.status = status

    def describe_endpoint(self, EndpointName: str) -> dict[str, Any]:
        if self.status is None:
            error = {
                "Error": {
                    "Code": "ValidationException",
                    "Message": f'Could not find endpoint "{EndpointName}".',
                }
            }
            raise ClientError(error, "DescribeEndpoint")
        return {"EndpointName": EndpointName, "EndpointStatus": self.status, "EndpointConfigName": CONFIG}


@pytest.fixture
def drift_env(aws: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    monkeypatch.setenv("CAPTURE_BUCKET", MODEL_BUCKET)
    monkeypatch.setenv("CAPTURE_PREFIX", CAPTURE_PREFIX)
    monkeypatch.setenv("DRIFT_THRESHOLD", "2")
    monkeypatch.setenv("DRIFT_CHECK_HOURS", "24")
    aws.s3.put_object(Bucket=INPUT_BUCKET, Key="input/train.csv", Body=TRAINING.encode())
    aws.sagemaker_fake = FakeSageMaker()
    return aws


def capture(aws: SimpleNamespace, lines: list[str], hour: dt.datetime = NOW) -> None:
    key = f"{CAPTURE_PREFIX}{ENDPOINT}/AllTraffic/{hour:%Y/%m/%d/%H}/capture-{hour:%M}.jsonl"
    aws.s3.put_object(Bucket=MODEL_BUCKET, Key=key, Body="\n".join(lines).encode())


def run(aws: SimpleNamespace) -> dict[str, Any]:
    services = drift_check.Services(
        s3=clients.client("s3"), sagemaker=aws.sagemaker_fake, cloudwatch=clients.client("cloudwatch")
    )
    return drift_check.handle(
        load_event("scheduled_event"),
        settings=drift_check.DriftSettings.from_environment,
        services=lambda: services,
        now=lambda: NOW,
    )


def metrics() -> dict[str, float]:
    cloudwatch = clients.client("cloudwatch")
    values = {}
    for name in ("CapturedRequests", "FeatureDriftScore", "DriftViolations"):
        points = cloudwatch.get_metric_statistics(
            Namespace="SageMakerPipeline",
            MetricName=name,
            Dimensions=[{"Name": "EndpointName", "Value": ENDPOINT}],
            StartTime=NOW - dt.timedelta(days=3650),
            EndTime=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
            Period=60,
            Statistics=["Maximum"],
        )["Datapoints"]
        if points:
            values[name] = max(point["Maximum"] for point in points)
    return values


def test_baseline_drops_the_label_and_summarises_each_feature() -> None:
    baseline = drift.baseline_from_training_csv(["9,1,10\n9,3,30\n", "8,2,20\n"])
    assert baseline["rows"] == 3
    first, second = drift.baseline_features(baseline)
    assert (first.mean, first.minimum, first.p50, first.maximum) == (2.0, 1.0, 2.0, 3.0)
    assert second.mean == 20.0 and second.std == pytest.approx(8.164965, rel=1e-6)


def test_captured_rows_read_csv_and_base64_inputs_and_skip_the_rest() -> None:
    lines = [
        capture_line("1,2"),
        capture_line("3,4\n5,6", encoding="BASE64"),
        capture_line('{"instances": [[1, 2]]}', encoding="JSON"),
        capture_line("not,numbers"),
        "not json",
    ]
    assert drift.captured_rows("\n".join(lines)) == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]


def test_compare_flags_only_the_feature_that_moved() -> None:
    baseline = drift.baseline_features(drift.baseline_from_training_csv([TRAINING]))
    report = drift.compare(baseline, [[5.45, 9.0], [5.5, 9.2], [5.4, 8.8]], threshold=2)
    assert [violation.feature for violation in report.violations] == [1]
    assert report.score == report.violations[0].shift > 2
    with pytest.raises(drift.DriftInputError, match="3 features, the training data 2"):
        drift.compare(baseline, [[1.0, 2.0, 3.0]], threshold=2)


def test_a_drifted_payload_writes_the_violation_the_metric_and_the_email(drift_env: SimpleNamespace) -> None:
    capture(drift_env, [capture_line("5.4,9.1"), capture_line("5.5,9.3\n5.6,8.9", encoding="BASE64")])
    result = run(drift_env)
    assert result["status"] == "drift"
    report_key = result["report"].split("/", 3)[3]
    report = json.loads(drift_env.s3.get_object(Bucket=MODEL_BUCKET, Key=report_key)["Body"].read())
    assert report["endpointConfig"] == CONFIG and report["rows"] == 3
    assert [violation["feature"] for violation in report["violations"]] == [1]
    assert metrics() == {
        "CapturedRequests": 3.0,
        "FeatureDriftScore": result["score"],
        "DriftViolations": 1.0,
    }
    [(subject, body)] = drift_env.emails()
    assert subject == f"[demo-stack] Input drift on {ENDPOINT}"
    assert "feature 1: captured mean 9.1" in body and result["report"] in body
    stored = drift_env.s3.get_object(Bucket=MODEL_BUCKET, Key=f"drift/baselines/{CONFIG}.json")
    assert json.loads(stored["Body"].read())["rows"] == 200


def test_requests_like_the_training_data_pass_quietly_against_the_stored_baseline(
    drift_env: SimpleNamespace,
) -> None:
    capture(drift_env, [capture_line("5.4,3.3"), capture_line("5.5,3.2")])
    assert run(drift_env)["status"] == "ok"
    # The release keeps the baseline it was first checked against, whatever the input prefix holds now.
    drift_env.s3.put_object(Bucket=INPUT_BUCKET, Key="input/train.csv", Body=b"0,100,100\n")
    capture(drift_env, [capture_line("5.6,3.1")], hour=NOW - dt.timedelta(hours=1))
    assert run(drift_env)["status"] == "ok"
    assert metrics()["DriftViolations"] == 0.0
    assert drift_env.emails() == []


def test_captures_outside_the_window_and_idle_endpoints_give_no_rows(drift_env: SimpleNamespace) -> None:
    capture(drift_env, [capture_line("50,90")], hour=NOW - dt.timedelta(hours=30))
    assert run(drift_env) == {"status": "no-data"}
    assert metrics() == {"CapturedRequests": 0.0}


@pytest.mark.parametrize(("status", "reason"), [(None, "no endpoint"), ("Updating", "endpoint Updating")])
def test_no_check_without_an_endpoint_in_service(
    drift_env: SimpleNamespace, status: str | None, reason: str
) -> None:
    drift_env.sagemaker_fake = FakeSageMaker(status)
    assert run(drift_env) == {"status": "skipped", "reason": reason}
    assert metrics() == {}


def test_missing_training_data_and_bad_settings_are_reported_not_raised(
    drift_env: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    capture(drift_env, [capture_line("5.4,3.3")])
    drift_env.s3.delete_object(Bucket=INPUT_BUCKET, Key="input/train.csv")
    result = run(drift_env)
    assert result["status"] == "error" and "no *.csv training data" in result["reason"]
    monkeypatch.setenv("DRIFT_THRESHOLD", "-1")
    assert run(drift_env) == {"status": "error", "reason": "DRIFT_THRESHOLD=-1 must be greater than 0"}


def test_handler_reads_its_settings_from_the_environment(drift_env: SimpleNamespace) -> None:
    settings = drift_check.DriftSettings.from_environment()
    assert (settings.capture_bucket, settings.capture_prefix, settings.threshold) == (
        MODEL_BUCKET,
        CAPTURE_PREFIX,
        2.0,
    )
    assert (
        drift_check.hour_prefixes(settings, NOW)[-1]
        == f"{CAPTURE_PREFIX}{ENDPOINT}/AllTraffic/2026/12/01/14/"
    )
