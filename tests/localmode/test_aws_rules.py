"""AWS's rules in local mode (docs/aws-rules.md): for each, one request AWS accepts and one it refuses,
refused with AWS's error code."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localmode.aws.awsmodel import ApiError
from localmode.aws.codepipeline_jobs import CodePipelineJobs
from localmode.pipeline.event_source import SqsEventSource
from localmode.pipeline.lambda_runner import LambdaRunner
from localmode.pipeline.player import PipelinePlayer
from tests.localmode.conftest import (
    REGION,
    STANDIN_IMAGE,
    make_client,
    training_request,
    unique_stack_name,
    wait_for,
    wait_for_training,
)

ROLE = "arn:aws:iam::123456789012:role/smp-sagemaker-execution"
NAME_63 = "a" + "-b" * 31  # 63 characters, single hyphens
NAME_64 = "a" * 64


def refused(call: Any, code: str = "ValidationException", match: str = "") -> str:
    with pytest.raises(ClientError) as caught:
        call()
    assert caught.value.response["Error"]["Code"] == code
    message = caught.value.response["Error"]["Message"]
    assert match in message
    return message


def model_request(name: str, artifact: str | None = None) -> dict[str, Any]:
    container = {"Image": STANDIN_IMAGE, **({"ModelDataUrl": artifact} if artifact else {})}
    return {"ModelName": name, "PrimaryContainer": container, "ExecutionRoleArn": ROLE}


def variant(model: str, count: int) -> list[dict[str, Any]]:
    return [
        {
            "VariantName": "AllTraffic",
            "ModelName": model,
            "InitialInstanceCount": count,
            "InstanceType": "ml.m5.large",
        }
    ]


def blue_green(kind: str, size_field: str = "", size_type: str = "CAPACITY_PERCENT", value: int = 0) -> dict:
    routing: dict[str, Any] = {"Type": kind, "WaitIntervalInSeconds": 0}
    if size_field:
        routing[size_field] = {"Type": size_type, "Value": value}
    return {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": routing}}


# ------------------------------------------------------------------ rule 1: SageMaker names


def test_names_of_63_characters_are_accepted(sagemaker, data_bucket):
    request = training_request(NAME_63, data_bucket)
    sagemaker.create_training_job(**request)
    sagemaker.create_model(**model_request(NAME_63))
    sagemaker.create_endpoint_config(EndpointConfigName=NAME_63, ProductionVariants=variant(NAME_63, 1))
    sagemaker.create_endpoint(EndpointName=NAME_63, EndpointConfigName=NAME_63)
    assert sagemaker.describe_endpoint(EndpointName=NAME_63)["EndpointName"] == NAME_63
    wait_for_training(sagemaker, NAME_63)


@pytest.mark.parametrize("name", [NAME_64, "bad_name", "-leading", "trailing-"])
def test_names_longer_than_63_or_off_the_pattern_are_refused(sagemaker, data_bucket, name):
    refused(
        lambda: sagemaker.create_training_job(**training_request(name, data_bucket)), match="TrainingJobName"
    )
    refused(lambda: sagemaker.create_model(**model_request(name)), match="ModelName")
    sagemaker.create_model(**model_request("ok-model"))
    refused(
        lambda: sagemaker.create_endpoint_config(
            EndpointConfigName=name, ProductionVariants=variant("ok-model", 1)
        ),
        match="EndpointConfigName",
    )
    refused(
        lambda: sagemaker.create_endpoint(EndpointName=name, EndpointConfigName="x"), match="EndpointName"
    )
    refused(
        lambda: sagemaker.update_endpoint(EndpointName=name, EndpointConfigName="x"), match="EndpointName"
    )


# ------------------------------------------------------------------ rule 2: CreateTrainingJob


def test_volume_key_is_accepted_on_instance_types_without_local_storage(sagemaker, data_bucket):
    request = training_request("ebs-volume-key", data_bucket)
    request["ResourceConfig"]["VolumeKmsKeyId"] = "alias/training"
    sagemaker.create_training_job(**request)
    assert (
        wait_for_training(sagemaker, "ebs-volume-key")["ResourceConfig"]["VolumeKmsKeyId"] == "alias/training"
    )


@pytest.mark.parametrize("instance_type", ["ml.g4dn.xlarge", "ml.r5d.large", "ml.p4d.24xlarge"])
def test_volume_key_is_refused_on_instance_types_with_local_nvme_storage(
    sagemaker, data_bucket, instance_type
):
    request = training_request("nvme-volume-key", data_bucket)
    request["ResourceConfig"].update(InstanceType=instance_type, VolumeKmsKeyId="alias/training")
    refused(lambda: sagemaker.create_training_job(**request), match="VolumeKmsKeyId")
    request["ResourceConfig"].pop("VolumeKmsKeyId")
    sagemaker.create_training_job(**request)  # the same type without the key is fine
    wait_for_training(sagemaker, "nvme-volume-key")


def test_instance_types_outside_the_models_enum_are_refused(sagemaker, data_bucket):
    request = training_request("enum-type", data_bucket)
    request["ResourceConfig"]["InstanceType"] = "ml.m5d.large"  # an EC2 type SageMaker does not train on
    refused(lambda: sagemaker.create_training_job(**request), match="ResourceConfig.InstanceType")
    request["ResourceConfig"]["InstanceType"] = "ml.m5.xlarge"
    sagemaker.create_training_job(**request)
    wait_for_training(sagemaker, "enum-type")


def test_max_wait_with_spot_training_and_at_least_the_runtime_is_accepted(sagemaker, data_bucket):
    request = training_request("spot-job", data_bucket)
    request.update(EnableManagedSpotTraining=True)
    request["StoppingCondition"] = {"MaxRuntimeInSeconds": 120, "MaxWaitTimeInSeconds": 120}
    sagemaker.create_training_job(**request)
    assert wait_for_training(sagemaker, "spot-job")["EnableManagedSpotTraining"] is True


def test_max_wait_without_spot_training_or_below_the_runtime_is_refused(sagemaker, data_bucket):
    request = training_request("spot-job-refused", data_bucket)
    request["StoppingCondition"] = {"MaxRuntimeInSeconds": 120, "MaxWaitTimeInSeconds": 600}
    refused(lambda: sagemaker.create_training_job(**request), match="EnableManagedSpotTraining")
    request.update(EnableManagedSpotTraining=True)
    request["StoppingCondition"] = {"MaxRuntimeInSeconds": 120, "MaxWaitTimeInSeconds": 119}
    refused(lambda: sagemaker.create_training_job(**request), match="MaxRuntimeInSeconds")


def test_hyperparameters_at_their_limits_are_accepted(sagemaker, data_bucket):
    request = training_request("hp-limits", data_bucket)
    request["HyperParameters"] = {f"k{index}": "v" for index in range(99)} | {"k" * 256: "v" * 2500}
    sagemaker.create_training_job(**request)
    assert len(wait_for_training(sagemaker, "hp-limits")["HyperParameters"]) == 100


@pytest.mark.parametrize(
    ("hyperparameters", "match"),
    [
        ({f"k{index}": "v" for index in range(101)}, "more than 100"),
        ({"k" * 257: "v"}, "more than 256"),
        ({"k": "v" * 2501}, "more than 2500"),
    ],
)
def test_hyperparameters_past_their_limits_are_refused(sagemaker, data_bucket, hyperparameters, match):
    request = training_request("hp-refused", data_bucket)
    request["HyperParameters"] = hyperparameters
    refused(lambda: sagemaker.create_training_job(**request), match=match)


# ------------------------------------------------------------------ rule 3: endpoints


@pytest.fixture
def serving(sagemaker, data_bucket) -> dict[str, Any]:
    """An InService endpoint `ep` of one instance, and a factory of further configs of its model."""
    sagemaker.create_training_job(**training_request("served", data_bucket))
    artifact = wait_for_training(sagemaker, "served")["ModelArtifacts"]["S3ModelArtifacts"]
    sagemaker.create_model(**model_request("served", artifact))
    made = iter(range(1, 100))

    def config(count: int, weight: float = 1.0) -> str:
        name = f"served-{next(made)}"
        variants = variant("served", count)
        variants[0]["InitialVariantWeight"] = weight
        sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=variants)
        return name

    sagemaker.create_endpoint(EndpointName="ep", EndpointConfigName=config(1))
    wait_in_service(sagemaker)
    return {"config": config}


def wait_in_service(sagemaker) -> dict[str, Any]:
    return wait_for(
        lambda: (d := sagemaker.describe_endpoint(EndpointName="ep"))["EndpointStatus"] == "InService" and d,
        message="endpoint ep in service",
    )


def test_canary_and_linear_are_refused_with_one_instance(sagemaker, serving):
    single = serving["config"](1)
    for deployment in (
        blue_green("CANARY", "CanarySize", value=10),
        blue_green("LINEAR", "LinearStepSize", value=25),
    ):
        refused(
            lambda deployment=deployment: sagemaker.update_endpoint(
                EndpointName="ep", EndpointConfigName=single, DeploymentConfig=deployment
            ),
            match="more than one instance",
        )
    # retained properties keep the endpoint's one instance, whatever the new config says
    refused(
        lambda: sagemaker.update_endpoint(
            EndpointName="ep",
            EndpointConfigName=serving["config"](2),
            RetainAllVariantProperties=True,
            DeploymentConfig=blue_green("CANARY", "CanarySize", value=10),
        ),
        match="more than one instance",
    )
    sagemaker.create_model(**model_request("fresh"))
    sagemaker.create_endpoint_config(EndpointConfigName="fresh", ProductionVariants=variant("fresh", 1))
    refused(
        lambda: sagemaker.create_endpoint(
            EndpointName="fresh", EndpointConfigName="fresh", DeploymentConfig=blue_green("LINEAR")
        ),
        match="more than one instance",
    )
    assert wait_in_service(sagemaker)["EndpointConfigName"] == "served-1"  # nothing changed


def test_canary_and_linear_sizes_must_fit_the_instance_count(sagemaker, serving):
    pair = serving["config"](2)
    refused(
        lambda: sagemaker.update_endpoint(
            EndpointName="ep",
            EndpointConfigName=pair,
            DeploymentConfig=blue_green("CANARY", "CanarySize", "INSTANCE_COUNT", 2),
        ),
        match="at most 50%",
    )
    refused(
        lambda: sagemaker.update_endpoint(
            EndpointName="ep",
            EndpointConfigName=pair,
            DeploymentConfig=blue_green("LINEAR", "LinearStepSize", value=5),
        ),
        match="10-50%",
    )


def test_canary_and_linear_are_accepted_with_more_than_one_instance(sagemaker, serving):
    sagemaker.update_endpoint(
        EndpointName="ep",
        EndpointConfigName=serving["config"](2),
        DeploymentConfig=blue_green("CANARY", "CanarySize", "INSTANCE_COUNT", 1),
    )
    assert wait_in_service(sagemaker)["ProductionVariants"][0]["DesiredInstanceCount"] == 2
    sagemaker.update_endpoint(
        EndpointName="ep",
        EndpointConfigName=serving["config"](4),
        DeploymentConfig=blue_green("LINEAR", "LinearStepSize", value=25),
    )
    assert wait_in_service(sagemaker)["ProductionVariants"][0]["DesiredInstanceCount"] == 4


def test_retain_all_variant_properties_keeps_the_count_and_weight(sagemaker, serving):
    sagemaker.update_endpoint(
        EndpointName="ep", EndpointConfigName=serving["config"](3, 0.5), RetainAllVariantProperties=True
    )
    kept = wait_in_service(sagemaker)
    assert kept["EndpointConfigName"] == "served-2"
    assert (
        kept["ProductionVariants"][0]["DesiredInstanceCount"],
        kept["ProductionVariants"][0]["DesiredWeight"],
    ) == (
        1,
        1.0,
    )
    sagemaker.update_endpoint(
        EndpointName="ep",
        EndpointConfigName=serving["config"](3, 0.5),
        RetainAllVariantProperties=True,
        ExcludeRetainedVariantProperties=[{"VariantPropertyType": "DesiredInstanceCount"}],
    )
    excluded = wait_in_service(sagemaker)["ProductionVariants"][0]
    assert (excluded["DesiredInstanceCount"], excluded["DesiredWeight"]) == (3, 1.0)


def test_without_retain_all_variant_properties_the_new_config_applies(sagemaker, serving):
    sagemaker.update_endpoint(EndpointName="ep", EndpointConfigName=serving["config"](3, 0.5))
    applied = wait_in_service(sagemaker)["ProductionVariants"][0]
    assert (applied["DesiredInstanceCount"], applied["DesiredWeight"]) == (3, 0.5)


# ------------------------------------------------------------------ rule 4: SQS event source mapping


def event_source(batch_size: int, window: int | None) -> SqsEventSource:
    return SqsEventSource(
        sqs=None,
        queue_url="https://sqs.eu-west-1.amazonaws.com/123456789012/q",
        queue_arn="arn:aws:sqs:eu-west-1:123456789012:q",
        region=REGION,
        function_name="data-trigger",
        invoke=lambda function, event: None,
        batch_size=batch_size,
        batching_window_seconds=window,
    )


@pytest.mark.parametrize(("batch_size", "window"), [(10, None), (10, 0), (11, 1), (100, 30)])
def test_sqs_batches_above_10_with_a_batching_window_are_accepted(batch_size, window):
    assert event_source(batch_size, window).batch_size == min(batch_size, 10)


@pytest.mark.parametrize(("batch_size", "window"), [(11, None), (100, 0)])
def test_sqs_batches_above_10_without_a_batching_window_are_refused(batch_size, window):
    with pytest.raises(ApiError) as caught:
        event_source(batch_size, window)
    assert caught.value.code == "InvalidParameterValueException"
    assert "Maximum batch window in seconds must be greater than 0" in caught.value.message


# ------------------------------------------------------------------ rule 5: CodePipeline configuration values


def one_action_player(user_parameters: str, trigger: str) -> tuple[PipelinePlayer, list[dict[str, Any]]]:
    definition = {
        "name": "p",
        "variables": [{"name": "TRIGGER", "defaultValue": "push"}],
        "stages": [
            {
                "name": "Train",
                "actions": [
                    {
                        "name": "TrainModel",
                        "actionTypeId": {"category": "Invoke", "owner": "AWS", "provider": "Lambda"},
                        "configuration": {"FunctionName": "train-fn", "UserParameters": user_parameters},
                    }
                ],
            }
        ],
    }

    class Pipelines:
        def get_pipeline(self, name: str) -> dict[str, Any]:
            return {"pipeline": definition}

        def get_pipeline_execution(self, pipelineName: str, pipelineExecutionId: str) -> dict[str, Any]:
            return {"pipelineExecution": {"variables": [{"name": "TRIGGER", "resolvedValue": trigger}]}}

    jobs = CodePipelineJobs()
    invoked: list[dict[str, Any]] = []

    def invoke(function: str, event: dict[str, Any]) -> None:
        invoked.append(event)
        jobs.handle("PutJobSuccessResult", {"jobId": event["CodePipeline.job"]["id"]})

    player = PipelinePlayer(
        codepipeline=Pipelines(),
        jobs=jobs,
        invoke=invoke,
        account_id="123456789012",
        region=REGION,
        local_actions={},
        report=lambda stage, text: None,
        poll_seconds=0,
    )
    return player, invoked


def test_configuration_values_of_1000_characters_are_accepted():
    template = '{"trigger": "#{variables.TRIGGER}"}'
    player, invoked = one_action_player(template, "x" * (1000 - len(template) + len("#{variables.TRIGGER}")))
    assert player.play("p", "11111111-1111-4111-8111-111111111111").status == "Succeeded"
    assert (
        len(invoked[0]["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]["UserParameters"])
        == 1000
    )


def test_configuration_values_over_1000_characters_after_resolution_fail_the_action():
    template = '{"trigger": "#{variables.TRIGGER}"}'
    player, invoked = one_action_player(template, "x" * (1001 - len(template) + len("#{variables.TRIGGER}")))
    execution = player.play("p", "11111111-1111-4111-8111-111111111111")
    assert (execution.status, execution.failed_stage) == ("Failed", "Train")
    assert (
        "UserParameters is 1001 characters long" in execution.failure and "at most 1000" in execution.failure
    )
    assert invoked == []  # the function is never invoked


# ------------------------------------------------------------------ rule 6: Lambda environment size


class FunctionConfigurations:
    def __init__(self, variables: dict[str, str]) -> None:
        self.variables = variables

    def get_function_configuration(self, FunctionName: str) -> dict[str, Any]:
        return {
            "FunctionName": FunctionName,
            "FunctionArn": f"arn:aws:lambda:{REGION}:123456789012:function:{FunctionName}",
            "Handler": "train_trigger.handler",
            "Role": "arn:aws:iam::123456789012:role/fn",
            "Environment": {"Variables": self.variables},
        }


def runner(variables: dict[str, str]) -> LambdaRunner:
    return LambdaRunner(lambda_client=FunctionConfigurations(variables), endpoints={}, region=REGION)


def test_an_environment_of_4kb_is_accepted():
    # {"K":"..."}: 8 bytes of JSON around the value
    variables = {"K": "v" * (4096 - 8)}
    assert runner(variables).function_environment("fn")["K"] == variables["K"]


def test_an_environment_over_4kb_is_refused():
    with pytest.raises(ApiError) as caught:
        runner({"K": "v" * (4097 - 8)}).configuration("fn")
    assert caught.value.code == "InvalidParameterValueException"
    assert caught.value.message.startswith(
        "Lambda was unable to configure your environment variables because the environment variables you "
        "have provided exceeded the 4KB limit."
    )


def test_the_4kb_count_includes_the_keys():
    with pytest.raises(ApiError):
        runner({"K" * 100: "v" * (4096 - 8 - 99 + 1)}).configuration("fn")


@pytest.mark.parametrize(("quiet_seconds", "batching"), [("0", False), ("60", True)])
def test_a_number_parameter_compares_as_a_string_in_conditions(moto_url, quiet_seconds, batching):
    """CloudFormation hands a Number parameter to Fn::Equals as a string: the template's
    DataTriggerBatching condition is off for a quiet window of 0 (no mapping Lambda would refuse)."""
    template = {
        "Parameters": {"Quiet": {"Type": "Number", "Default": 60}},
        "Conditions": {"Batching": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Quiet"}, "0"]}]}},
        "Resources": {
            "Always": {"Type": "AWS::SQS::Queue"},
            "Batched": {"Type": "AWS::SQS::Queue", "Condition": "Batching"},
        },
    }
    cloudformation = make_client("cloudformation", moto_url)
    name = unique_stack_name()
    cloudformation.create_stack(
        StackName=name,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": "Quiet", "ParameterValue": quiet_seconds}],
    )
    resources = cloudformation.list_stack_resources(StackName=name)["StackResourceSummaries"]
    assert ("Batched" in {item["LogicalResourceId"] for item in resources}) is batching
