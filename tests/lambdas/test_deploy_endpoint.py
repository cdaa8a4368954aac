"""deploy_endpoint: gate, create vs update, rollout policy, continuation, smoke test, pruning."""

from __future__ import annotations

import datetime
import json
from typing import Any

import deploy_endpoint
import pytest
from botocore.stub import Stubber
from common import blue_green, clients, logs, names, sagemaker_resources
from common.deploy_settings import DeploySettings
from lambda_helpers import (
    ENDPOINT,
    EXECUTION_ID,
    IMAGE_URI,
    INPUT_BUCKET,
    JOB_NAME,
    MODEL_BUCKET,
    ROLE_ARN,
    Intercept,
    client_error,
    create_release,
    deploy_job,
)

RELEASE = JOB_NAME  # resource_name(stack, execution id): model and endpoint config of this run
ARTIFACT = f"s3://{MODEL_BUCKET}/training-output/{JOB_NAME}/output/model.tar.gz"
OLD_RELEASE = names.resource_name("demo-stack", "0ld00000-0000-0000-0000-000000000000")
TOKEN = json.dumps(
    {"config": RELEASE, "endpoint": ENDPOINT, "run": EXECUTION_ID}, separators=(",", ":"), sort_keys=True
)


def training(metrics: dict[str, float] | None = None, status: str = "Completed") -> dict[str, Any]:
    now = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=datetime.UTC)
    return {
        "TrainingJobName": JOB_NAME,
        "TrainingJobArn": f"arn:aws:sagemaker:eu-west-1:123456789012:training-job/{JOB_NAME}",
        "TrainingJobStatus": status,
        "SecondaryStatus": status,
        "ModelArtifacts": {"S3ModelArtifacts": ARTIFACT},
        "FinalMetricDataList": [
            {"MetricName": name, "Value": value, "Timestamp": now} for name, value in (metrics or {}).items()
        ],
        "AlgorithmSpecification": {"TrainingImage": IMAGE_URI, "TrainingInputMode": "File"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "CreationTime": now,
    }


@pytest.fixture
def trained(aws):
    """A Completed training job for the run, its run item, and a way to change what it reports."""
    aws.table.put_item(
        Item={
            "run_id": EXECUTION_ID,
            "training_job_name": JOB_NAME,
            "status": "Completed",
            "image_uri": IMAGE_URI,
        }
    )
    job = {"described": training({"validation:accuracy": 0.91})}
    Intercept(clients.client("sagemaker"), "DescribeTrainingJob", lambda _params: dict(job["described"]))
    return job


def endpoint_state(status: str, config: str = RELEASE, **extra: Any):
    def respond(_params: dict[str, Any]) -> dict[str, Any]:
        now = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=datetime.UTC)
        return {
            "EndpointName": ENDPOINT,
            "EndpointArn": f"arn:aws:sagemaker:eu-west-1:123456789012:endpoint/{ENDPOINT}",
            "EndpointConfigName": config,
            "EndpointStatus": status,
            "CreationTime": now,
            "LastModifiedTime": now,
            **extra,
        }

    return respond


# ------------------------------------------------------------------------------------ first call
def test_first_release_creates_model_config_and_endpoint(aws, trained, results):
    creates = Intercept(clients.client("sagemaker"), "CreateEndpoint")
    models = Intercept(clients.client("sagemaker"), "CreateModel")
    configs = Intercept(clients.client("sagemaker"), "CreateEndpointConfig")

    deploy_endpoint.handler(deploy_job(), None)

    outcome, params = results.only()
    assert outcome == "success" and params["continuationToken"] == TOKEN
    [model] = models.calls
    assert model["ModelName"] == RELEASE
    assert model["PrimaryContainer"] == {"Image": IMAGE_URI, "ModelDataUrl": ARTIFACT}
    assert model["ExecutionRoleArn"] == ROLE_ARN
    assert {"Key": sagemaker_resources.STACK_TAG, "Value": "demo-stack"} in model["Tags"]
    [config] = configs.calls
    assert config["ProductionVariants"] == [
        {
            "VariantName": "AllTraffic",
            "ModelName": RELEASE,
            "InitialInstanceCount": 1,
            "InstanceType": "ml.m5.large",
            "InitialVariantWeight": 1.0,
        }
    ]
    [create] = creates.calls
    assert create["EndpointName"] == ENDPOINT and create["EndpointConfigName"] == RELEASE
    item = aws.item()
    assert item["deploy_status"] == "Creating"
    assert (item["endpoint_name"], item["endpoint_config_name"], item["model_name"]) == (
        ENDPOINT,
        RELEASE,
        RELEASE,
    )


@pytest.mark.parametrize(
    ("strategy", "routing"),
    [
        ("AllAtOnce", {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}),
        (
            "Canary",
            {
                "Type": "CANARY",
                "WaitIntervalInSeconds": 300,
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
            },
        ),
        (
            "Linear",
            {
                "Type": "LINEAR",
                "WaitIntervalInSeconds": 300,
                "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 25},
            },
        ),
    ],
)
def test_existing_endpoint_is_updated_blue_green_with_alarm_rollback(
    aws, trained, results, monkeypatch, strategy, routing
):
    monkeypatch.setenv("DEPLOYMENT_STRATEGY", strategy)
    monkeypatch.setenv("ENDPOINT_INSTANCE_COUNT", "2")  # canary and linear shifting need two or more
    monkeypatch.setenv("ROLLBACK_ALARM_NAMES", "demo-stack-5xx, demo-stack-latency")
    create_release(aws.sagemaker, OLD_RELEASE)
    aws.sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=OLD_RELEASE)
    updates = Intercept(
        clients.client("sagemaker"), "UpdateEndpoint", lambda _params: {"EndpointArn": "arn:x"}
    )
    creates = Intercept(clients.client("sagemaker"), "CreateEndpoint")

    deploy_endpoint.handler(deploy_job(), None)

    assert results.only()[0] == "success"
    assert creates.calls == []
    [update] = updates.calls
    assert update == {
        "EndpointName": ENDPOINT,
        "EndpointConfigName": RELEASE,
        "RetainAllVariantProperties": False,
        "DeploymentConfig": {
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": routing,
                "TerminationWaitInSeconds": 300,
            },
            "AutoRollbackConfiguration": {
                "Alarms": [{"AlarmName": "demo-stack-5xx"}, {"AlarmName": "demo-stack-latency"}]
            },
        },
    }
    assert aws.item()["deploy_status"] == "Updating"


def test_a_changed_instance_count_reaches_the_updated_endpoint(aws, trained, results, monkeypatch):
    """RetainAllVariantProperties=True would keep the old variant's DesiredInstanceCount (and weight
    and data capture): the new config's count must win, so the update does not retain them."""
    monkeypatch.setenv("ENDPOINT_INSTANCE_COUNT", "3")
    create_release(aws.sagemaker, OLD_RELEASE)
    aws.sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=OLD_RELEASE)
    configs = Intercept(clients.client("sagemaker"), "CreateEndpointConfig")
    updates = Intercept(
        clients.client("sagemaker"), "UpdateEndpoint", lambda _params: {"EndpointArn": "arn:x"}
    )

    deploy_endpoint.handler(deploy_job(), None)

    assert results.only()[0] == "success"
    [config] = configs.calls
    assert config["ProductionVariants"][0]["InitialInstanceCount"] == 3
    [update] = updates.calls
    assert update["EndpointConfigName"] == RELEASE
    assert update["RetainAllVariantProperties"] is False
    assert "ExcludeRetainedVariantProperties" not in update


def test_the_stacks_batching_settings_reach_the_model_container(aws, trained, results, monkeypatch):
    monkeypatch.setenv("ENDPOINT_MAX_BATCH_SIZE", "32")
    monkeypatch.setenv("ENDPOINT_MAX_BATCH_DELAY_MS", "2")
    models = Intercept(clients.client("sagemaker"), "CreateModel")

    deploy_endpoint.handler(deploy_job(), None)

    assert results.only()[0] == "success"
    [model] = models.calls
    assert model["PrimaryContainer"]["Environment"] == {
        "MODEL_SERVER_MAX_BATCH_SIZE": "32",
        "MODEL_SERVER_MAX_BATCH_DELAY_MS": "2",
    }


def test_empty_batching_settings_leave_the_container_environment_to_the_package(
    aws, trained, results, monkeypatch
):
    monkeypatch.setenv("ENDPOINT_MAX_BATCH_SIZE", "")
    monkeypatch.setenv("ENDPOINT_MAX_BATCH_DELAY_MS", "")
    models = Intercept(clients.client("sagemaker"), "CreateModel")

    deploy_endpoint.handler(deploy_job(), None)

    [model] = models.calls
    assert "Environment" not in model["PrimaryContainer"]


@pytest.mark.parametrize(
    ("variable", "value"), [("ENDPOINT_MAX_BATCH_SIZE", "many"), ("ENDPOINT_MAX_BATCH_DELAY_MS", "5000")]
)
def test_a_batching_setting_out_of_range_is_a_configuration_error_naming_the_parameter(
    aws, trained, results, monkeypatch, variable, value
):
    monkeypatch.setenv(variable, value)
    models = Intercept(clients.client("sagemaker"), "CreateModel")

    deploy_endpoint.handler(deploy_job(), None)

    outcome, params = results.only()
    assert outcome == "failure" and params["failureDetails"]["type"] == "ConfigurationError"
    assert "EndpointMaxBatch" in params["failureDetails"]["message"]
    assert models.calls == []


@pytest.mark.parametrize("strategy", ["Canary", "Linear"])
def test_canary_or_linear_with_one_instance_is_a_configuration_error(
    aws, trained, results, monkeypatch, strategy
):
    monkeypatch.setenv("DEPLOYMENT_STRATEGY", strategy)
    monkeypatch.setenv("ENDPOINT_INSTANCE_COUNT", "1")
    creates = Intercept(clients.client("sagemaker"), "CreateEndpointConfig")

    deploy_endpoint.handler(deploy_job(), None)

    outcome, params = results.only()
    assert outcome == "failure" and params["failureDetails"]["type"] == "ConfigurationError"
    message = params["failureDetails"]["message"]
    assert f"DeploymentStrategy={strategy}" in message and "EndpointInstanceCount" in message
    assert "AllAtOnce" in message
    assert creates.calls == []


@pytest.mark.parametrize(
    ("endpoint_name", "problem"),
    [
        ("e" * 55 + "-endpoint", "64 characters"),  # the template's <stack>-endpoint default, stack of 55
        ("bad_name", "letters, digits and hyphens"),
    ],
)
def test_an_endpoint_name_sagemaker_refuses_is_a_configuration_error(
    aws, trained, results, monkeypatch, endpoint_name, problem
):
    monkeypatch.setenv("ENDPOINT_NAME", endpoint_name)
    models = Intercept(clients.client("sagemaker"), "CreateModel")

    deploy_endpoint.handler(deploy_job(), None)

    outcome, params = results.only()
    assert outcome == "failure" and params["failureDetails"]["type"] == "ConfigurationError"
    message = params["failureDetails"]["message"]
    assert "EndpointName" in message and "63" in message and problem in message
    assert models.calls == []


def test_update_without_alarms_has_no_rollback_configuration():
    config = blue_green.deployment_config("AllAtOnce", ())
    assert config == {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0},
            "TerminationWaitInSeconds": 0,
        }
    }


def test_a_reinvocation_during_the_update_does_not_update_again(aws, trained, results):
    create_release(aws.sagemaker, RELEASE)
    sagemaker = clients.client("sagemaker")
    Intercept(
        sagemaker,
        "DescribeEndpoint",
        endpoint_state("Updating", OLD_RELEASE, PendingDeploymentSummary={"EndpointConfigName": RELEASE}),
    )
    updates = Intercept(sagemaker, "UpdateEndpoint", lambda _params: {"EndpointArn": "arn:x"})
    deploy_endpoint.handler(deploy_job(), None)
    assert updates.calls == []
    token = json.loads(results.only()[1]["continuationToken"])
    assert token == {**json.loads(TOKEN), "previous": OLD_RELEASE}  # what it still serves


def test_endpoint_busy_with_another_release_fails_clearly(aws, trained, results):
    Intercept(clients.client("sagemaker"), "DescribeEndpoint", endpoint_state("Updating", OLD_RELEASE))
    deploy_endpoint.handler(deploy_job(), None)
    outcome, params = results.only()
    assert outcome == "failure" and "is Updating with another release" in params["failureDetails"]["message"]


# ---------------------------------------------------------------------------------- quality gate
@pytest.mark.parametrize(
    ("gate", "metrics", "message"),
    [
        ("validation:accuracy >= 0.95", {"validation:accuracy": 0.91}, "validation:accuracy = 0.91"),
        ("validation:accuracy > 0.91", {"validation:accuracy": 0.91}, "validation:accuracy = 0.91"),
        ("rmse < 1", {"rmse": 1.0}, "rmse = 1.0"),
        ("f1 >= 0.5", {"validation:accuracy": 0.91}, "'f1' was not reported (reported: validation:accuracy)"),
    ],
)
def test_failing_quality_gate_stops_the_release(aws, trained, results, monkeypatch, gate, metrics, message):
    monkeypatch.setenv("QUALITY_GATE", gate)
    trained["described"] = training(metrics)
    models = Intercept(clients.client("sagemaker"), "CreateModel")
    deploy_endpoint.handler(deploy_job(), None)
    outcome, params = results.only()
    assert outcome == "failure" and message in params["failureDetails"]["message"]
    assert aws.item()["deploy_status"] == "GateFailed"
    assert models.calls == []


def test_passing_quality_gate_deploys(aws, trained, results, monkeypatch):
    monkeypatch.setenv("QUALITY_GATE", "validation:accuracy >= 0.9")
    deploy_endpoint.handler(deploy_job(), None)
    assert results.only()[0] == "success"
    assert aws.item()["deploy_status"] == "Creating"


@pytest.mark.parametrize(
    "gate", ["accuracy", "accuracy => 0.9", "accuracy >= high", "accuracy == 1", ">= 0.9"]
)
def test_malformed_quality_gate_is_a_configuration_error(aws, trained, results, monkeypatch, gate):
    monkeypatch.setenv("QUALITY_GATE", gate)
    deploy_endpoint.handler(deploy_job(), None)
    outcome, params = results.only()
    assert outcome == "failure" and params["failureDetails"]["type"] == "ConfigurationError"
    assert "QualityGate" in params["failureDetails"]["message"]


def test_training_not_completed_fails_the_deploy(aws, trained, results):
    trained["described"] = training(status="Failed")
    deploy_endpoint.handler(deploy_job(), None)
    outcome, params = results.only()
    assert outcome == "failure" and "is Failed, not Completed" in params["failureDetails"]["message"]


def test_resource_limit_names_the_endpoint_parameters(aws, trained, results):
    Intercept(
        clients.client("sagemaker"),
        "CreateEndpoint",
        client_error(
            "ResourceLimitExceeded", "The account-level service limit 'ml.m5.large for endpoint usage' is 0"
        ),
    )
    deploy_endpoint.handler(deploy_job(), None)
    outcome, params = results.only()
    assert outcome == "failure"
    assert "EndpointInstanceType (now ml.m5.large)" in params["failureDetails"]["message"]
    assert "EndpointInstanceCount" in params["failureDetails"]["message"]


# ----------------------------------------------------------------------------------- later calls
def test_continuation_until_in_service_then_success(aws, trained, results):
    states = iter([endpoint_state("Creating")({}), endpoint_state("InService")({})])
    Intercept(clients.client("sagemaker"), "DescribeEndpoint", lambda _params: next(states))
    create_release(aws.sagemaker, RELEASE)

    deploy_endpoint.handler(deploy_job(continuation=TOKEN), None)
    outcome, params = results.only()
    assert outcome == "success" and params["continuationToken"] == TOKEN
    results.clear()

    deploy_endpoint.handler(deploy_job(continuation=TOKEN), None)
    outcome, params = results.only()
    assert outcome == "success" and "continuationToken" not in params
    assert params["outputVariables"] == {"ENDPOINT_NAME": ENDPOINT, "ENDPOINT_CONFIG_NAME": RELEASE}
    assert aws.item()["deploy_status"] == "InService"


def test_rolled_back_update_fails_with_rolled_back_status(aws, trained, results, monkeypatch):
    monkeypatch.setenv("ROLLBACK_ALARM_NAMES", "demo-stack-5xx")
    create_release(aws.sagemaker, OLD_RELEASE)
    Intercept(clients.client("sagemaker"), "DescribeEndpoint", endpoint_state("InService", OLD_RELEASE))
    deploy_endpoint.handler(deploy_job(continuation=TOKEN), None)
    outcome, params = results.only()
    assert outcome == "failure"
    assert f"rolled back to {OLD_RELEASE}" in params["failureDetails"]["message"]
    assert "demo-stack-5xx" in params["failureDetails"]["message"]
    assert aws.item()["deploy_status"] == "RolledBack"


def test_failed_endpoint_reports_the_reason_and_the_parameter_to_change(aws, trained, results):
    reason = (
        "Unable to provision requested ML compute capacity. Please retry using a different ML instance type."
    )
    Intercept(clients.client("sagemaker"), "DescribeEndpoint", endpoint_state("Failed", FailureReason=reason))
    deploy_endpoint.handler(deploy_job(continuation=TOKEN), None)
    outcome, params = results.only()
    assert outcome == "failure"
    assert reason in params["failureDetails"]["message"]
    assert "EndpointInstanceType" in params["failureDetails"]["message"]
    assert aws.item()["deploy_status"] == "Failed"


def test_forged_deploy_token_fails(aws, trained, results):
    forged = json.dumps({"config": "other", "endpoint": ENDPOINT, "run": EXECUTION_ID})
    deploy_endpoint.handler(deploy_job(continuation=forged), None)
    outcome, params = results.only()
    assert outcome == "failure" and "continuation token" in params["failureDetails"]["message"]


# ------------------------------------------------------------------------------------ smoke test
@pytest.fixture
def smoke_payload(aws, monkeypatch):
    monkeypatch.setenv("SMOKE_TEST_PAYLOAD_KEY", "smoke/payload.csv")
    aws.s3.put_object(Bucket=INPUT_BUCKET, Key="smoke/payload.csv", Body=b"5.1,3.5,1.4,0.2\n")
    create_release(aws.sagemaker, RELEASE)
    Intercept(clients.client("sagemaker"), "DescribeEndpoint", endpoint_state("InService"))


def test_smoke_test_invokes_the_endpoint_with_the_stored_payload(aws, trained, results, smoke_payload):
    with Stubber(clients.client("sagemaker-runtime")) as runtime:
        runtime.add_response(
            "invoke_endpoint",
            {"Body": b"0\n", "ContentType": "text/csv"},
            {"EndpointName": ENDPOINT, "ContentType": "text/csv", "Body": b"5.1,3.5,1.4,0.2\n"},
        )
        deploy_endpoint.handler(deploy_job(continuation=TOKEN), None)
        runtime.assert_no_pending_responses()
    assert results.only()[0] == "success"
    assert aws.item()["deploy_status"] == "InService"


def test_failing_smoke_test_fails_the_deploy(aws, trained, results, smoke_payload):
    with Stubber(clients.client("sagemaker-runtime")) as runtime:
        runtime.add_client_error(
            "invoke_endpoint", "ModelError", "Received server error (500) from primary", 424
        )
        deploy_endpoint.handler(deploy_job(continuation=TOKEN), None)
    outcome, params = results.only()
    assert outcome == "failure" and "Smoke test failed" in params["failureDetails"]["message"]
    assert "ModelError" in params["failureDetails"]["message"]
    assert aws.item()["deploy_status"] == "Failed"


# --------------------------------------------------------------------------------------- pruning
def test_pruning_keeps_the_newest_releases_and_the_ones_in_use(aws, monkeypatch, lambda_env):
    releases = [
        names.resource_name("demo-stack", f"{index:08d}-0000-0000-0000-000000000000") for index in range(6)
    ]
    for name in releases:
        create_release(aws.sagemaker, name)
    foreign = names.resource_name("demo-stack", "f0000000-0000-0000-0000-000000000000")
    create_release(aws.sagemaker, foreign, stack="demo-stack-copy")
    monkeypatch.setenv("KEEP_LAST_RELEASES", "2")
    settings = DeploySettings.from_environment()
    sagemaker = clients.client("sagemaker")

    deleted = deploy_endpoint.prune(sagemaker, settings, releases[0], logs.Log("test"))

    assert sorted(deleted) == sorted([releases[1], releases[2], releases[3]] * 2)
    remaining_configs = {
        c["EndpointConfigName"] for c in sagemaker.list_endpoint_configs()["EndpointConfigs"]
    }
    remaining_models = {m["ModelName"] for m in sagemaker.list_models()["Models"]}
    assert remaining_configs == {releases[0], releases[4], releases[5], foreign}
    assert remaining_models == {releases[0], releases[4], releases[5], foreign}


def test_no_endpoint_configured_records_skipped(aws, results, monkeypatch):
    monkeypatch.setenv("ENDPOINT_NAME", "")
    deploy_endpoint.handler(deploy_job(), None)
    assert results.only()[0] == "success"
    assert aws.item()["deploy_status"] == "Skipped"


def test_access_denied_fails_and_emails_the_missing_permission(aws, trained, results):
    Intercept(
        clients.client("sagemaker"),
        "CreateModel",
        client_error(
            "AccessDeniedException",
            "User: arn:aws:sts::123456789012:assumed-role/deploy/fn is not authorized to perform: "
            "iam:PassRole on resource: arn:aws:iam::123456789012:role/demo-stack-sagemaker",
        ),
    )
    deploy_endpoint.handler(deploy_job(), None)
    outcome, params = results.only()
    assert outcome == "failure" and params["failureDetails"]["type"] == "PermissionError"
    [(subject, body)] = aws.emails()
    assert subject == "[demo-stack] Permission missing: iam:PassRole"
    assert "Missing permission: iam:PassRole" in body and "Operation: CreateModel" in body


def test_a_failing_dynamodb_write_never_hides_the_deploy_result(aws, trained, results):
    Intercept(
        clients.table("demo-stack-metadata").meta.client,
        "UpdateItem",
        client_error("InternalServerError", status=500),
    )
    deploy_endpoint.handler(deploy_job(), None)
    outcome, params = results.only()
    assert outcome == "success" and params["continuationToken"] == TOKEN


def test_kms_key_refused_by_local_nvme_instances_is_dropped(aws, trained, results, monkeypatch):
    monkeypatch.setenv("KMS_KEY_ARN", "arn:aws:kms:eu-west-1:123456789012:key/abc")
    monkeypatch.setenv("ENDPOINT_INSTANCE_TYPE", "ml.g4dn.xlarge")
    refusals = iter([{"Error": {"Code": "ValidationException", "Message": "does not support KmsKeyId"}}])
    configs = Intercept(clients.client("sagemaker"), "CreateEndpointConfig", lambda _p: next(refusals, None))
    deploy_endpoint.handler(deploy_job(), None)
    assert results.only()[0] == "success"
    assert [("KmsKeyId" in call) for call in configs.calls] == [True, False]
    assert aws.sagemaker.describe_endpoint_config(EndpointConfigName=RELEASE)["EndpointConfigName"] == RELEASE
