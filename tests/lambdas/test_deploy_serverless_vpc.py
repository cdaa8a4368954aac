"""deploy_endpoint with EndpointType=Serverless and with the stack's VPC placement (issue 16 items 2, 9)."""

from __future__ import annotations

from typing import Any

import deploy_endpoint
import pytest
from common import clients
from common.deploy_settings import DeploySettings
from common.errors import ConfigurationError
from lambda_helpers import ENDPOINT, IMAGE_URI, ROLE_ARN, Intercept, create_release, deploy_job
from test_deploy_endpoint import (
    OLD_RELEASE,
    RELEASE,
    trained,  # noqa: F401 (the completed training run, by usefixtures)
)

SUBNETS = "subnet-0123456789abcdef0,subnet-0fedcba9876543210"
GROUP = "sg-0123456789abcdef0"


@pytest.fixture
def serverless(monkeypatch):
    monkeypatch.setenv("ENDPOINT_TYPE", "Serverless")
    monkeypatch.setenv("SERVERLESS_MEMORY_MB", "3072")
    monkeypatch.setenv("SERVERLESS_MAX_CONCURRENCY", "20")


def update_calls() -> Intercept:
    return Intercept(clients.client("sagemaker"), "UpdateEndpoint", lambda _params: {"EndpointArn": "arn:x"})


def create_serverless_release(sagemaker: Any, name: str) -> None:
    sagemaker.create_model(ModelName=name, PrimaryContainer={"Image": IMAGE_URI}, ExecutionRoleArn=ROLE_ARN)
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5},
            }
        ],
    )


@pytest.mark.usefixtures("trained")
def test_a_serverless_release_has_a_serverless_config_and_no_instances(aws, results, serverless):
    configs = Intercept(clients.client("sagemaker"), "CreateEndpointConfig")

    deploy_endpoint.handler(deploy_job(), None)

    assert results.only()[0] == "success"
    [config] = configs.calls
    assert config["ProductionVariants"] == [
        {
            "VariantName": "AllTraffic",
            "ModelName": RELEASE,
            "InitialVariantWeight": 1.0,
            "ServerlessConfig": {"MemorySizeInMB": 3072, "MaxConcurrency": 20},
        }
    ]


@pytest.mark.usefixtures("trained")
def test_a_serverless_update_has_no_traffic_shifting_or_alarm_rollback(aws, results, serverless, monkeypatch):
    monkeypatch.setenv("ROLLBACK_ALARM_NAMES", "demo-stack-5xx")
    create_serverless_release(aws.sagemaker, OLD_RELEASE)
    aws.sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=OLD_RELEASE)
    updates = update_calls()

    deploy_endpoint.handler(deploy_job(), None)

    assert results.only()[0] == "success"
    [update] = updates.calls
    assert update == {
        "EndpointName": ENDPOINT,
        "EndpointConfigName": RELEASE,
        "RetainAllVariantProperties": False,
    }


@pytest.mark.usefixtures("trained")
def test_an_instance_endpoint_is_not_converted_to_serverless(aws, results, serverless):
    create_release(aws.sagemaker, OLD_RELEASE)  # instance-based
    aws.sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=OLD_RELEASE)
    updates = update_calls()

    deploy_endpoint.handler(deploy_job(), None)

    outcome, params = results.only()
    assert outcome == "failure"
    message = params["failureDetails"]["message"]
    assert "cannot convert" in message and f"delete-endpoint --endpoint-name {ENDPOINT}" in message
    assert updates.calls == []


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("DEPLOYMENT_STRATEGY", "Canary", "DeploymentStrategy=AllAtOnce"),
        ("DEPLOYMENT_STRATEGY", "Linear", "DeploymentStrategy=AllAtOnce"),
        ("SUBNET_IDS", SUBNETS, "cannot run in a VPC"),
        ("SERVERLESS_MEMORY_MB", "1500", "ServerlessMemorySizeMB"),
    ],
)
def test_options_that_do_not_apply_to_serverless_are_refused(serverless, monkeypatch, variable, value, named):
    monkeypatch.setenv("ENDPOINT_INSTANCE_COUNT", "2")
    monkeypatch.setenv("SECURITY_GROUP_IDS", GROUP if variable == "SUBNET_IDS" else "")
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=named):
        DeploySettings.from_environment()


def test_an_unknown_endpoint_type_is_refused(monkeypatch):
    monkeypatch.setenv("ENDPOINT_TYPE", "Async")
    with pytest.raises(ConfigurationError, match="EndpointType"):
        DeploySettings.from_environment()


@pytest.mark.usefixtures("trained")
def test_in_a_vpc_the_model_gets_the_subnets_and_security_groups(aws, results, monkeypatch):
    monkeypatch.setenv("SUBNET_IDS", SUBNETS)
    monkeypatch.setenv("SECURITY_GROUP_IDS", GROUP)
    models = Intercept(clients.client("sagemaker"), "CreateModel")

    deploy_endpoint.handler(deploy_job(), None)

    assert results.only()[0] == "success"
    [model] = models.calls
    assert model["VpcConfig"] == {"Subnets": SUBNETS.split(","), "SecurityGroupIds": [GROUP]}


@pytest.mark.parametrize(("subnets", "groups"), [(SUBNETS, ""), ("", GROUP)])
def test_subnets_without_security_groups_or_the_reverse_are_refused(monkeypatch, subnets, groups):
    monkeypatch.setenv("SUBNET_IDS", subnets)
    monkeypatch.setenv("SECURITY_GROUP_IDS", groups)
    with pytest.raises(ConfigurationError, match="VpcConfig needs both"):
        DeploySettings.from_environment()
