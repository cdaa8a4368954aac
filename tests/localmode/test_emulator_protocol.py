"""The emulator speaks botocore's service models: inputs validated, outputs checked, errors in shape."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest
from botocore.parsers import create_parser

from localmode.aws.awsmodel import (
    ApiError,
    check_output,
    operation,
    service_model,
    to_wire_json,
    validate_input,
)
from localmode.aws.sagemaker.backend import SageMakerBackend
from tests.localmode.conftest import make_client, training_request, wait_for_training


def implemented_operations() -> list[str]:
    names = [name[3:] for name in dir(SageMakerBackend) if name.startswith("op_")]
    return ["".join(part.capitalize() for part in name.split("_")) for name in names]


def test_every_implemented_operation_is_a_real_sagemaker_operation():
    real = set(service_model("sagemaker").operation_names)
    assert set(implemented_operations()) <= real
    assert {"CreateTrainingJob", "UpdateEndpoint", "ListTags", "StopTrainingJob"} <= set(
        implemented_operations()
    )


def raw_call(url: str, target: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"},
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_requests_botocore_would_reject_are_validation_errors(emulator):
    status, body = raw_call(emulator.url, "SageMaker.CreateTrainingJob", {"TrainingJobName": "x"})
    assert status == 400
    assert body["__type"] == "ValidationException"
    assert "Missing required parameter" in body["message"]


def test_unknown_operation_is_refused(emulator):
    status, body = raw_call(emulator.url, "SageMaker.CreateNotebookInstance", {})
    assert status == 400
    assert body["__type"] == "UnknownOperationException"


def test_every_response_parses_with_botocores_parser(sagemaker, emulator, data_bucket):
    sagemaker.create_training_job(**training_request("job-parse", data_bucket))
    wait_for_training(sagemaker, "job-parse")
    parser = create_parser("json")
    for name, params in [
        ("DescribeTrainingJob", {"TrainingJobName": "job-parse"}),
        ("ListTrainingJobs", {"MaxResults": 5}),
        ("ListTags", {"ResourceArn": "arn:aws:sagemaker:eu-west-1:123456789012:training-job/job-parse"}),
        ("ListModels", {}),
        ("ListEndpointConfigs", {}),
        ("ListEndpoints", {}),
    ]:
        status, wire = emulator.call_json(f"SageMaker.{name}", json.dumps(params).encode())
        op = operation("sagemaker", name)
        parsed = parser.parse({"status_code": status, "headers": {}, "body": wire}, op.output_shape)
        assert "Error" not in parsed, name
        check_output(op, {k: v for k, v in parsed.items() if k != "ResponseMetadata"})


def test_check_output_rejects_members_outside_the_model():
    op = operation("sagemaker", "CreateModel")
    check_output(op, {"ModelArn": "arn:aws:sagemaker:eu-west-1:1:model/m"})
    with pytest.raises(AssertionError, match="not a member"):
        check_output(op, {"ModelArn": "a", "Invented": 1})
    with pytest.raises(AssertionError, match="required"):
        check_output(op, {})


def test_validate_input_uses_botocores_validator():
    op = operation("sagemaker", "DescribeTrainingJob")
    validate_input(op, {"TrainingJobName": "job"})
    with pytest.raises(ApiError) as raised:
        validate_input(op, {"TrainingJobName": 5})
    assert raised.value.code == "ValidationException"


def test_wire_json_encodes_timestamps_as_epoch_seconds():
    import datetime as dt

    moment = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert json.loads(to_wire_json({"CreationTime": moment})) == {"CreationTime": moment.timestamp()}


def test_codepipeline_job_results_are_recorded_once(emulator):
    codepipeline = make_client("codepipeline", emulator.url)
    emulator.codepipeline.open("11111111-2222-3333-4444-555555555555")

    codepipeline.put_job_success_result(jobId="11111111-2222-3333-4444-555555555555", continuationToken="t")

    result = emulator.codepipeline.result("11111111-2222-3333-4444-555555555555")
    assert result.succeeded and result.continuation_token == "t"
    with pytest.raises(codepipeline.exceptions.InvalidJobStateException):
        codepipeline.put_job_failure_result(
            jobId="11111111-2222-3333-4444-555555555555",
            failureDetails={"type": "JobFailed", "message": "late"},
        )
    with pytest.raises(codepipeline.exceptions.JobNotFoundException):
        codepipeline.put_job_success_result(jobId="99999999-2222-3333-4444-555555555555")


def test_other_codepipeline_calls_are_forwarded_to_moto(emulator):
    codepipeline = make_client("codepipeline", emulator.url)
    with pytest.raises(codepipeline.exceptions.PipelineNotFoundException):
        codepipeline.start_pipeline_execution(name="no-such-pipeline")
    assert re.match(r"^http://127\.0\.0\.1:\d+$", emulator.url)


def test_maximums_and_patterns_of_the_model_are_enforced(sagemaker, data_bucket):
    too_long = training_request("j" * 64, data_bucket)
    with pytest.raises(sagemaker.exceptions.ClientError) as raised:
        sagemaker.create_training_job(**too_long)
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert "TrainingJobName is 64 characters long, more than 63" in str(raised.value)

    bad_name = training_request("under_score", data_bucket)
    with pytest.raises(sagemaker.exceptions.ClientError, match="does not match the pattern"):
        sagemaker.create_training_job(**bad_name)
