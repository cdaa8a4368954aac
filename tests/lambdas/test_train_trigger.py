"""train_trigger: request building, idempotency, continuation loop, failure paths."""

from __future__ import annotations

import dataclasses
import datetime
import json
from decimal import Decimal
from typing import Any

import pytest
import train_trigger
from botocore.stub import Stubber
from common import clients, codepipeline, names, train_request, training_job
from common.training_settings import TrainingSettings
from lambda_helpers import (
    EXECUTION_ID,
    IMAGE_URI,
    INPUT_BUCKET,
    JOB_NAME,
    MODEL_BUCKET,
    ROLE_ARN,
    Intercept,
    client_error,
    load_event,
    pipeline_job,
)

ATTEMPT_2 = names.resource_name("demo-stack", EXECUTION_ID, 2)


def token(job: str = JOB_NAME, attempt: int = 1) -> str:
    return json.dumps(
        {"attempt": attempt, "job": job, "run": EXECUTION_ID}, separators=(",", ":"), sort_keys=True
    )


def described(status: str, secondary: str = "", **extra: Any) -> dict[str, Any]:
    now = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=datetime.UTC)
    response = {
        "TrainingJobName": JOB_NAME,
        "TrainingJobArn": f"arn:aws:sagemaker:eu-west-1:123456789012:training-job/{JOB_NAME}",
        "TrainingJobStatus": status,
        "SecondaryStatus": secondary or status,
        "AlgorithmSpecification": {"TrainingImage": IMAGE_URI, "TrainingInputMode": "File"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "CreationTime": now,
        "TrainingStartTime": now,
    }
    response.update(extra)
    return response


def upload(aws: Any, key: str, body: bytes = b"a,b\n1,2\n") -> str:
    return aws.s3.put_object(Bucket=INPUT_BUCKET, Key=key, Body=body)["VersionId"]


@pytest.fixture
def training_data(aws: Any) -> str:
    """An object under the input prefix, so a first call starts a job."""
    return upload(aws, "input/train.csv")


def create_calls() -> Intercept:
    return Intercept(clients.client("sagemaker"), "CreateTrainingJob")


# ------------------------------------------------------------------------------------- first call
def test_first_call_starts_the_job_records_the_run_and_continues(aws, results):
    version = upload(aws, "input/train.csv")
    upload(aws, "input/old.csv")
    newer = upload(aws, "input/old.csv", b"x")
    upload(aws, "input/folder/")
    upload(aws, "elsewhere/ignored.csv")
    creates = create_calls()

    train_trigger.handler(pipeline_job(), None)

    outcome, params = results.only()
    assert outcome == "success"
    assert json.loads(params["continuationToken"]) == {"attempt": 1, "job": JOB_NAME, "run": EXECUTION_ID}
    [request] = creates.calls
    assert request["TrainingJobName"] == JOB_NAME
    assert request["AlgorithmSpecification"] == {
        "TrainingImage": IMAGE_URI,
        "TrainingInputMode": "File",
        "MetricDefinitions": [{"Name": "validation:accuracy", "Regex": "accuracy=([0-9.]+)"}],
    }
    assert request["RoleArn"] == ROLE_ARN
    assert request["HyperParameters"] == {"max_depth": "5", "criterion": "gini"}
    assert (
        request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == f"s3://{INPUT_BUCKET}/input/"
    )
    assert request["InputDataConfig"][0]["ChannelName"] == "training"
    assert request["OutputDataConfig"] == {"S3OutputPath": f"s3://{MODEL_BUCKET}/training-output"}
    assert request["ResourceConfig"] == {
        "InstanceType": "ml.m5.large",
        "InstanceCount": 1,
        "VolumeSizeInGB": 10,
    }
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}
    assert "EnableManagedSpotTraining" not in request
    assert {"Key": "sagemaker-pipeline:stack", "Value": "demo-stack"} in request["Tags"]
    assert {"Key": "sagemaker-pipeline:run-id", "Value": EXECUTION_ID} in request["Tags"]

    item = aws.item()
    assert item["status"] == "InProgress"
    assert item["training_job_name"] == JOB_NAME
    assert item["git_commit"] == "3f2a9c1d6e0b4f7a8c9d0e1f2a3b4c5d6e7f8a9b"
    assert item["git_repository"] == "octo/gamesbiz"
    assert item["git_branch"] == "main"
    assert item["trigger"] == "push"
    assert item["image_uri"] == IMAGE_URI
    assert item["image_digest"] == "sha256:" + "ab" * 32
    assert item["data_objects"] == {"input/train.csv": version, "input/old.csv": newer}
    assert item["hyperparameters"] == {"max_depth": "5", "criterion": "gini"}
    assert item["instance_config"]["instance_type"] == "ml.m5.large"
    assert item["instance_config"]["max_runtime_seconds"] == 3600
    assert item["codepipeline_job_id"] == "11111111-abcd-1111-abcd-111111abcdef"


NO_DATA = f"no training data under s3://{INPUT_BUCKET}/input/: upload data under input/ first"


def test_no_training_data_fails_at_once_records_the_run_and_emails_the_owner(aws, results):
    upload(aws, "input/folder/")  # a folder marker is no data
    upload(aws, "elsewhere/train.csv")
    creates = create_calls()

    train_trigger.handler(pipeline_job(), None)

    outcome, params = results.only()
    assert outcome == "failure"
    assert params["failureDetails"]["message"] == NO_DATA
    assert creates.calls == []
    item = aws.item()
    assert item["status"] == "Failed"
    assert item["failure_reason"] == NO_DATA
    assert item["git_commit"] == "3f2a9c1d6e0b4f7a8c9d0e1f2a3b4c5d6e7f8a9b"
    assert "training_job_name" not in item
    [(subject, body)] = aws.emails()
    assert subject == f"[demo-stack] Training Failed: run {EXECUTION_ID}"
    assert f"Failure reason: {NO_DATA}" in body
    assert "#/jobs/" not in body  # no training job to link to

    train_trigger.handler(pipeline_job(), None)  # the same job invoked again: no second email
    assert len(aws.emails()) == 1


def test_a_stage_retry_after_uploading_data_starts_the_job(aws, results):
    train_trigger.handler(pipeline_job(), None)
    assert results.only()[0] == "failure"
    results.clear()
    upload(aws, "input/train.csv")
    creates = create_calls()

    train_trigger.handler(pipeline_job(job_id="22222222-abcd-2222-abcd-222222abcdef"), None)

    assert results.only()[0] == "success"
    assert [call["TrainingJobName"] for call in creates.calls] == [JOB_NAME]
    item = aws.item()
    assert item["status"] == "InProgress"
    assert item["training_job_name"] == JOB_NAME
    assert not item.get("failure_reason")


def test_spot_training_and_max_runtime_are_honoured(training_data, aws, results, monkeypatch):
    monkeypatch.setenv("USE_SPOT_TRAINING", "true")
    monkeypatch.setenv("MAX_RUNTIME_SECONDS", "1800")
    monkeypatch.setenv("MAX_WAIT_SECONDS", "5400")
    monkeypatch.setenv("KMS_KEY_ARN", "arn:aws:kms:eu-west-1:123456789012:key/abc")
    creates = create_calls()

    train_trigger.handler(pipeline_job(), None)

    assert results.only()[0] == "success"
    [request] = creates.calls
    assert request["EnableManagedSpotTraining"] is True
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 1800, "MaxWaitTimeInSeconds": 5400}
    assert request["CheckpointConfig"] == {"S3Uri": f"s3://{MODEL_BUCKET}/checkpoints/{JOB_NAME}"}
    assert request["OutputDataConfig"]["KmsKeyId"].endswith("key/abc")
    assert request["ResourceConfig"]["VolumeKmsKeyId"].endswith("key/abc")


KMS_KEY = "arn:aws:kms:eu-west-1:123456789012:key/abc"


@pytest.mark.parametrize(
    ("instance_type", "volume_key"),
    [("ml.m5.large", True), ("ml.p3.2xlarge", True), ("ml.g5.xlarge", False), ("ml.g5.2xlarge", False)],
)
def test_volume_key_only_for_instance_types_without_local_nvme_storage(lambda_env, instance_type, volume_key):
    """SageMaker rejects VolumeKmsKeyId on instance types with local NVMe storage (encrypted in hardware)."""
    settings = dataclasses.replace(
        TrainingSettings.from_environment(), instance_type=instance_type, kms_key_arn=KMS_KEY
    )
    run = train_request.RunRequest.parse(
        codepipeline.JobEvent.parse(pipeline_job(), "11111111-abcd-1111-abcd-111111abcdef")
    )
    request = training_job.training_request(settings, run.image_uri, run.execution_id, JOB_NAME)
    assert request["OutputDataConfig"]["KmsKeyId"] == KMS_KEY
    assert request["ResourceConfig"]["InstanceType"] == instance_type
    assert ("VolumeKmsKeyId" in request["ResourceConfig"]) is volume_key


@pytest.mark.parametrize(
    ("configured", "channel"), [("train", "train"), ("", "training"), ("my.data-1_x", "my.data-1_x")]
)
def test_the_channel_is_the_training_channel_name_parameter(
    training_data, aws, results, monkeypatch, configured, channel
):
    monkeypatch.setenv("TRAINING_CHANNEL_NAME", configured)
    creates = create_calls()
    train_trigger.handler(pipeline_job(), None)
    assert results.only()[0] == "success"
    [request] = creates.calls
    assert [c["ChannelName"] for c in request["InputDataConfig"]] == [channel]


@pytest.mark.parametrize("bad", ["data/train", "x" * 65, "tab\tname"])
def test_a_channel_name_sagemaker_would_refuse_is_a_configuration_error(aws, results, monkeypatch, bad):
    monkeypatch.setenv("TRAINING_CHANNEL_NAME", bad)
    creates = create_calls()
    train_trigger.handler(pipeline_job(), None)
    outcome, params = results.only()
    assert outcome == "failure"
    assert params["failureDetails"]["type"] == "ConfigurationError"
    assert "TrainingChannelName" in params["failureDetails"]["message"]
    assert creates.calls == []


def test_spot_wait_shorter_than_runtime_is_a_configuration_error(aws, results, monkeypatch):
    monkeypatch.setenv("USE_SPOT_TRAINING", "true")
    monkeypatch.setenv("MAX_WAIT_SECONDS", "600")
    creates = create_calls()
    train_trigger.handler(pipeline_job(), None)
    outcome, params = results.only()
    assert outcome == "failure"
    assert params["failureDetails"]["type"] == "ConfigurationError"
    assert "MaxWaitSeconds" in params["failureDetails"]["message"]
    assert creates.calls == []


def test_a_retried_invocation_never_starts_a_second_job(training_data, aws, results):
    creates = create_calls()
    train_trigger.handler(pipeline_job(), None)
    first = results.only()[1]["continuationToken"]
    results.clear()

    train_trigger.handler(pipeline_job(), None)

    assert len(creates.calls) == 1
    outcome, params = results.only()
    assert outcome == "success" and params["continuationToken"] == first


def test_crash_between_create_and_record_is_recovered_without_a_second_job(aws, results):
    """The job exists (the previous invocation died before DynamoDB): adopt it, record the run."""
    upload(aws, "input/train.csv")
    aws.sagemaker.create_training_job(
        **training_job.training_request(
            TrainingSettings.from_environment(), IMAGE_URI, EXECUTION_ID, JOB_NAME
        )
    )
    assert aws.item() is None
    creates = create_calls()

    train_trigger.handler(pipeline_job(), None)

    assert creates.calls == []
    assert results.only()[0] == "success"
    item = aws.item()
    assert item["training_job_name"] == JOB_NAME and "input/train.csv" in item["data_objects"]


def test_resource_in_use_from_a_concurrent_invocation_adopts_the_job(training_data, aws, results):
    sagemaker = clients.client("sagemaker")
    Intercept(sagemaker, "DescribeTrainingJob", _first_missing_then(described("InProgress")))
    Intercept(sagemaker, "CreateTrainingJob", client_error("ResourceInUse", "Training job name exists"))

    train_trigger.handler(pipeline_job(), None)

    outcome, params = results.only()
    assert outcome == "success" and json.loads(params["continuationToken"])["job"] == JOB_NAME
    assert aws.item()["training_job_arn"].endswith(JOB_NAME)


def _first_missing_then(response: dict[str, Any]):
    calls = []

    def respond(_params):
        calls.append(1)
        if len(calls) == 1:
            return {"Error": {"Code": "ValidationException", "Message": "Requested resource not found."}}
        return dict(response)

    return respond


def record_failed_first_attempt(aws, codepipeline_job_id: str) -> None:
    """The run item after attempt 1 failed, started by the CodePipeline job ``codepipeline_job_id``."""
    aws.table.put_item(
        Item={
            "run_id": EXECUTION_ID,
            "training_job_name": JOB_NAME,
            "training_attempt": 1,
            "codepipeline_job_id": codepipeline_job_id,
            "status": "Failed",
        }
    )


def test_stage_retry_after_a_failed_job_starts_a_new_attempt(training_data, aws, results):
    record_failed_first_attempt(aws, "00000000-0000-0000-0000-000000000001")
    sagemaker = clients.client("sagemaker")
    failed = described("Failed", FailureReason="AlgorithmError: boom")
    Intercept(
        sagemaker,
        "DescribeTrainingJob",
        lambda params: (
            dict(failed)
            if params["TrainingJobName"] == JOB_NAME
            else {"Error": {"Code": "ValidationException", "Message": "not found"}}
        ),
    )
    creates = create_calls()

    train_trigger.handler(pipeline_job(), None)

    assert [call["TrainingJobName"] for call in creates.calls] == [ATTEMPT_2]
    assert ATTEMPT_2.endswith("-r2") and len(ATTEMPT_2) <= 63
    _outcome, params = results.only()
    assert json.loads(params["continuationToken"]) == {"attempt": 2, "job": ATTEMPT_2, "run": EXECUTION_ID}
    item = aws.item()
    assert item["status"] == "InProgress" and item["training_job_name"] == ATTEMPT_2


def test_same_codepipeline_job_after_a_failed_job_does_not_start_another(aws, results):
    record_failed_first_attempt(aws, "11111111-abcd-1111-abcd-111111abcdef")
    Intercept(clients.client("sagemaker"), "DescribeTrainingJob", lambda _p: described("Failed"))
    creates = create_calls()
    train_trigger.handler(pipeline_job(), None)
    assert creates.calls == []
    assert json.loads(results.only()[1]["continuationToken"])["job"] == JOB_NAME
    assert aws.item()["status"] == "Failed"


# ------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("HYPERPARAMETERS", "{max_depth: 5}", "Hyperparameters is not valid JSON"),
        ("HYPERPARAMETERS", "[1, 2]", "Hyperparameters must be a JSON object"),
        ("HYPERPARAMETERS", '{"a": null}', "Hyperparameters value of 'a' is null"),
        ("METRIC_DEFINITIONS", "[{", "MetricDefinitions is not valid JSON"),
        ("METRIC_DEFINITIONS", '[{"Name": "x"}]', "MetricDefinitions[0]"),
        ("TRAINING_INSTANCE_TYPE", "m5.large", "TRAINING_INSTANCE_TYPE"),
        ("MAX_RUNTIME_SECONDS", "90000", "MAX_RUNTIME_SECONDS"),
    ],
)
def test_bad_configuration_fails_the_job_naming_the_problem(
    aws, results, monkeypatch, variable, value, named
):
    monkeypatch.setenv(variable, value)
    creates = create_calls()
    train_trigger.handler(pipeline_job(), None)
    outcome, params = results.only()
    assert outcome == "failure"
    assert params["failureDetails"]["type"] == "ConfigurationError"
    assert named in params["failureDetails"]["message"]
    assert creates.calls == []


@pytest.mark.parametrize(
    ("user_parameters", "named"),
    [
        ("not json", "UserParameters is not valid JSON"),
        ('["execution_id"]', "must be a JSON object"),
        (json.dumps({"image_uri": IMAGE_URI}), "'execution_id' is required"),
        (json.dumps({"execution_id": EXECUTION_ID, "image_uri": IMAGE_URI, "colour": "red"}), "'colour'"),
        (
            json.dumps({"execution_id": EXECUTION_ID, "image_uri": "#{BuildVariables.IMAGE_URI}"}),
            "unresolved",
        ),
        (json.dumps({"execution_id": "../../etc", "image_uri": IMAGE_URI}), "'execution_id'"),
        (json.dumps({"execution_id": EXECUTION_ID, "image_uri": "not an image"}), "'image_uri'"),
        (json.dumps({"execution_id": EXECUTION_ID, "image_uri": IMAGE_URI, "trigger": "cron"}), "'trigger'"),
        (json.dumps({"execution_id": 7, "image_uri": IMAGE_URI}), "'execution_id' must be a string"),
    ],
)
def test_bad_user_parameters_fail_the_job_naming_the_field(aws, results, user_parameters, named):
    event = pipeline_job()
    event["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]["UserParameters"] = (
        user_parameters
    )
    creates = create_calls()
    train_trigger.handler(event, None)
    outcome, params = results.only()
    assert outcome == "failure" and named in params["failureDetails"]["message"]
    assert creates.calls == []


# ------------------------------------------------------------------------------------ continuation
def test_continuation_loop_until_completed(training_data, aws, results):
    train_trigger.handler(pipeline_job(), None)
    first_token = results.only()[1]["continuationToken"]
    results.clear()
    states = iter(
        [
            described("InProgress", "Training"),
            described(
                "Completed",
                ModelArtifacts={"S3ModelArtifacts": f"s3://{MODEL_BUCKET}/m.tar.gz"},
                FinalMetricDataList=[{"MetricName": "validation:accuracy", "Value": 0.9}],
            ),
        ]
    )
    Intercept(clients.client("sagemaker"), "DescribeTrainingJob", lambda _p: next(states))

    train_trigger.handler(
        pipeline_job(continuation=first_token, job_id="22222222-abcd-2222-abcd-222222abcdef"), None
    )
    outcome, params = results.only()
    assert outcome == "success" and params["continuationToken"] == first_token
    assert "Training" in params["executionDetails"]["summary"]
    results.clear()

    train_trigger.handler(pipeline_job(continuation=first_token), None)
    outcome, params = results.only()
    assert outcome == "success" and "continuationToken" not in params
    assert params["outputVariables"] == {
        "TRAINING_JOB_NAME": JOB_NAME,
        "MODEL_ARTIFACT": f"s3://{MODEL_BUCKET}/m.tar.gz",
    }
    assert "validation:accuracy=0.9" in params["executionDetails"]["summary"]
    item = aws.item()
    assert item["status"] == "Completed"
    assert item["final_metrics"] == {"validation:accuracy": Decimal("0.9")}


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (
            described("Failed", FailureReason="AlgorithmError: ValueError: bad column"),
            "AlgorithmError: ValueError",
        ),
        (
            described(
                "Failed", FailureReason="CapacityError: Unable to provision requested ML compute capacity."
            ),
            "TrainingInstanceType",
        ),
        (described("Stopped", "MaxRuntimeExceeded"), "MaxTrainingRuntimeSeconds"),
        (described("Stopped", "MaxWaitTimeExceeded"), "UseSpotTraining=false"),
    ],
)
def test_failed_or_stopped_job_fails_with_the_reason(aws, results, state, expected):
    aws.table.put_item(Item={"run_id": EXECUTION_ID, "training_job_name": JOB_NAME, "status": "InProgress"})
    Intercept(clients.client("sagemaker"), "DescribeTrainingJob", lambda _p: dict(state))
    train_trigger.handler(pipeline_job(continuation=token()), None)
    outcome, params = results.only()
    assert outcome == "failure" and expected in params["failureDetails"]["message"]
    assert aws.item()["status"] == state["TrainingJobStatus"]


@pytest.mark.parametrize(
    "forged",
    [
        "not json",
        json.dumps({"attempt": 1, "job": "someone-elses-job", "run": EXECUTION_ID}),
        json.dumps({"attempt": 1, "job": JOB_NAME, "run": "11111111-2222-3333-4444-555555555555"}),
        json.dumps({"attempt": True, "job": JOB_NAME, "run": EXECUTION_ID}),
        json.dumps([JOB_NAME]),
        "x" * 3000,
    ],
)
def test_forged_or_garbled_token_fails_the_job(aws, results, forged):
    describes = Intercept(clients.client("sagemaker"), "DescribeTrainingJob")
    train_trigger.handler(pipeline_job(continuation=forged), None)
    outcome, params = results.only()
    assert outcome == "failure" and "continuation token" in params["failureDetails"]["message"]
    assert describes.calls == []


# -------------------------------------------------------------------------------- AWS error paths
def test_access_denied_fails_and_emails_the_missing_permission(training_data, aws, results):
    Intercept(
        clients.client("sagemaker"),
        "CreateTrainingJob",
        client_error(
            "AccessDeniedException",
            "User: arn:aws:sts::123456789012:assumed-role/train/fn is not authorized to perform: "
            "sagemaker:CreateTrainingJob on resource: arn:aws:sagemaker:eu-west-1:123456789012:training-job/x"
            " because no identity-based policy allows it",
        ),
    )
    train_trigger.handler(pipeline_job(), None)
    outcome, params = results.only()
    assert outcome == "failure"
    assert params["failureDetails"]["type"] == "PermissionError"
    assert "sagemaker:CreateTrainingJob" in params["failureDetails"]["message"]
    [(subject, body)] = aws.emails()
    assert "sagemaker:CreateTrainingJob" in subject
    assert "Missing permission: sagemaker:CreateTrainingJob" in body


def test_resource_limit_names_the_stack_parameter_to_change(training_data, aws, results, monkeypatch):
    monkeypatch.setenv("TRAINING_INSTANCE_TYPE", "ml.p3.2xlarge")
    Intercept(
        clients.client("sagemaker"),
        "CreateTrainingJob",
        client_error(
            "ResourceLimitExceeded", "The account-level service limit 'ml.p3.2xlarge for training' is 0"
        ),
    )
    train_trigger.handler(pipeline_job(), None)
    outcome, params = results.only()
    message = params["failureDetails"]["message"]
    assert outcome == "failure"
    assert "TrainingInstanceType (now ml.p3.2xlarge)" in message and "TrainingInstanceCount" in message


def test_a_failing_dynamodb_write_never_hides_the_job_result(training_data, aws, results):
    Intercept(
        clients.table("demo-stack-metadata").meta.client,
        "UpdateItem",
        client_error("InternalServerError", "DynamoDB is down", status=500),
    )
    creates = create_calls()
    train_trigger.handler(pipeline_job(), None)
    outcome, params = results.only()
    assert outcome == "success" and json.loads(params["continuationToken"])["job"] == JOB_NAME
    assert len(creates.calls) == 1


def test_job_results_match_the_codepipeline_model_with_stubber(training_data, aws):
    """The same first call against botocore's Stubber: exact request, validated by the service model."""
    codepipeline = clients.client("codepipeline")
    with Stubber(codepipeline) as stub:
        stub.add_response(
            "put_job_success_result",
            {},
            {
                "jobId": "11111111-abcd-1111-abcd-111111abcdef",
                "executionDetails": {"summary": f"Training job {JOB_NAME} started"},
                "continuationToken": token(),
            },
        )
        train_trigger.handler(pipeline_job(), None)
        stub.assert_no_pending_responses()


def test_event_without_a_job_id_is_logged_not_answered(aws, results):
    train_trigger.handler({"CodePipeline.job": {"data": {}}}, None)
    assert results.count == 0


def test_documented_continuation_event_polls_the_job(aws, results):
    event = load_event("codepipeline_job_continuation")
    Intercept(
        clients.client("sagemaker"), "DescribeTrainingJob", lambda _p: described("InProgress", "Downloading")
    )
    train_trigger.handler(event, None)
    outcome, params = results.only()
    assert outcome == "success"
    assert params["jobId"] == "22222222-abcd-2222-abcd-222222abcdef"
    assert params["continuationToken"] == event["CodePipeline.job"]["data"]["continuationToken"]
    assert params["executionDetails"]["summary"].endswith("Downloading")
