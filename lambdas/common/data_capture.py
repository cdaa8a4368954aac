"""The endpoint config's DataCaptureConfig, from the stack's DataCapturePercent (0 = no capture).

Requests and responses go to DATA_CAPTURE_S3_URI (the model bucket's data-capture/ prefix), where
SageMaker writes <endpoint>/<variant>/yyyy/mm/dd/hh/*.jsonl; CSV and JSON bodies are captured as text
(CaptureContentTypeHeader), anything else as BASE64. The drift check reads them.
"""

from __future__ import annotations

import re
from typing import Any

from common.errors import ConfigurationError
from common.settings import env_int, env_text

# DataCaptureConfig.DestinationS3Uri (SageMaker API reference): at most 512 characters.
DESTINATION_MAX_CHARS = 512
_DESTINATION = re.compile(r"^s3://[^/]+/.*$")
CSV_CONTENT_TYPES = ["text/csv"]
JSON_CONTENT_TYPES = ["application/json"]


def data_capture_config(percent: int, destination: str, kms_key_arn: str = "") -> dict[str, Any] | None:
    """The DataCaptureConfig to put on an endpoint config; None when capture is off."""
    if percent == 0:
        return None
    if len(destination) > DESTINATION_MAX_CHARS or not _DESTINATION.fullmatch(destination):
        raise ConfigurationError(
            f"DATA_CAPTURE_S3_URI={destination[:80]!r} must be an s3://bucket/prefix/ URI of at most "
            f"{DESTINATION_MAX_CHARS} characters"
        )
    config: dict[str, Any] = {
        "EnableCapture": True,
        "InitialSamplingPercentage": percent,
        "DestinationS3Uri": destination,
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {
            "CsvContentTypes": CSV_CONTENT_TYPES,
            "JsonContentTypes": JSON_CONTENT_TYPES,
        },
    }
    if kms_key_arn:
        config["KmsKeyId"] = kms_key_arn
    return config


def data_capture_from_environment(kms_key_arn: str) -> dict[str, Any] | None:
    percent = env_int("DATA_CAPTURE_PERCENT", minimum=0, maximum=100, default=0)
    destination = env_text("DATA_CAPTURE_S3_URI", required=percent > 0)
    return data_capture_config(percent, destination, kms_key_arn)
