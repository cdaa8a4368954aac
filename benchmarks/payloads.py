"""The request bodies: 1-row and 100-row CSV, and 1-row JSON, cut from the training data."""

import json
from collections.abc import Sequence
from dataclasses import dataclass

PAYLOAD_KEYS = ("csv-1", "csv-100", "json-1")


@dataclass(frozen=True)
class Payload:
    key: str
    label: str
    content_type: str
    accept: str
    body: bytes
    rows: int


def _csv(rows: Sequence[Sequence[str]]) -> bytes:
    return "".join(",".join(row) + "\n" for row in rows).encode()


def build_payloads(
    feature_rows: Sequence[Sequence[str]], keys: Sequence[str] = PAYLOAD_KEYS
) -> list[Payload]:
    """Feature rows are the training rows without their label, as the CSV text had them."""
    if len(feature_rows) < 100:
        raise ValueError(f"need at least 100 feature rows for the payloads, got {len(feature_rows)}")
    first = [float(value) for value in feature_rows[0]]
    every = {
        "csv-1": Payload("csv-1", "CSV, 1 row", "text/csv", "text/csv", _csv(feature_rows[:1]), 1),
        "csv-100": Payload("csv-100", "CSV, 100 rows", "text/csv", "text/csv", _csv(feature_rows[:100]), 100),
        "json-1": Payload(
            "json-1",
            "JSON, 1 row",
            "application/json",
            "application/json",
            json.dumps({"instances": [first]}).encode(),
            1,
        ),
    }
    unknown = set(keys) - set(every)
    if unknown:
        raise ValueError(f"unknown payloads {sorted(unknown)}; choose from {PAYLOAD_KEYS}")
    return [every[key] for key in keys]
