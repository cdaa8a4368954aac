"""What a local run left in CloudWatch for the report: the endpoint's SageMaker metrics and the drift
check's, one value per metric over the last day."""

from __future__ import annotations

import datetime
from typing import Any

ENDPOINT_METRICS = (
    ("AWS/SageMaker", "Invocations", "Sum"),
    ("AWS/SageMaker", "Invocation4XXErrors", "Sum"),
    ("AWS/SageMaker", "Invocation5XXErrors", "Sum"),
    ("AWS/SageMaker", "ModelLatency", "Average"),
    ("/aws/sagemaker/Endpoints", "CPUUtilization", "Maximum"),
    ("/aws/sagemaker/Endpoints", "MemoryUtilization", "Maximum"),
)
DRIFT_METRICS = ("DriftViolations", "FeatureDriftScore", "CapturedRequests")


def metric_value(
    cloudwatch: Any, namespace: str, name: str, dimensions: dict[str, str], statistic: str
) -> float | None:
    points = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName=name,
        Dimensions=[{"Name": key, "Value": value} for key, value in dimensions.items()],
        StartTime=datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1),
        EndTime=datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1),
        Period=86400,
        Statistics=[statistic],
    )["Datapoints"]
    values = [point[statistic] for point in points]
    if not values:
        return None
    return sum(values) if statistic == "Sum" else max(values)


def endpoint_metrics(cloudwatch: Any, endpoint: str) -> dict[str, float]:
    """What SageMaker (the emulator) published for the endpoint during the run."""
    dimensions = {"EndpointName": endpoint, "VariantName": "AllTraffic"}
    found = {}
    for namespace, name, statistic in ENDPOINT_METRICS:
        value = metric_value(cloudwatch, namespace, name, dimensions, statistic)
        if value is not None:
            found[f"{name} ({statistic.lower()})"] = value
    return found


def drift_metrics(cloudwatch: Any, endpoint: str) -> dict[str, float]:
    found = {}
    for name in DRIFT_METRICS:
        value = metric_value(cloudwatch, "SageMakerPipeline", name, {"EndpointName": endpoint}, "Maximum")
        if value is not None:
            found[name] = value
    return found
