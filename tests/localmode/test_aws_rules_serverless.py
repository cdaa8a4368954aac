"""AWS's rules for serverless variants, VPC placement and training warm pools in local mode
(docs/aws-rules.md): for each, requests AWS accepts and requests it refuses, with AWS's error code."""

from __future__ import annotations

from typing import Any

import pytest

from tests.localmode.conftest import make_client, training_request, wait_for_training
from tests.localmode.test_aws_rules import (
    model_request,
    refused,
    serving,  # noqa: F401 (an InService endpoint, by usefixtures)
    variant,
    wait_in_service,
)

VPC = {"Subnets": ["subnet-0123456789abcdef0"], "SecurityGroupIds": ["sg-0123456789abcdef0"]}


def serverless_variant(model: str, memory: int = 2048, **extra: Any) -> list[dict[str, Any]]:
    return [
        {
            "VariantName": "AllTraffic",
            "ModelName": model,
            "ServerlessConfig": {"MemorySizeInMB": memory, "MaxConcurrency": 5},
            **extra,
        }
    ]


def test_serverless_variants_in_1_gb_steps_are_accepted_and_described_without_instances(sagemaker):
    sagemaker.create_model(**model_request("sl"))
    for memory in (1024, 6144):
        sagemaker.create_endpoint_config(
            EndpointConfigName=f"sl-{memory}", ProductionVariants=serverless_variant("sl", memory)
        )
    described = sagemaker.describe_endpoint_config(EndpointConfigName="sl-6144")["ProductionVariants"][0]
    assert described["ServerlessConfig"]["MemorySizeInMB"] == 6144
    assert "InstanceType" not in described


@pytest.mark.parametrize(
    ("variants", "match"),
    [
        (serverless_variant("sl", InstanceType="ml.m5.large"), "takes no instance type"),
        (serverless_variant("sl", InitialInstanceCount=1), "takes no instance type"),
        (serverless_variant("sl", 1536), "MemorySizeInMB"),
        (serverless_variant("sl", 7168), "MemorySizeInMB"),  # above its maximum
        (
            [{"VariantName": "AllTraffic", "ModelName": "sl", "InstanceType": "ml.m5.large"}],
            "ServerlessConfig",
        ),
    ],
)
def test_serverless_variants_with_instances_or_off_step_memory_are_refused(sagemaker, variants, match):
    sagemaker.create_model(**model_request("sl"))
    refused(
        lambda: sagemaker.create_endpoint_config(EndpointConfigName="bad", ProductionVariants=variants),
        match=match,
    )


def test_a_model_in_a_vpc_serves_from_instances_but_not_serverless(sagemaker):
    sagemaker.create_model(**model_request("in-vpc"), VpcConfig=VPC)
    assert sagemaker.describe_model(ModelName="in-vpc")["VpcConfig"] == VPC
    sagemaker.create_endpoint_config(
        EndpointConfigName="in-vpc-instances", ProductionVariants=variant("in-vpc", 1)
    )
    refused(
        lambda: sagemaker.create_endpoint_config(
            EndpointConfigName="in-vpc-serverless", ProductionVariants=serverless_variant("in-vpc")
        ),
        match="VPC",
    )


@pytest.mark.usefixtures("serving")
def test_an_instance_endpoint_is_not_converted_to_serverless(sagemaker):
    sagemaker.create_endpoint_config(
        EndpointConfigName="to-serverless", ProductionVariants=serverless_variant("served")
    )
    refused(
        lambda: sagemaker.update_endpoint(EndpointName="ep", EndpointConfigName="to-serverless"),
        match="cannot be converted to a serverless endpoint",
    )
    assert wait_in_service(sagemaker)["EndpointConfigName"] == "served-1"  # still serving


def test_a_warm_pool_and_a_vpc_are_accepted_on_a_training_job(sagemaker, data_bucket):
    request = training_request("warm", data_bucket)
    request["ResourceConfig"]["KeepAlivePeriodInSeconds"] = 3600
    request["VpcConfig"] = VPC
    sagemaker.create_training_job(**request)
    described = wait_for_training(sagemaker, "warm")
    assert described["ResourceConfig"]["KeepAlivePeriodInSeconds"] == 3600


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("KeepAlivePeriodInSeconds", 21601, "KeepAlivePeriodInSeconds"),
    ],
)
def test_a_keep_alive_outside_the_api_range_is_refused(sagemaker, data_bucket, field, value, match):
    request = training_request("warm-refused", data_bucket)
    request["ResourceConfig"][field] = value
    refused(lambda: sagemaker.create_training_job(**request), match=match)


def register_scalable_target(moto_url: str) -> None:
    make_client("application-autoscaling", moto_url).register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId="endpoint/ep/variant/AllTraffic",
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        MinCapacity=1,
        MaxCapacity=4,
    )


@pytest.mark.usefixtures("serving")
def test_an_autoscaled_variant_keeps_its_instance_type_or_is_deregistered_first(sagemaker, moto_url):
    register_scalable_target(moto_url)
    other_type = variant("served", 1)
    other_type[0]["InstanceType"] = "ml.c5.large"
    sagemaker.create_endpoint_config(EndpointConfigName="other-type", ProductionVariants=other_type)
    refused(
        lambda: sagemaker.update_endpoint(EndpointName="ep", EndpointConfigName="other-type"),
        match="deregister the scalable target",
    )
    make_client("application-autoscaling", moto_url).deregister_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId="endpoint/ep/variant/AllTraffic",
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
    )
    sagemaker.update_endpoint(EndpointName="ep", EndpointConfigName="other-type")
    assert wait_in_service(sagemaker)["EndpointConfigName"] == "other-type"


@pytest.mark.usefixtures("serving")
def test_an_autoscaled_variant_may_change_its_model_on_the_same_instance_type(sagemaker, moto_url):
    register_scalable_target(moto_url)
    sagemaker.create_endpoint_config(EndpointConfigName="same-type", ProductionVariants=variant("served", 1))
    sagemaker.update_endpoint(
        EndpointName="ep", EndpointConfigName="same-type", RetainAllVariantProperties=True
    )
    assert wait_in_service(sagemaker)["EndpointConfigName"] == "same-type"
