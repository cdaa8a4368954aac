"""A run's release: the model and the endpoint config (same name, tagged with the stack and the run)
that the Deploy stage puts the endpoint on."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from common.deploy_settings import DeploySettings
from common.endpoint_variants import production_variant
from common.errors import describe_error, error_code
from common.logs import Log
from common.sagemaker_resources import describe, stack_tags


def create_endpoint_config(sagemaker: Any, config: dict[str, Any], log: Log) -> None:
    """CreateEndpointConfig; instance types with local NVMe storage refuse a KmsKeyId.

    Their instance storage is hardware-encrypted, so a ValidationException with a key set is
    retried once without it (the second error, if any, is the one reported).
    """
    try:
        sagemaker.create_endpoint_config(**config)
    except ClientError as error:
        if error_code(error) != "ValidationException" or "KmsKeyId" not in config:
            raise
        log.warning("endpoint config refused the KMS key; retrying without it", error=describe_error(error))
        sagemaker.create_endpoint_config(**{key: value for key, value in config.items() if key != "KmsKeyId"})


def ensure_model_and_config(
    sagemaker: Any,
    settings: DeploySettings,
    name: str,
    run_id: str,
    image: str,
    artifact: str,
    log: Log,
) -> None:
    """The run's model and endpoint config (one name), each created only when absent."""
    tags = stack_tags(settings.stack_name, run_id)
    if not describe(sagemaker.describe_model, ModelName=name):
        container: dict[str, Any] = {"Image": image, "ModelDataUrl": artifact}
        if settings.model_environment:
            container["Environment"] = settings.model_environment
        model: dict[str, Any] = {
            "ModelName": name,
            "PrimaryContainer": container,
            "ExecutionRoleArn": settings.role_arn,
            "Tags": tags,
        }
        if settings.vpc_config:
            model["VpcConfig"] = settings.vpc_config
        sagemaker.create_model(**model)
    if not describe(sagemaker.describe_endpoint_config, EndpointConfigName=name):
        config: dict[str, Any] = {
            "EndpointConfigName": name,
            "ProductionVariants": [
                production_variant(
                    name,
                    settings.endpoint_type,
                    settings.instance_type,
                    settings.instance_count,
                    settings.serverless_memory_mb,
                    settings.serverless_max_concurrency,
                )
            ],
            "Tags": tags,
        }
        if settings.kms_key_arn:
            config["KmsKeyId"] = settings.kms_key_arn
        if settings.data_capture:
            config["DataCaptureConfig"] = settings.data_capture
        create_endpoint_config(sagemaker, config, log)
