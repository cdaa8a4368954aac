"""deploy_endpoint with endpoint autoscaling (issue 16 item 3): the scalable target and its
target-tracking policy once the endpoint is InService, and the update handled as AWS documents it
(the scaled count retained; the target deregistered before an instance type change)."""

from __future__ import annotations

from typing import Any

import deploy_endpoint
import pytest
from common import autoscaling, clients
from common.deploy_settings import DeploySettings
from common.errors import ConfigurationError
from lambda_helpers import ENDPOINT, IMAGE_URI, ROLE_ARN, Intercept, deploy_job
from test_deploy_endpoint import (
    OLD_RELEASE,
    RELEASE,
    TOKEN,
    endpoint_state,
    trained,  # noqa: F401 (the completed training run, by usefixtures)
)

pytestmark = pytest.mark.usefixtures("trained")
TARGET = f"endpoint/{ENDPOINT}/variant/AllTraffic"


@pytest.fixture
def scaling(monkeypatch):
    monkeypatch.setenv("AUTOSCALING_MIN_INSTANCES", "2")
    monkeypatch.setenv("AUTOSCALING_MAX_INSTANCES", "6")
    monkeypatch.setenv("AUTOSCALING_TARGET_INVOCATIONS", "250")


def application_autoscaling() -> Any:
    return clients.client("application-autoscaling")


def targets() -> list[dict[str, Any]]:
    return application_autoscaling().describe_scalable_targets(ServiceNamespace="sagemaker")[
        "ScalableTargets"
    ]


def register_target() -> None:
    application_autoscaling().register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=TARGET,
        ScalableDimension=autoscaling.DIMENSION,
        MinCapacity=1,
        MaxCapacity=4,
    )


def serving(sagemaker: Any, instance_type: str) -> None:
    """The endpoint InService on OLD_RELEASE, a config of ``instance_type``."""
    sagemaker.create_model(
        ModelName=OLD_RELEASE, PrimaryContainer={"Image": IMAGE_URI}, ExecutionRoleArn=ROLE_ARN
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=OLD_RELEASE,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": OLD_RELEASE,
                "InitialInstanceCount": 2,
                "InstanceType": instance_type,
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=OLD_RELEASE)


def update_calls() -> Intercept:
    return Intercept(clients.client("sagemaker"), "UpdateEndpoint", lambda _params: {"EndpointArn": "arn:x"})


def test_in_service_registers_the_variant_with_a_target_tracking_policy(aws, results, scaling):
    deploy_endpoint.handler(deploy_job(), None)  # creates the endpoint
    results.clear()
    Intercept(clients.client("sagemaker"), "DescribeEndpoint", endpoint_state("InService"))

    deploy_endpoint.handler(deploy_job(continuation=TOKEN), None)

    assert results.only()[0] == "success"
    [target] = targets()
    assert (target["ResourceId"], target["ScalableDimension"]) == (
        TARGET,
        "sagemaker:variant:DesiredInstanceCount",
    )
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 6)
    [policy] = application_autoscaling().describe_scaling_policies(ServiceNamespace="sagemaker")[
        "ScalingPolicies"
    ]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert tracking["TargetValue"] == 250.0
    assert (
        tracking["PredefinedMetricSpecification"]["PredefinedMetricType"]
        == "SageMakerVariantInvocationsPerInstance"
    )


def test_an_update_on_the_same_instance_type_keeps_the_scaled_count_and_the_target(aws, results, scaling):
    serving(aws.sagemaker, "ml.m5.large")
    register_target()
    updates = update_calls()

    deploy_endpoint.handler(deploy_job(), None)

    assert results.only()[0] == "success"
    [update] = updates.calls
    assert update["RetainAllVariantProperties"] is True
    assert update["ExcludeRetainedVariantProperties"] == [{"VariantPropertyType": "DataCaptureConfig"}]
    assert len(targets()) == 1  # still registered through the update


def test_an_instance_type_change_deregisters_the_target_before_the_update(aws, results, scaling):
    serving(aws.sagemaker, "ml.c5.large")  # the stack now says ml.m5.large
    register_target()
    order: list[str] = []
    Intercept(
        application_autoscaling(), "DeregisterScalableTarget", lambda _params: order.append("deregister")
    )
    updates = Intercept(
        clients.client("sagemaker"),
        "UpdateEndpoint",
        lambda _params: order.append("update") or {"EndpointArn": "arn:x"},
    )

    deploy_endpoint.handler(deploy_job(), None)

    assert results.only()[0] == "success"
    assert order == ["deregister", "update"]
    [update] = updates.calls
    assert update["RetainAllVariantProperties"] is False  # the new type starts at the config's count


def test_with_autoscaling_off_a_left_target_is_deregistered_and_the_config_count_applies(aws, results):
    serving(aws.sagemaker, "ml.m5.large")
    register_target()
    updates = update_calls()

    deploy_endpoint.handler(deploy_job(), None)

    assert results.only()[0] == "success"
    assert targets() == []
    assert updates.calls[0]["RetainAllVariantProperties"] is False


def test_with_autoscaling_off_and_no_target_nothing_is_deregistered(aws, results):
    serving(aws.sagemaker, "ml.m5.large")
    deregisters = Intercept(application_autoscaling(), "DeregisterScalableTarget")
    update_calls()

    deploy_endpoint.handler(deploy_job(), None)

    assert results.only()[0] == "success"
    assert deregisters.calls == []


@pytest.mark.parametrize(
    ("minimum", "maximum", "endpoint_type", "match"),
    [
        ("3", "2", "Instance", "AutoScalingMaxInstances"),
        ("1", "4", "Serverless", "no instance autoscaling"),
    ],
)
def test_bad_autoscaling_settings_are_refused(monkeypatch, minimum, maximum, endpoint_type, match):
    monkeypatch.setenv("AUTOSCALING_MIN_INSTANCES", minimum)
    monkeypatch.setenv("AUTOSCALING_MAX_INSTANCES", maximum)
    monkeypatch.setenv("ENDPOINT_TYPE", endpoint_type)
    with pytest.raises(ConfigurationError, match=match):
        DeploySettings.from_environment()


def test_release_names_stay_the_runs(aws, results, scaling):
    """The scaled endpoint still moves onto this run's release."""
    serving(aws.sagemaker, "ml.m5.large")
    updates = update_calls()
    deploy_endpoint.handler(deploy_job(), None)
    assert updates.calls[0]["EndpointConfigName"] == RELEASE
