"""The SageMaker training job of a run: its CreateTrainingJob request, and what to tell a person
when SageMaker refuses or ends it (the stack parameter to change)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from common import names
from common.sagemaker_resources import stack_tags
from common.training_settings import TrainingSettings


def training_request(settings: TrainingSettings, image_uri: str, run_id: str, name: str) -> dict[str, Any]:
    """The CreateTrainingJob request for one run."""
    output: dict[str, Any] = {"S3OutputPath": f"s3://{settings.artifact_bucket}/training-output"}
    resources: dict[str, Any] = {
        "InstanceType": settings.instance_type,
        "InstanceCount": settings.instance_count,
        "VolumeSizeInGB": settings.volume_size_gb,
    }
    if settings.warm_pool_seconds:
        resources["KeepAlivePeriodInSeconds"] = settings.warm_pool_seconds
    if settings.kms_key_arn:
        output["KmsKeyId"] = settings.kms_key_arn
        if not names.has_local_nvme_storage(settings.instance_type):
            # Local NVMe storage is encrypted by the instance; SageMaker rejects a volume key there.
            resources["VolumeKmsKeyId"] = settings.kms_key_arn
    algorithm: dict[str, Any] = {"TrainingImage": image_uri, "TrainingInputMode": "File"}
    if settings.metric_definitions:
        algorithm["MetricDefinitions"] = settings.metric_definitions
    stopping: dict[str, int] = {"MaxRuntimeInSeconds": settings.max_runtime_seconds}
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "AlgorithmSpecification": algorithm,
        "RoleArn": settings.role_arn,
        "InputDataConfig": [
            {
                "ChannelName": settings.channel_name,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"s3://{settings.input_bucket}/{settings.input_prefix}",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            }
        ],
        "OutputDataConfig": output,
        "ResourceConfig": resources,
        "StoppingCondition": stopping,
        "Tags": stack_tags(settings.stack_name, run_id),
    }
    if settings.vpc_config:
        request["VpcConfig"] = settings.vpc_config
    if settings.hyperparameters:
        request["HyperParameters"] = settings.hyperparameters
    if settings.use_spot:
        request["EnableManagedSpotTraining"] = True
        stopping["MaxWaitTimeInSeconds"] = settings.max_wait_seconds
        request["CheckpointConfig"] = {"S3Uri": f"s3://{settings.artifact_bucket}/checkpoints/{name}"}
    return request


def capacity_hint(settings: TrainingSettings) -> str:
    spot = " or set UseSpotTraining=false (spot capacity is scarcer)" if settings.use_spot else ""
    return (
        f"Change the stack parameter TrainingInstanceType (now {settings.instance_type}) or "
        f"TrainingInstanceCount (now {settings.instance_count}){spot}, or request a SageMaker quota "
        "increase for this instance type."
    )


def failure_message(name: str, described: Mapping[str, Any], settings: TrainingSettings) -> str:
    status = described["TrainingJobStatus"]
    reason = described.get("FailureReason", "") or "no reason given"
    secondary = described.get("SecondaryStatus", "")
    if status == "Stopped":
        message = f"Training job {name} was stopped ({secondary or 'Stopped'})."
        if secondary == "MaxRuntimeExceeded":
            message += " Raise the stack parameter MaxTrainingRuntimeSeconds."
        elif secondary == "MaxWaitTimeExceeded":
            message += (
                " Spot capacity did not arrive in time: raise MaxWaitSeconds or set UseSpotTraining=false."
            )
        return message
    message = f"Training job {name} failed: {reason}"
    if "capacity" in reason.lower():
        message += f" {capacity_hint(settings)}"
    return message
