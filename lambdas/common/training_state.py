"""A training job's state as this project reads it: from DescribeTrainingJob or from the ``detail`` of an
EventBridge "SageMaker Training Job State Change" event, validated field by field (a malformed event
raises ConfigurationError; odd optional fields are dropped, never trusted)."""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from common import failure_text
from common.errors import ConfigurationError
from common.metric_warnings import declared
from common.names import RESOURCE_NAME_PATTERN
from common.sagemaker_resources import STACK_TAG

# SageMaker caps FailureReason at 1024 characters; the bound is for reasons of our own and bad events.
FAILURE_REASON_LIMIT = 2000
TERMINAL_TRAINING_STATUSES = ("Completed", "Failed", "Stopped")
TRAINING_STATUSES = ("InProgress", "Stopping", *TERMINAL_TRAINING_STATUSES)


def timestamp(value: Any) -> str:
    """ISO-8601 UTC from epoch milliseconds (number or digit string), a datetime or ISO text."""
    if isinstance(value, datetime.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
        return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, str) and re.fullmatch(r"\d{10,16}(\.\d+)?", value.strip()):
        value = float(value)
    if isinstance(value, int | float) and math.isfinite(value) and 0 < value < 1e14:
        return datetime.datetime.fromtimestamp(value / 1000, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:?\d\d)?", value.strip()):
        return value.strip()
    return ""


@dataclass(frozen=True)
class TrainingJobState:
    """A training job's state, from DescribeTrainingJob or an EventBridge event's ``detail``."""

    name: str
    arn: str
    status: str
    secondary_status: str = ""
    failure_reason: str = ""
    artifact_uri: str = ""
    metrics: dict[str, Decimal] = field(default_factory=dict)
    started_at: str = ""
    ended_at: str = ""
    billable_seconds: int | None = None
    stack_tag: str | None = None
    metric_definitions: tuple[tuple[str, str], ...] = ()  # (Name, Regex) the job declared

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_TRAINING_STATUSES

    @classmethod
    def from_description(cls, detail: Mapping[str, Any], tags: Any = None) -> TrainingJobState:
        """From a DescribeTrainingJob response or an event's ``detail`` (same field names)."""
        name = detail.get("TrainingJobName")
        status = detail.get("TrainingJobStatus")
        if not isinstance(name, str) or not RESOURCE_NAME_PATTERN.match(name):
            raise ConfigurationError("TrainingJobName is missing or not a training job name")
        if status not in TRAINING_STATUSES:
            raise ConfigurationError(f"TrainingJobStatus {str(status)[:40]!r} is not a training job status")
        metrics: dict[str, Decimal] = {}
        metric_list = detail.get("FinalMetricDataList")
        for metric in metric_list if isinstance(metric_list, list) else []:
            if not isinstance(metric, Mapping):
                continue
            metric_name, value = metric.get("MetricName"), metric.get("Value")
            if (
                isinstance(metric_name, str)
                and metric_name  # SageMaker's MetricName has at least one character
                and isinstance(value, int | float)
                and not isinstance(value, bool)
            ):
                if math.isfinite(value):
                    metrics[metric_name[:255]] = Decimal(str(value))
        artifacts = detail.get("ModelArtifacts")
        artifact = artifacts.get("S3ModelArtifacts", "") if isinstance(artifacts, Mapping) else ""
        billable = detail.get("BillableTimeInSeconds")
        algorithm = detail.get("AlgorithmSpecification")
        definitions = declared(algorithm.get("MetricDefinitions") if isinstance(algorithm, Mapping) else None)
        stack_tag = tags.get(STACK_TAG) if isinstance(tags, Mapping) else None
        text = {
            key: detail.get(key) if isinstance(detail.get(key), str) else ""
            for key in ("TrainingJobArn", "SecondaryStatus", "FailureReason")
        }
        return cls(
            name=name,
            arn=text["TrainingJobArn"],
            status=status,
            secondary_status=text["SecondaryStatus"],
            failure_reason=failure_text.cap(text["FailureReason"], FAILURE_REASON_LIMIT),
            artifact_uri=artifact if isinstance(artifact, str) and artifact.startswith("s3://") else "",
            metrics=metrics,
            started_at=timestamp(detail.get("TrainingStartTime")),
            ended_at=timestamp(detail.get("TrainingEndTime")),
            billable_seconds=billable
            if isinstance(billable, int) and not isinstance(billable, bool)
            else None,
            stack_tag=stack_tag if isinstance(stack_tag, str) else None,
            metric_definitions=tuple(definitions),
        )
