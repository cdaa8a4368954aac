"""Endpoints in the emulator: serve processes, InvokeEndpoint proxying, blue/green update and rollback."""

from __future__ import annotations

import pytest

from tests.localmode.conftest import STANDIN_IMAGE, make_client, training_request, wait_for, wait_for_training


def trained_model(sagemaker, bucket: str, name: str, **hyperparameters: str) -> str:
    sagemaker.create_training_job(**training_request(name, bucket, **hyperparameters))
    artifact = wait_for_training(sagemaker, name)["ModelArtifacts"]["S3ModelArtifacts"]
    sagemaker.create_model(
        ModelName=name,
        PrimaryContainer={"Image": STANDIN_IMAGE, "ModelDataUrl": artifact},
        ExecutionRoleArn="arn:aws:iam::123456789012:role/smp-sagemaker-execution",
        Tags=[{"Key": "sagemaker-pipeline:stack", "Value": "unit"}],
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=f"{name}-config",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    return f"{name}-config"


def wait_settled(sagemaker, name: str) -> dict:
    return wait_for(
        lambda: (
            (d := sagemaker.describe_endpoint(EndpointName=name))["EndpointStatus"] in ("InService", "Failed")
            and d
        ),
        message=f"endpoint {name} to settle",
    )


def test_endpoint_serves_updates_and_rolls_back(sagemaker, emulator, data_bucket, moto_url):
    first = trained_model(sagemaker, data_bucket, "model-a")
    sagemaker.create_endpoint(EndpointName="ep", EndpointConfigName=first)
    assert wait_settled(sagemaker, "ep")["EndpointStatus"] == "InService"
    runtime = make_client("sagemaker-runtime", emulator.url)

    answer = runtime.invoke_endpoint(EndpointName="ep", Body=b"1,2\n3,4", ContentType="text/csv")
    assert answer["Body"].read() == b"3\n3"
    assert answer["InvokedProductionVariant"] == "AllTraffic"
    old_server = emulator.sagemaker._servers["ep"]

    make_client("s3", moto_url).put_object(Bucket=data_bucket, Key="input/b.csv", Body=b"7,8\n")
    second = trained_model(sagemaker, data_bucket, "model-b")
    sagemaker.update_endpoint(EndpointName="ep", EndpointConfigName=second, RetainAllVariantProperties=True)
    updated = wait_for(
        lambda: (d := sagemaker.describe_endpoint(EndpointName="ep"))["EndpointStatus"] == "InService" and d
    )
    assert updated["EndpointConfigName"] == second
    assert (
        runtime.invoke_endpoint(EndpointName="ep", Body=b"1,2", ContentType="text/csv")["Body"].read() == b"4"
    )
    assert wait_for(lambda: old_server.process.poll() is not None)  # the old fleet retires after the switch

    broken = trained_model(sagemaker, data_bucket, "model-broken", broken="true")
    sagemaker.update_endpoint(EndpointName="ep", EndpointConfigName=broken)
    rolled_back = wait_for(
        lambda: (
            (d := sagemaker.describe_endpoint(EndpointName="ep"))["EndpointStatus"] == "InService"
            and "FailureReason" in d
            and d
        )
    )
    assert rolled_back["EndpointConfigName"] == second
    assert "cannot load the model" in rolled_back["FailureReason"]
    assert (
        runtime.invoke_endpoint(EndpointName="ep", Body=b"1,2", ContentType="text/csv")["Body"].read() == b"4"
    )

    server = emulator.sagemaker._servers["ep"]
    sagemaker.delete_endpoint(EndpointName="ep")
    assert server.process.poll() is not None
    with pytest.raises(runtime.exceptions.ValidationError):
        runtime.invoke_endpoint(EndpointName="ep", Body=b"1,2", ContentType="text/csv")


def test_model_errors_come_back_as_model_error(sagemaker, emulator, data_bucket):
    config = trained_model(sagemaker, data_bucket, "model-c")
    sagemaker.create_endpoint(EndpointName="ep-c", EndpointConfigName=config)
    wait_settled(sagemaker, "ep-c")
    runtime = make_client("sagemaker-runtime", emulator.url)

    with pytest.raises(runtime.exceptions.ModelError) as raised:
        runtime.invoke_endpoint(EndpointName="ep-c", Body=b"{}", ContentType="application/json")

    assert raised.value.response["OriginalStatusCode"] == 415


def test_first_deployment_of_a_broken_model_fails_the_endpoint(sagemaker, data_bucket):
    config = trained_model(sagemaker, data_bucket, "model-d", broken="true")
    sagemaker.create_endpoint(EndpointName="ep-d", EndpointConfigName=config)
    described = wait_settled(sagemaker, "ep-d")
    assert described["EndpointStatus"] == "Failed"
    assert "serve exited with code 3" in described["FailureReason"]


def test_missing_resources_answer_like_sagemaker(sagemaker):
    with pytest.raises(sagemaker.exceptions.ClientError) as raised:
        sagemaker.describe_endpoint(EndpointName="absent")
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert 'Could not find endpoint "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/absent"' in str(
        raised.value
    )
    with pytest.raises(sagemaker.exceptions.ClientError) as raised:
        sagemaker.delete_model(ModelName="absent")
    assert raised.value.response["Error"]["Code"] == "ValidationException"


def test_listing_pages_filters_and_sorts_like_sagemaker(sagemaker):
    for name in ("list-a", "list-b", "other-c"):
        sagemaker.create_model(
            ModelName=name,
            PrimaryContainer={"Image": STANDIN_IMAGE},
            ExecutionRoleArn="arn:aws:iam::123456789012:role/smp-sagemaker-execution",
        )
    paginator = sagemaker.get_paginator("list_models")
    pages = list(paginator.paginate(PaginationConfig={"PageSize": 2}))
    assert [len(page["Models"]) for page in pages] == [2, 1]
    names = [model["ModelName"] for page in pages for model in page["Models"]]
    assert names == ["other-c", "list-b", "list-a"]  # newest first by default
    listed = sagemaker.list_models(NameContains="list", SortBy="Name", SortOrder="Ascending")["Models"]
    assert [model["ModelName"] for model in listed] == ["list-a", "list-b"]
