"""DataCapturePercent: the deploy handler puts a DataCaptureConfig on each release's endpoint config."""

from __future__ import annotations

import deploy_endpoint
import pytest
from common import clients
from common.data_capture import data_capture_config
from common.errors import ConfigurationError
from lambda_helpers import MODEL_BUCKET, Intercept, deploy_job
from test_deploy_endpoint import trained  # noqa: F401 - the Completed training job each test deploys

DESTINATION = f"s3://{MODEL_BUCKET}/data-capture/"
pytestmark = pytest.mark.usefixtures("trained")


def test_a_release_captures_the_share_of_requests_the_stack_asks_for(aws, results, monkeypatch):
    monkeypatch.setenv("DATA_CAPTURE_PERCENT", "20")
    monkeypatch.setenv("DATA_CAPTURE_S3_URI", DESTINATION)
    configs = Intercept(clients.client("sagemaker"), "CreateEndpointConfig")

    deploy_endpoint.handler(deploy_job(), None)

    assert results.only()[0] == "success"
    [config] = configs.calls
    assert config["DataCaptureConfig"] == {
        "EnableCapture": True,
        "InitialSamplingPercentage": 20,
        "DestinationS3Uri": DESTINATION,
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {
            "CsvContentTypes": ["text/csv"],
            "JsonContentTypes": ["application/json"],
        },
    }


def test_no_capture_by_default(aws, results, monkeypatch):
    monkeypatch.delenv("DATA_CAPTURE_PERCENT", raising=False)
    configs = Intercept(clients.client("sagemaker"), "CreateEndpointConfig")
    deploy_endpoint.handler(deploy_job(), None)
    [config] = configs.calls
    assert "DataCaptureConfig" not in config


@pytest.mark.parametrize(
    ("percent", "destination", "message"),
    [
        (101, DESTINATION, None),
        (10, "bucket/no-scheme/", "must be an s3://bucket/prefix/ URI"),
        (10, "s3://b/" + "k" * 600, "must be an s3://bucket/prefix/ URI"),
    ],
)
def test_bad_capture_settings_are_configuration_errors(
    aws, results, monkeypatch, percent, destination, message
):
    monkeypatch.setenv("DATA_CAPTURE_PERCENT", str(percent))
    monkeypatch.setenv("DATA_CAPTURE_S3_URI", destination)
    configs = Intercept(clients.client("sagemaker"), "CreateEndpointConfig")

    deploy_endpoint.handler(deploy_job(), None)

    outcome, params = results.only()
    assert outcome == "failure" and params["failureDetails"]["type"] == "ConfigurationError"
    assert (message or "DATA_CAPTURE_PERCENT=101 is outside 0..100") in params["failureDetails"]["message"]
    assert configs.calls == []


def test_the_kms_key_encrypts_the_captures():
    config = data_capture_config(5, DESTINATION, "arn:aws:kms:eu-west-1:123456789012:key/k")
    assert config["KmsKeyId"].endswith(":key/k")
    assert data_capture_config(0, "") is None
    with pytest.raises(ConfigurationError):
        data_capture_config(5, "")
