"""Feature drift: per-feature statistics of training rows and of captured requests, and their comparison.

The baseline comes from the training data (headerless CSV, label in the first column, the convention
the training channel follows); captured requests are SageMaker data-capture JSON lines whose
``endpointInput`` holds CSV rows of features (CSV, or BASE64 of CSV when the content type was not
declared as CSV). A feature drifts when the mean of its captured values lies more than
``threshold`` baseline standard deviations from the baseline mean.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

BASELINE_VERSION = 1
# A constant feature (std 0) still drifts when its captured mean moves: measure against this floor.
MIN_STD = 1e-9


class DriftInputError(ValueError):
    """Rows that cannot be compared (not numbers, widths that disagree); the message says which."""


@dataclass(frozen=True)
class FeatureStats:
    count: int
    mean: float
    std: float
    minimum: float
    p05: float
    p50: float
    p95: float
    maximum: float


@dataclass(frozen=True)
class Violation:
    feature: int
    baseline_mean: float
    baseline_std: float
    captured_mean: float
    shift: float  # |captured mean - baseline mean| in baseline standard deviations

    def describe(self) -> str:
        return (
            f"feature {self.feature}: captured mean {self.captured_mean:.4g} vs baseline "
            f"{self.baseline_mean:.4g} (std {self.baseline_std:.4g}), {self.shift:.2f} std away"
        )


@dataclass(frozen=True)
class DriftReport:
    rows: int
    score: float  # the largest shift over all features
    violations: tuple[Violation, ...]

    def as_json(self) -> dict:
        return {"rows": self.rows, "score": self.score, "violations": [asdict(v) for v in self.violations]}


def _quantile(ordered: Sequence[float], fraction: float) -> float:
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def feature_stats(values: Sequence[float]) -> FeatureStats:
    ordered = sorted(values)
    mean = math.fsum(ordered) / len(ordered)
    variance = math.fsum((value - mean) ** 2 for value in ordered) / len(ordered)
    return FeatureStats(
        count=len(ordered),
        mean=mean,
        std=math.sqrt(variance),
        minimum=ordered[0],
        p05=_quantile(ordered, 0.05),
        p50=_quantile(ordered, 0.5),
        p95=_quantile(ordered, 0.95),
        maximum=ordered[-1],
    )


def table_stats(rows: Sequence[Sequence[float]]) -> list[FeatureStats]:
    """Per-column statistics of rows that all have the same width."""
    if not rows:
        raise DriftInputError("no rows to compute statistics from")
    widths = {len(row) for row in rows}
    if len(widths) != 1:
        raise DriftInputError(f"rows disagree on the number of features: {sorted(widths)}")
    return [feature_stats(column) for column in zip(*rows, strict=True)]


def parse_csv_rows(text: str, *, skip_label: bool = False) -> list[list[float]]:
    """Headerless CSV lines of numbers; `skip_label` drops the first column (the training label)."""
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            values = [float(cell) for cell in line.split(",")]
        except ValueError:
            raise DriftInputError(f"line {number} is not a row of numbers: {line[:80]!r}") from None
        rows.append(values[1:] if skip_label else values)
    return rows


def baseline_from_training_csv(texts: Iterable[str]) -> dict:
    """The baseline document (stored as JSON) from the training files' texts."""
    rows = [row for text in texts for row in parse_csv_rows(text, skip_label=True)]
    return {
        "version": BASELINE_VERSION,
        "rows": len(rows),
        "features": [asdict(s) for s in table_stats(rows)],
    }


def baseline_features(baseline: dict) -> list[FeatureStats]:
    if baseline.get("version") != BASELINE_VERSION:
        raise DriftInputError(f"baseline version {baseline.get('version')!r} is not {BASELINE_VERSION}")
    return [FeatureStats(**feature) for feature in baseline["features"]]


def captured_rows(jsonl: str) -> list[list[float]]:
    """The feature rows of the requests in one data-capture file (outputs and non-CSV inputs skipped)."""
    rows: list[list[float]] = []
    for line in jsonl.splitlines():
        if not line.strip():
            continue
        try:
            request = json.loads(line)["captureData"]["endpointInput"]
        except (ValueError, KeyError, TypeError):
            continue
        data = request.get("data", "")
        if request.get("encoding") == "BASE64":
            try:
                data = base64.b64decode(data).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                continue
        elif request.get("encoding") != "CSV":
            continue
        try:
            rows.extend(parse_csv_rows(data))
        except DriftInputError:
            continue  # a request the endpoint itself refused as not CSV numbers: not a feature row
    return rows


def compare(
    baseline: Sequence[FeatureStats], rows: Sequence[Sequence[float]], threshold: float
) -> DriftReport:
    """Captured `rows` against the baseline; a feature violates when its shift exceeds `threshold`."""
    captured = table_stats(rows)
    if len(captured) != len(baseline):
        raise DriftInputError(
            f"captured requests have {len(captured)} features, the training data {len(baseline)}"
        )
    violations = []
    score = 0.0
    for index, (base, seen) in enumerate(zip(baseline, captured, strict=True)):
        shift = abs(seen.mean - base.mean) / max(base.std, MIN_STD)
        score = max(score, shift)
        if shift > threshold:
            violations.append(Violation(index, base.mean, base.std, seen.mean, shift))
    return DriftReport(rows=len(rows), score=score, violations=tuple(violations))
