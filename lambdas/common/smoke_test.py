"""The Deploy stage's smoke test: the stored payload sent to the endpoint once it serves a release."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from common.errors import describe_error

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # InvokeEndpoint's request limit
CONTENT_TYPES = {".csv": "text/csv", ".json": "application/json", ".npy": "application/x-npy"}


def content_type(key: str, stored: str | None) -> str:
    """From the key's extension, else the object's ContentType, else octet-stream."""
    extension = "." + key.rsplit(".", 1)[-1].lower() if "." in key else ""
    return CONTENT_TYPES.get(extension, stored or "application/octet-stream")


def smoke_test(s3: Any, runtime: Any, endpoint_name: str, bucket: str, key: str) -> str:
    """'' when the endpoint answers the payload stored at s3://bucket/key, else why not."""
    try:
        stored = s3.get_object(Bucket=bucket, Key=key)
        body = stored["Body"].read(MAX_PAYLOAD_BYTES + 1)
    except (ClientError, BotoCoreError) as error:
        return f"Smoke test payload s3://{bucket}/{key} unreadable: " + describe_error(error)
    if len(body) > MAX_PAYLOAD_BYTES:
        return "Smoke test payload is larger than the 6 MB InvokeEndpoint limit"
    try:
        runtime.invoke_endpoint(
            EndpointName=endpoint_name, ContentType=content_type(key, stored.get("ContentType")), Body=body
        )
    except (ClientError, BotoCoreError) as error:
        return f"Smoke test failed: {describe_error(error)}"
    return ""
