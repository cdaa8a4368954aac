"""train_trigger with a training warm pool and the stack's VPC placement (issue 16 items 6, 9)."""

from __future__ import annotations

import pytest
import train_trigger
from common import clients
from common.errors import ConfigurationError
from common.training_settings import TrainingSettings
from lambda_helpers import INPUT_BUCKET, Intercept, pipeline_job

SUBNETS = "subnet-0123456789abcdef0,subnet-0fedcba9876543210"
GROUPS = "sg-0123456789abcdef0,sg-0fedcba9876543210"


@pytest.fixture
def training_data(aws) -> None:
    aws.s3.put_object(Bucket=INPUT_BUCKET, Key="input/train.csv", Body=b"a,b\n1,2\n")


def started_job(results) -> dict:
    creates = Intercept(clients.client("sagemaker"), "CreateTrainingJob")
    train_trigger.handler(pipeline_job(), None)
    assert results.only()[0] == "success"
    [request] = creates.calls
    return request


def test_a_warm_pool_keeps_the_instances_for_the_configured_seconds(training_data, results, monkeypatch):
    monkeypatch.setenv("WARM_POOL_SECONDS", "1800")
    assert started_job(results)["ResourceConfig"]["KeepAlivePeriodInSeconds"] == 1800


@pytest.mark.parametrize("value", ["0", ""])
def test_without_a_warm_pool_the_request_has_no_keep_alive(training_data, results, monkeypatch, value):
    monkeypatch.setenv("WARM_POOL_SECONDS", value)
    request = started_job(results)
    assert "KeepAlivePeriodInSeconds" not in request["ResourceConfig"]
    assert "VpcConfig" not in request


@pytest.mark.parametrize("value", ["3601", "-1", "soon"])
def test_a_keep_alive_outside_0_to_3600_is_a_configuration_error(lambda_env, monkeypatch, value):
    monkeypatch.setenv("WARM_POOL_SECONDS", value)
    with pytest.raises(ConfigurationError, match="WARM_POOL_SECONDS"):
        TrainingSettings.from_environment()


def test_in_a_vpc_the_training_job_gets_the_subnets_and_security_groups(training_data, results, monkeypatch):
    monkeypatch.setenv("SUBNET_IDS", SUBNETS)
    monkeypatch.setenv("SECURITY_GROUP_IDS", GROUPS)
    assert started_job(results)["VpcConfig"] == {
        "Subnets": SUBNETS.split(","),
        "SecurityGroupIds": GROUPS.split(","),
    }


def test_subnets_without_security_groups_fail_the_stage_before_any_job(training_data, results, monkeypatch):
    monkeypatch.setenv("SUBNET_IDS", SUBNETS)
    creates = Intercept(clients.client("sagemaker"), "CreateTrainingJob")
    train_trigger.handler(pipeline_job(), None)
    outcome, params = results.only()
    assert outcome == "failure"
    assert "SecurityGroupIds" in params["failureDetails"]["message"]
    assert creates.calls == []
