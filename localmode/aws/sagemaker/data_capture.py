"""Endpoint data capture: the files SageMaker writes, as the model's execution role, for a sample of
an endpoint's invocations (DataCaptureConfig's own constraints are the service model's, checked by
localmode.aws.awsmodel like every request's).

AWS buffers captures and writes a file every few minutes; locally each captured invocation is one
file, in AWS's layout (``<destination><endpoint>/<variant>/yyyy/mm/dd/hh/<id>.jsonl``) and JSON
Lines format, so what reads the captures reads the same thing here and there.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from typing import Any


class Sampler:
    """Captures `percent` of the invocations, spread evenly (deterministic, unlike AWS's random draw)."""

    def __init__(self, percent: int) -> None:
        self.percent = percent
        self.seen = 0

    def take(self) -> bool:
        self.seen += 1
        return (self.seen * self.percent) // 100 > ((self.seen - 1) * self.percent) // 100


def _encoded(body: bytes, content_type: str, header: dict[str, list[str]]) -> tuple[str, str]:
    """(data, encoding): text for the declared CSV and JSON content types, BASE64 for the rest."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    for field, encoding in (("CsvContentTypes", "CSV"), ("JsonContentTypes", "JSON")):
        if media_type in [item.lower() for item in header.get(field, [])]:
            try:
                return body.decode("utf-8"), encoding
            except UnicodeDecodeError:
                break
    return base64.b64encode(body).decode("ascii"), "BASE64"


def capture_record(
    config: dict[str, Any],
    request: tuple[bytes, str],
    response: tuple[bytes, str],
    when: dt.datetime,
) -> str:
    """One JSON line as SageMaker writes it, with the request and/or response CaptureOptions names."""
    modes = {item["CaptureMode"] for item in config["CaptureOptions"]}
    header = config.get("CaptureContentTypeHeader", {})
    capture: dict[str, Any] = {}
    for key, mode, (body, content_type) in (
        ("endpointInput", "INPUT", request),
        ("endpointOutput", "OUTPUT", response),
    ):
        if modes & {mode.capitalize(), "InputAndOutput"}:
            data, encoding = _encoded(body, content_type, header)
            capture[key] = {
                "observedContentType": content_type,
                "mode": mode,
                "data": data,
                "encoding": encoding,
            }
    return json.dumps(
        {
            "captureData": capture,
            "eventMetadata": {
                "eventId": str(uuid.uuid4()),
                "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            },
            "eventVersion": "0",
        }
    )


def capture_key(destination_prefix: str, endpoint: str, variant: str, when: dt.datetime) -> str:
    prefix = (
        destination_prefix
        if not destination_prefix or destination_prefix.endswith("/")
        else destination_prefix + "/"
    )
    return f"{prefix}{endpoint}/{variant}/{when:%Y/%m/%d/%H}/{when:%M-%S-%f}-{uuid.uuid4().hex[:8]}.jsonl"
