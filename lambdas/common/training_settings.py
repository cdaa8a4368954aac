"""The Train stage's settings: the stack's training parameters, read from train_trigger's environment.

Hyperparameters and MetricDefinitions arrive as JSON text and are checked against SageMaker's
CreateTrainingJob limits here, so a bad value fails the stage naming the parameter to change.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from common.errors import ConfigurationError
from common.network import vpc_config_from_environment
from common.settings import env_bool, env_instance_type, env_int, env_text

MAX_RUNTIME_LIMIT = 23 * 3600  # the Lambda invoke action of the Train stage ends after 24 h
DEFAULT_CHANNEL_NAME = "training"  # SageMaker's convention and the SageMaker Python SDK's default
CHANNEL_NAME_PATTERN = re.compile(r"[A-Za-z0-9.\-_]{1,64}")  # CreateTrainingJob's Channel.ChannelName
WARM_POOL_LIMIT = 3600  # SageMaker's default maximum KeepAlivePeriodInSeconds (managed warm pools)


@dataclass(frozen=True)
class TrainingSettings:
    stack_name: str
    table_name: str
    role_arn: str
    input_bucket: str
    input_prefix: str
    artifact_bucket: str
    kms_key_arn: str
    instance_type: str
    instance_count: int
    volume_size_gb: int
    max_runtime_seconds: int
    use_spot: bool
    max_wait_seconds: int
    hyperparameters: dict[str, str]
    metric_definitions: list[dict[str, str]]
    git_repository: str
    git_branch: str
    topic_arn: str
    channel_name: str = DEFAULT_CHANNEL_NAME
    warm_pool_seconds: int = 0  # ResourceConfig.KeepAlivePeriodInSeconds; 0 keeps no warm pool
    vpc_config: dict[str, Any] | None = None  # SageMaker's VpcConfig; None runs outside any VPC

    @classmethod
    def from_environment(cls) -> TrainingSettings:
        instance_type = env_instance_type("TRAINING_INSTANCE_TYPE")
        max_runtime = env_int("MAX_RUNTIME_SECONDS", minimum=60, maximum=MAX_RUNTIME_LIMIT)
        use_spot = env_bool("USE_SPOT_TRAINING")
        max_wait = env_int("MAX_WAIT_SECONDS", minimum=60, maximum=2 * MAX_RUNTIME_LIMIT, default=max_runtime)
        if use_spot and max_wait < max_runtime:
            raise ConfigurationError(
                f"MaxWaitSeconds ({max_wait}) must be at least MaxTrainingRuntimeSeconds ({max_runtime}) "
                "for spot training"
            )
        return cls(
            stack_name=env_text("STACK_NAME"),
            table_name=env_text("METADATA_TABLE"),
            role_arn=env_text("SAGEMAKER_ROLE_ARN"),
            input_bucket=env_text("TRAINING_INPUT_BUCKET"),
            input_prefix=env_text("TRAINING_INPUT_PREFIX", required=False),
            artifact_bucket=env_text("MODEL_ARTIFACT_BUCKET"),
            kms_key_arn=env_text("KMS_KEY_ARN", required=False),
            instance_type=instance_type,
            instance_count=env_int("TRAINING_INSTANCE_COUNT", minimum=1, maximum=100),
            volume_size_gb=env_int("TRAINING_VOLUME_SIZE_GB", minimum=1, maximum=16384),
            max_runtime_seconds=max_runtime,
            use_spot=use_spot,
            max_wait_seconds=max_wait,
            hyperparameters=parse_hyperparameters(env_text("HYPERPARAMETERS", required=False) or "{}"),
            metric_definitions=parse_metric_definitions(
                env_text("METRIC_DEFINITIONS", required=False) or "[]"
            ),
            git_repository=env_text("GITHUB_REPOSITORY", required=False),
            git_branch=env_text("GITHUB_BRANCH", required=False),
            topic_arn=env_text("NOTIFICATION_TOPIC_ARN", required=False),
            channel_name=parse_channel_name(env_text("TRAINING_CHANNEL_NAME", required=False)),
            warm_pool_seconds=env_int("WARM_POOL_SECONDS", minimum=0, maximum=WARM_POOL_LIMIT, default=0),
            vpc_config=vpc_config_from_environment(),
        )


def parse_channel_name(text: str) -> str:
    """The TrainingChannelName parameter (empty: the default); SageMaker's ChannelName rule."""
    if not text:
        return DEFAULT_CHANNEL_NAME
    if not CHANNEL_NAME_PATTERN.fullmatch(text):
        raise ConfigurationError(
            f"TrainingChannelName {text[:80]!r} must be 1-64 letters, digits, '.', '-' or '_', e.g. training"
        )
    return text


def parse_hyperparameters(text: str) -> dict[str, str]:
    """The Hyperparameters parameter: a JSON object; SageMaker wants a string -> string map."""
    try:
        parsed = json.loads(text)
    except ValueError as error:
        raise ConfigurationError(f"Hyperparameters is not valid JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise ConfigurationError('Hyperparameters must be a JSON object, e.g. {"max_depth": 5}')
    if len(parsed) > 100:
        raise ConfigurationError(f"Hyperparameters has {len(parsed)} entries; SageMaker allows 100")
    result = {}
    for name, value in parsed.items():
        if not 1 <= len(name) <= 256:
            raise ConfigurationError(f"Hyperparameters name {name[:40]!r} must be 1-256 characters")
        if value is None:
            raise ConfigurationError(f"Hyperparameters value of {name!r} is null")
        text_value = value if isinstance(value, str) else json.dumps(value)
        if len(text_value) > 2500:
            raise ConfigurationError(f"Hyperparameters value of {name!r} is longer than 2500 characters")
        result[name] = text_value
    return result


def parse_metric_definitions(text: str) -> list[dict[str, str]]:
    """The MetricDefinitions parameter: a JSON array of {"Name": ..., "Regex": ...}."""
    try:
        parsed = json.loads(text)
    except ValueError as error:
        raise ConfigurationError(f"MetricDefinitions is not valid JSON: {error}") from None
    if not isinstance(parsed, list) or len(parsed) > 40:
        raise ConfigurationError('MetricDefinitions must be a JSON array (at most 40) of {"Name", "Regex"}')
    for index, definition in enumerate(parsed):
        if not isinstance(definition, dict) or set(definition) != {"Name", "Regex"}:
            raise ConfigurationError(f'MetricDefinitions[{index}] must have exactly "Name" and "Regex"')
        name, regex = definition["Name"], definition["Regex"]
        if not (isinstance(name, str) and 1 <= len(name) <= 255):
            raise ConfigurationError(f"MetricDefinitions[{index}].Name must be a string of 1-255 characters")
        if not (isinstance(regex, str) and 1 <= len(regex) <= 500):
            raise ConfigurationError(f"MetricDefinitions[{index}].Regex must be a string of 1-500 characters")
    return parsed
