"""The endpoint's one production variant: instance-based (EndpointType=Instance) or serverless.

A serverless variant has a ServerlessConfig (memory, maximum concurrency) and no instance type or
count. What does not apply to it is refused when the settings are read (``check_endpoint_type``):
canary and linear deployments shift traffic between instances and autoscaling adds instances, and
serverless inference supports no VPC. SageMaker cannot convert an instance-based endpoint to a
serverless one, so a deploy that would do it fails saying how to (``conversion_problem``).
"""

from __future__ import annotations

from typing import Any

from common.errors import ConfigurationError

INSTANCE, SERVERLESS = "Instance", "Serverless"
ENDPOINT_TYPES = (INSTANCE, SERVERLESS)
SERVERLESS_MEMORY_SIZES = (1024, 2048, 3072, 4096, 5120, 6144)
VARIANT_NAME = "AllTraffic"


def check_endpoint_type(
    endpoint_type: str, memory_mb: int, strategy: str, in_vpc: bool, autoscaling: bool = False
) -> None:
    if endpoint_type not in ENDPOINT_TYPES:
        raise ConfigurationError(f"EndpointType={endpoint_type!r} must be Instance or Serverless")
    if endpoint_type != SERVERLESS:
        return
    if memory_mb not in SERVERLESS_MEMORY_SIZES:
        raise ConfigurationError(
            f"ServerlessMemorySizeMB={memory_mb} must be one of "
            + ", ".join(map(str, SERVERLESS_MEMORY_SIZES))
        )
    if strategy != "AllAtOnce":
        raise ConfigurationError(
            f"EndpointType=Serverless takes only DeploymentStrategy=AllAtOnce (now {strategy}): canary and "
            "linear deployments shift traffic between instances, which a serverless endpoint does not have"
        )
    if autoscaling:
        raise ConfigurationError(
            "EndpointType=Serverless takes no instance autoscaling (it scales itself up to "
            "ServerlessMaxConcurrency): set AutoScalingMaxInstances=0 or choose EndpointType=Instance"
        )
    if in_vpc:
        raise ConfigurationError(
            "EndpointType=Serverless cannot run in a VPC (SageMaker serverless inference supports no "
            "VpcConfig): clear SubnetIds and SecurityGroupIds or choose EndpointType=Instance"
        )


def production_variant(
    model_name: str,
    endpoint_type: str,
    instance_type: str,
    instance_count: int,
    memory_mb: int,
    max_concurrency: int,
) -> dict[str, Any]:
    variant: dict[str, Any] = {
        "VariantName": VARIANT_NAME,
        "ModelName": model_name,
        "InitialVariantWeight": 1.0,
    }
    if endpoint_type == SERVERLESS:
        variant["ServerlessConfig"] = {"MemorySizeInMB": memory_mb, "MaxConcurrency": max_concurrency}
    else:
        variant["InstanceType"] = instance_type
        variant["InitialInstanceCount"] = instance_count
    return variant


def is_serverless(config: dict[str, Any]) -> bool:
    return any("ServerlessConfig" in variant for variant in config.get("ProductionVariants", []))


def conversion_problem(endpoint_name: str, current_config: dict[str, Any] | None, serverless: bool) -> str:
    """Why the endpoint cannot move to a config of this type, or "" when it can."""
    if not serverless or current_config is None or is_serverless(current_config):
        return ""
    return (
        f"Endpoint {endpoint_name} is instance-based and SageMaker cannot convert it to a serverless "
        f"endpoint. Delete it (aws sagemaker delete-endpoint --endpoint-name {endpoint_name}) and retry "
        "this stage, which creates it serverless; or set EndpointType=Instance"
    )
