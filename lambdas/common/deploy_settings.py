"""The Deploy stage's settings: the stack's endpoint parameters, read from deploy_endpoint's environment.

QUALITY_GATE (``metric >= value``, operators >= > <= <) is parsed here, so a bad one fails the
stage naming the parameter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from common.autoscaling import AutoScaling
from common.data_capture import data_capture_from_environment
from common.endpoint_variants import INSTANCE, SERVERLESS, check_endpoint_type
from common.errors import ConfigurationError
from common.names import RESOURCE_NAME_PATTERN
from common.network import vpc_config_from_environment
from common.settings import env_instance_type, env_int, env_text

STRATEGIES = ("AllAtOnce", "Canary", "Linear")
# Canary and linear traffic shifting move a share of the instances; SageMaker refuses them for a
# variant of one instance (UpdateEndpoint, BlueGreenUpdatePolicy). The template has the same rule.
SHIFTING_STRATEGIES = ("Canary", "Linear")
ENDPOINT_NAME_LIMIT = 63
_GATE = re.compile(
    r"^\s*([A-Za-z0-9_.:/\-]{1,255})\s*(>=|<=|>|<)\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)


@dataclass(frozen=True)
class QualityGate:
    metric: str
    operator: str
    threshold: Decimal

    @classmethod
    def parse(cls, text: str) -> QualityGate | None:
        if not text.strip():
            return None
        found = _GATE.match(text)
        if not found:
            raise ConfigurationError(
                f"QualityGate {text[:100]!r} must look like 'metric >= value' (operators >= > <= <)"
            )
        try:
            return cls(found.group(1), found.group(2), Decimal(found.group(3)))
        except InvalidOperation:
            raise ConfigurationError(f"QualityGate value {found.group(3)!r} is not a number") from None

    def passes(self, value: Decimal) -> bool:
        return {
            ">=": value >= self.threshold,
            ">": value > self.threshold,
            "<=": value <= self.threshold,
            "<": value < self.threshold,
        }[self.operator]

    def __str__(self) -> str:
        return f"{self.metric} {self.operator} {self.threshold}"


MAX_BATCH_DELAY_MS = 1000  # the runtime's own bound (container/runtime/smp_runtime/serving/settings.py)
SERVING_VARIABLES = (
    # (the stack parameter, this function's variable, the serving container's variable, its bound)
    ("EndpointMaxBatchSize", "ENDPOINT_MAX_BATCH_SIZE", "MODEL_SERVER_MAX_BATCH_SIZE", 1024),
    (
        "EndpointMaxBatchDelayMs",
        "ENDPOINT_MAX_BATCH_DELAY_MS",
        "MODEL_SERVER_MAX_BATCH_DELAY_MS",
        MAX_BATCH_DELAY_MS,
    ),
)


def serving_environment() -> dict[str, str]:
    """The model container's micro-batching variables, from the stack's EndpointMaxBatchSize and
    EndpointMaxBatchDelayMs; an empty parameter sets nothing, so the package's own table decides."""
    environment = {}
    for parameter, own, container, maximum in SERVING_VARIABLES:
        text = env_text(own, required=False)
        if not text:
            continue
        if not text.isdigit() or int(text) > maximum:
            raise ConfigurationError(
                f"{parameter}={text!r} ({own}) must be empty or a whole number from 0 to {maximum}"
            )
        environment[container] = str(int(text))
    return environment


def check_strategy(strategy: str, instance_count: int) -> None:
    if strategy in SHIFTING_STRATEGIES and instance_count < 2:
        raise ConfigurationError(
            f"DeploymentStrategy={strategy} needs EndpointInstanceCount of at least 2 "
            f"(now {instance_count}): SageMaker shifts canary and linear traffic between instances. "
            "Raise EndpointInstanceCount or choose DeploymentStrategy=AllAtOnce"
        )


def check_endpoint_name(name: str) -> None:
    """SageMaker's endpoint name rule; the template's default <stack name>-endpoint can break it."""
    if not name:
        return
    if len(name) > ENDPOINT_NAME_LIMIT:
        raise ConfigurationError(
            f"EndpointName {name[:40]}... is {len(name)} characters; SageMaker allows at most "
            f"{ENDPOINT_NAME_LIMIT}. Set the EndpointName parameter (the default <stack name>-endpoint "
            "fits stack names of up to 54 characters)"
        )
    if not RESOURCE_NAME_PATTERN.fullmatch(name):
        raise ConfigurationError(
            f"EndpointName {name!r} is not a SageMaker endpoint name: up to {ENDPOINT_NAME_LIMIT} "
            "letters, digits and hyphens, starting and ending with a letter or digit"
        )


@dataclass(frozen=True)
class DeploySettings:
    stack_name: str
    table_name: str
    topic_arn: str
    role_arn: str
    kms_key_arn: str
    endpoint_name: str
    instance_type: str
    instance_count: int
    strategy: str
    alarm_names: tuple[str, ...]
    gate: QualityGate | None
    smoke_bucket: str
    smoke_key: str
    keep_last: int
    model_environment: dict[str, str] = field(default_factory=dict)  # the serving container's variables
    data_capture: dict[str, Any] | None = None  # the endpoint config's DataCaptureConfig
    endpoint_type: str = INSTANCE
    serverless_memory_mb: int = 2048
    serverless_max_concurrency: int = 5
    vpc_config: dict[str, Any] | None = None  # the model's VpcConfig; None runs outside any VPC
    autoscaling: AutoScaling = field(default_factory=AutoScaling)

    @property
    def serverless(self) -> bool:
        return self.endpoint_type == SERVERLESS

    @classmethod
    def from_environment(cls) -> DeploySettings:
        strategy = env_text("DEPLOYMENT_STRATEGY", required=False) or "AllAtOnce"
        if strategy not in STRATEGIES:
            raise ConfigurationError(
                f"DEPLOYMENT_STRATEGY={strategy!r} must be one of {', '.join(STRATEGIES)}"
            )
        endpoint_name = env_text("ENDPOINT_NAME", required=False)
        check_endpoint_name(endpoint_name)
        instance_type = env_instance_type("ENDPOINT_INSTANCE_TYPE", required=bool(endpoint_name))
        smoke_key = env_text("SMOKE_TEST_PAYLOAD_KEY", required=False)
        alarms = env_text("ROLLBACK_ALARM_NAMES", required=False)
        instance_count = env_int("ENDPOINT_INSTANCE_COUNT", minimum=1, maximum=100, default=1)
        endpoint_type = env_text("ENDPOINT_TYPE", required=False) or INSTANCE
        memory_mb = env_int("SERVERLESS_MEMORY_MB", minimum=1024, maximum=6144, default=2048)
        vpc = vpc_config_from_environment()
        scaling = AutoScaling.from_environment()
        check_endpoint_type(endpoint_type, memory_mb, strategy, vpc is not None, scaling.enabled)
        if endpoint_type == INSTANCE:
            check_strategy(strategy, instance_count)
        return cls(
            stack_name=env_text("STACK_NAME"),
            table_name=env_text("METADATA_TABLE"),
            topic_arn=env_text("NOTIFICATION_TOPIC_ARN", required=False),
            role_arn=env_text("SAGEMAKER_ROLE_ARN"),
            kms_key_arn=env_text("KMS_KEY_ARN", required=False),
            endpoint_name=endpoint_name,
            instance_type=instance_type,
            instance_count=instance_count,
            strategy=strategy,
            alarm_names=tuple(name.strip() for name in alarms.split(",") if name.strip()),
            gate=QualityGate.parse(env_text("QUALITY_GATE", required=False)),
            smoke_bucket=env_text("SMOKE_TEST_BUCKET", required=bool(smoke_key)),
            smoke_key=smoke_key,
            keep_last=env_int("KEEP_LAST_RELEASES", minimum=1, maximum=100, default=3),
            model_environment=serving_environment(),
            data_capture=data_capture_from_environment(env_text("KMS_KEY_ARN", required=False)),
            endpoint_type=endpoint_type,
            serverless_memory_mb=memory_mb,
            serverless_max_concurrency=env_int(
                "SERVERLESS_MAX_CONCURRENCY", minimum=1, maximum=200, default=5
            ),
            vpc_config=vpc,
            autoscaling=scaling,
        )
