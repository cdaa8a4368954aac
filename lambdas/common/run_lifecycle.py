"""What the Train stage records once its training job has ended, besides the job's own state: the run's
cost (common.pricing) and, for a completed job, its model version in the registry (common.registry),
whose approval status the quality gate decides.

The model package group is ``names.model_package_group(stack)``; the stack's custom resource creates
it (common.registry_group), and a registration creates it again if it is gone. Nothing here
hides the Train stage's result: the caller logs a failure and carries on, and the Deploy stage then
deploys the run's training job as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from common import names, notify, pricing, registry, registry_group, runs, training_state
from common.deploy_settings import QualityGate
from common.errors import ConfigurationError, describe_error
from common.logs import Log
from common.settings import INSTANCE_TYPE_PATTERN
from common.trained_model import check_gate


@dataclass(frozen=True)
class LifecycleSettings:
    """The registration's quality gate and the endpoint whose hourly price the run records. They come
    with the Train action's UserParameters, not the function's environment: its 4 KB are spent."""

    stack_name: str
    gate: QualityGate | None
    require_manual_approval: bool
    endpoint_instance_type: str
    endpoint_instance_count: int
    endpoint_name: str = ""  # the stable endpoint the Deploy stage updates ("" without one)

    @classmethod
    def from_parameters(cls, stack_name: str, values: Mapping[str, str]) -> LifecycleSettings:
        instance_type = values.get("endpoint_instance_type", "")
        if instance_type and not INSTANCE_TYPE_PATTERN.fullmatch(instance_type):
            raise ConfigurationError(
                f"UserParameters field 'endpoint_instance_type' ({instance_type!r}) is not a SageMaker "
                "instance type (ml.m5.large)"
            )
        count = values.get("endpoint_instance_count") or "1"
        if not count.isdigit() or not 1 <= int(count) <= MAX_ENDPOINT_INSTANCES:
            raise ConfigurationError(
                f"UserParameters field 'endpoint_instance_count' ({count!r}) must be an integer "
                f"from 1 to {MAX_ENDPOINT_INSTANCES}"
            )
        endpoint_name = values.get("endpoint_name", "")
        if endpoint_name and not names.RESOURCE_NAME_PATTERN.fullmatch(endpoint_name):
            raise ConfigurationError(
                f"UserParameters field 'endpoint_name' ({endpoint_name[:80]!r}) is not an endpoint name"
            )
        manual = (values.get("require_manual_approval") or "false").lower()
        if manual not in ("true", "false"):
            raise ConfigurationError("UserParameters field 'require_manual_approval' must be true or false")
        return cls(
            stack_name=stack_name,
            gate=QualityGate.parse(values.get("quality_gate", "")),
            require_manual_approval=manual == "true",
            endpoint_instance_type=instance_type,
            endpoint_instance_count=int(count),
            endpoint_name=endpoint_name,
        )


def training_facts(described: Mapping[str, Any]) -> dict[str, Any]:
    resources = described.get("ResourceConfig") or {}
    return {
        "instance_type": resources.get("InstanceType", ""),
        "instance_count": resources.get("InstanceCount"),
        "billable_seconds": described.get("BillableTimeInSeconds"),
        "training_seconds": described.get("TrainingTimeInSeconds"),
    }


def warm_pool_retained_seconds(described: Mapping[str, Any]) -> int:
    """The billed seconds a warm pool (TrainingWarmPoolSeconds) kept the instances after the job, as
    DescribeTrainingJob reports them once known (WarmPoolStatus.ResourceRetainedBillableTimeInSeconds)."""
    retained = (described.get("WarmPoolStatus") or {}).get("ResourceRetainedBillableTimeInSeconds")
    return int(retained) if isinstance(retained, (int, float)) and retained > 0 else 0


def record_cost(
    described: Mapping[str, Any],
    run_id: str,
    settings: LifecycleSettings,
    table: Any,
    price_list: Any,
    log: Log,
) -> dict[str, Any]:
    region = notify.region()
    cost = pricing.run_cost(
        price_list,
        region,
        training_facts(described),
        settings.endpoint_instance_type,
        settings.endpoint_instance_count,
        log,
        retained_seconds=warm_pool_retained_seconds(described),
    ).as_item()
    runs.update_item(table, run_id, {"cost": cost})
    log.info("run cost recorded", training_usd=str(cost["training_usd"]))
    return cost


def register_run(
    described: Mapping[str, Any],
    run_id: str,
    settings: LifecycleSettings,
    table: Any,
    sagemaker: Any,
    log: Log,
) -> registry.Version:
    """The completed run's version, registered with the status the gate gives it."""
    item = runs.read_item(table, run_id)
    metrics = {
        metric["MetricName"]: Decimal(str(metric["Value"]))
        for metric in described.get("FinalMetricDataList", [])
    }
    gate_failure = registry_gate_failure(settings.gate, metrics)
    status = registry.approval_status(gate_failure, settings.require_manual_approval)
    group = names.model_package_group(settings.stack_name)
    registry_group.ensure_group(sagemaker, group, settings.stack_name, log)
    candidate = registry.Candidate(
        run_id=run_id,
        image=str(
            item.get("image_uri") or described.get("AlgorithmSpecification", {}).get("TrainingImage", "")
        ),
        artifact=described["ModelArtifacts"]["S3ModelArtifacts"],
        metrics=metrics,
        git_sha=str(item.get("git_commit", "")),
    )
    description = gate_failure or f"Run {run_id} of stack {settings.stack_name}"
    return registry.register(
        sagemaker, table, group, candidate, status, description, log, settings.stack_name
    )


def registry_gate_failure(gate: QualityGate | None, metrics: Mapping[str, Decimal]) -> str:
    return check_gate(gate, metrics) if gate else ""


MAX_ENDPOINT_INSTANCES = 100


def mark_recorded(
    described: Mapping[str, Any], run_id: str, settings: LifecycleSettings, table: Any, log: Log
) -> None:
    """``lifecycle_job``: this job's cost and version are recorded (or failed to be); with the endpoint
    the outcome email names."""
    attributes: dict[str, Any] = {"lifecycle_job": described["TrainingJobName"]}
    if settings.endpoint_name:
        attributes["target_endpoint"] = settings.endpoint_name
    try:
        runs.update_item(table, run_id, attributes)
    except Exception as error:  # noqa: BLE001 - as above
        log.error("run lifecycle not marked recorded", error=describe_error(error))


def after_training(
    described: Mapping[str, Any],
    run_id: str,
    settings: LifecycleSettings,
    table: Any,
    sagemaker: Any,
    log: Log,
) -> str:
    """Cost for every ended job, a registry version for a completed one; failures are logged only.
    Then ``lifecycle_job`` marks the job as done here, which lets the outcome email go (common.runs).

    Returns why the pipeline must stop here ("" to go on): a version the gate Rejected while the stack
    requires a manual approval, so that nobody is asked to approve it."""
    if described.get("TrainingJobStatus") not in training_state.TERMINAL_TRAINING_STATUSES:
        return ""
    version = None
    try:
        record_cost(described, run_id, settings, table, pricing.pricing_client(notify.region()), log)
        if described["TrainingJobStatus"] == "Completed":
            version = register_run(described, run_id, settings, table, sagemaker, log)
    except Exception as error:  # noqa: BLE001 - the record must never hide the Train stage's result
        log.error("run cost or model version not recorded", error=describe_error(error))
    mark_recorded(described, run_id, settings, table, log)
    if version is None:
        return ""
    if version.status == registry.REJECTED and settings.require_manual_approval:
        return (
            f"Model version {version.number} failed the quality gate and was registered Rejected: "
            "no approval is requested and nothing is deployed"
        )
    return ""
