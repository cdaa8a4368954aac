"""What the Deploy stage deploys: the run's completed training job (DescribeTrainingJob is the
authority for the artifact and the final metrics), and the quality gate on those metrics."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from common import runs
from common.codepipeline import JobFailure
from common.deploy_settings import QualityGate
from common.sagemaker_resources import describe


def trained_model(table: Any, sagemaker: Any, run_id: str) -> tuple[str, str, dict[str, Decimal]]:
    """(image URI, model artifact URI, final metrics) of the run's completed training job."""
    item = runs.read_item(table, run_id)
    if not item or not item.get("training_job_name"):
        raise JobFailure(f"No training job is recorded for run {run_id}: did the Train stage run?")
    described = describe(sagemaker.describe_training_job, TrainingJobName=item["training_job_name"])
    if not described or described["TrainingJobStatus"] != "Completed":
        state = described["TrainingJobStatus"] if described else "missing"
        raise JobFailure(f"Training job {item['training_job_name']} is {state}, not Completed")
    artifact = described.get("ModelArtifacts", {}).get("S3ModelArtifacts", "")
    if not artifact:
        raise JobFailure(f"Training job {item['training_job_name']} produced no model artifact")
    metrics = {
        metric["MetricName"]: Decimal(str(metric["Value"]))
        for metric in described.get("FinalMetricDataList", [])
    }
    image = item.get("image_uri") or described.get("AlgorithmSpecification", {}).get("TrainingImage", "")
    return str(image), artifact, metrics


def check_gate(gate: QualityGate, metrics: Mapping[str, Decimal]) -> str:
    """'' when the gate passes, else why it failed."""
    if gate.metric not in metrics:
        reported = ", ".join(sorted(metrics)) or "none"
        return f"Quality gate {gate} failed: metric {gate.metric!r} was not reported (reported: {reported})"
    if not gate.passes(metrics[gate.metric]):
        return f"Quality gate {gate} failed: {gate.metric} = {metrics[gate.metric]}"
    return ""
