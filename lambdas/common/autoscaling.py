"""Endpoint autoscaling: an Application Auto Scaling scalable target on the endpoint's variant with a
target-tracking policy on SageMakerVariantInvocationsPerInstance, kept right around updates.

AWS ("Update endpoints that use auto scaling"): an UpdateEndpoint that changes the instance type of
a variant registered as a scalable target fails, so the target is deregistered first (that also
deletes its policies) and registered again once the endpoint is InService. An update that keeps the
instance type keeps the scaled count: RetainAllVariantProperties=True, so the variant keeps its
DesiredInstanceCount whatever the new config's InitialInstanceCount says. With autoscaling off a
target left from an earlier setting is deregistered before the update, so the new config's count
applies and nothing scales the endpoint behind the stack's back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from common.endpoint_variants import VARIANT_NAME
from common.errors import ConfigurationError, error_code
from common.logs import Log
from common.settings import env_int

NAMESPACE = "sagemaker"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
METRIC = "SageMakerVariantInvocationsPerInstance"
SCALE_IN_COOLDOWN_SECONDS = 300  # scale in slowly: an instance removed too early costs latency
SCALE_OUT_COOLDOWN_SECONDS = 60


@dataclass(frozen=True)
class AutoScaling:
    minimum: int = 1
    maximum: int = 0  # 0: off
    target_invocations: int = 100  # per instance per minute

    @property
    def enabled(self) -> bool:
        return self.maximum > 0

    @classmethod
    def from_environment(cls) -> AutoScaling:
        scaling = cls(
            minimum=env_int("AUTOSCALING_MIN_INSTANCES", minimum=1, maximum=100, default=1),
            maximum=env_int("AUTOSCALING_MAX_INSTANCES", minimum=0, maximum=100, default=0),
            target_invocations=env_int(
                "AUTOSCALING_TARGET_INVOCATIONS", minimum=1, maximum=100000, default=100
            ),
        )
        if scaling.enabled and scaling.maximum < scaling.minimum:
            raise ConfigurationError(
                f"AutoScalingMaxInstances ({scaling.maximum}) must be at least AutoScalingMinInstances "
                f"({scaling.minimum}), or 0 to turn autoscaling off"
            )
        return scaling


def resource_id(endpoint_name: str) -> str:
    return f"endpoint/{endpoint_name}/variant/{VARIANT_NAME}"


def policy_name(endpoint_name: str) -> str:
    return f"{endpoint_name}-invocations-per-instance"


def instance_type_of(config: dict[str, Any] | None) -> str:
    variants = (config or {}).get("ProductionVariants", [])
    return variants[0].get("InstanceType", "") if variants else ""


def update_arguments(scaling: AutoScaling, instance_type_changes: bool) -> dict[str, Any]:
    """UpdateEndpoint's variant-property arguments: keep the scaled count unless the type changes."""
    if scaling.enabled and not instance_type_changes:
        return {
            "RetainAllVariantProperties": True,
            # the new config's data capture applies; the count and weight stay as scaled
            "ExcludeRetainedVariantProperties": [{"VariantPropertyType": "DataCaptureConfig"}],
        }
    # False: the new config's variant (instance count, weight, data capture) replaces the old one.
    return {"RetainAllVariantProperties": False}


def is_registered(autoscaling: Any, endpoint_name: str) -> bool:
    found = autoscaling.describe_scalable_targets(
        ServiceNamespace=NAMESPACE, ResourceIds=[resource_id(endpoint_name)], ScalableDimension=DIMENSION
    )
    return bool(found.get("ScalableTargets"))


def deregister(autoscaling: Any, endpoint_name: str, log: Log) -> bool:
    """Deregister the variant's scalable target (and so its policies); False when there was none.

    Looked up first: AWS answers a missing target with ObjectNotFoundException, moto with a
    ValidationException, and a ValidationException must not be mistaken for "already gone".
    """
    if not is_registered(autoscaling, endpoint_name):
        return False
    try:
        autoscaling.deregister_scalable_target(
            ServiceNamespace=NAMESPACE, ResourceId=resource_id(endpoint_name), ScalableDimension=DIMENSION
        )
    except ClientError as error:
        if error_code(error) == "ObjectNotFoundException":  # deregistered meanwhile
            return False
        raise
    log.info("scalable target deregistered", endpoint=endpoint_name)
    return True


def register(autoscaling: Any, endpoint_name: str, scaling: AutoScaling, log: Log) -> None:
    """Register the variant (or update its bounds) and put the target-tracking policy; idempotent."""
    target = resource_id(endpoint_name)
    autoscaling.register_scalable_target(
        ServiceNamespace=NAMESPACE,
        ResourceId=target,
        ScalableDimension=DIMENSION,
        MinCapacity=scaling.minimum,
        MaxCapacity=scaling.maximum,
    )
    autoscaling.put_scaling_policy(
        PolicyName=policy_name(endpoint_name),
        ServiceNamespace=NAMESPACE,
        ResourceId=target,
        ScalableDimension=DIMENSION,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": float(scaling.target_invocations),
            "PredefinedMetricSpecification": {"PredefinedMetricType": METRIC},
            "ScaleInCooldown": SCALE_IN_COOLDOWN_SECONDS,
            "ScaleOutCooldown": SCALE_OUT_COOLDOWN_SECONDS,
        },
    )
    log.info(
        "endpoint autoscaling set",
        endpoint=endpoint_name,
        minimum=scaling.minimum,
        maximum=scaling.maximum,
        target=scaling.target_invocations,
    )
