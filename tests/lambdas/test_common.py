"""common: names, clients, logging redaction, exactly-once job results, strict UserParameters."""

from __future__ import annotations

import importlib
import json
import os
import re
import sys

import common
import pytest
from hypothesis import given
from hypothesis import strategies as st
from lambda_helpers import EXECUTION_ID, Intercept, PipelineResults, client_error

NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
MODULES = ("common", "train_trigger", "job_events", "data_trigger", "deploy_endpoint", "teardown")


def test_resource_name_follows_the_contract():
    assert common.resource_name("demo-stack", EXECUTION_ID) == f"demo-stack-{EXECUTION_ID}"
    long_stack = "My_Stack.with-a-very-long-name-indeed-yes"
    name = common.resource_name(long_stack, EXECUTION_ID)
    assert name == f"My-Stack-with-a-very-long--{EXECUTION_ID}"
    assert len(name) == 63


@given(
    stack=st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,127}", fullmatch=True),
    execution_id=st.uuids().map(str),
    attempt=st.integers(min_value=1, max_value=99),
)
def test_resource_names_are_always_valid_for_sagemaker(stack, execution_id, attempt):
    name = common.resource_name(stack, execution_id, attempt)
    assert NAME_PATTERN.match(name) and len(name) <= 63
    assert name.startswith(common.resource_prefix(stack))
    assert (attempt == 1) == (name == common.resource_name(stack, execution_id))


@pytest.mark.parametrize("bad", ["", "../x", "a" * 37, "-abc", "id with spaces"])
def test_resource_name_rejects_what_is_not_an_execution_id(bad):
    with pytest.raises(ValueError, match="execution id"):
        common.resource_name("demo-stack", bad)


def test_clients_are_cached_use_standard_retries_and_reset(fresh_clients):
    sagemaker = common.client("sagemaker")
    assert common.client("sagemaker") is sagemaker
    assert sagemaker.meta.config.retries["mode"] == "standard"
    common.reset_clients()
    assert common.client("sagemaker") is not sagemaker


def test_lazy_client_builds_its_client_on_first_use_only(fresh_clients):
    lazy = common.LazyClient("sagemaker-runtime")
    assert "sagemaker-runtime" not in common._clients
    assert lazy.meta.service_model.service_name == "sagemaker-runtime"
    assert lazy.invoke_endpoint.__self__ is common.client("sagemaker-runtime")


def test_clients_honour_per_service_endpoint_variables(fresh_clients, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", "http://127.0.0.1:4599")
    common.reset_clients()
    assert common.client("sagemaker").meta.endpoint_url == "http://127.0.0.1:4599"


def test_importing_the_handlers_reads_no_environment_and_builds_no_client(monkeypatch):
    for name in list(os.environ):
        monkeypatch.delenv(name)
    originals = {module: sys.modules.pop(module) for module in MODULES if module in sys.modules}
    try:
        for module in MODULES:
            imported = importlib.import_module(module)
            assert callable(getattr(imported, "handler", None)) or module == "common"
        assert sys.modules["common"]._clients == {}
    finally:
        sys.modules.update(originals)  # the other tests hold the original module objects


def test_redact_hides_secret_looking_keys_at_any_depth():
    value = {"artifactCredentials": {"secretAccessKey": "s"}, "nested": [{"sessionToken": "t", "keep": 1}]}
    assert common.redact(value) == {
        "artifactCredentials": "***",
        "nested": [{"sessionToken": "***", "keep": 1}],
    }


def test_job_result_is_reported_exactly_once(fresh_clients):
    results = PipelineResults()
    job = common.CodePipelineJob("11111111-abcd-1111-abcd-111111abcdef", common.Log("test"))
    job.succeed("first")
    job.fail("second")
    job.succeed("third", continuation_token="x")
    assert results.only()[0] == "success"


def test_a_core_that_reports_nothing_still_gets_a_failure(fresh_clients):
    results = PipelineResults()
    event = {"CodePipeline.job": {"id": "11111111-abcd-1111-abcd-111111abcdef", "data": {}}}
    common.run_codepipeline_job(event, "test", lambda _event, _job: None)
    outcome, params = results.only()
    assert outcome == "failure" and "without a result" in params["failureDetails"]["message"]


def test_an_unexpected_exception_becomes_one_failure_result(fresh_clients):
    results = PipelineResults()
    event = {"CodePipeline.job": {"id": "11111111-abcd-1111-abcd-111111abcdef", "data": {}}}

    def explode(_event, job):
        raise KeyError("surprise")

    common.run_codepipeline_job(event, "test", explode)
    outcome, params = results.only()
    assert outcome == "failure" and "KeyError" in params["failureDetails"]["message"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "UserParameters is missing"),
        ("", "UserParameters is missing"),
        ("{", "not valid JSON"),
        ("null", "must be a JSON object"),
        (json.dumps({"execution_id": ""}), "'execution_id' is required"),
        (json.dumps({"execution_id": "x", "extra": "y"}), "'extra' is not expected"),
        (json.dumps({"execution_id": ["x"]}), "'execution_id' must be a string"),
        (json.dumps({"execution_id": "#{codepipeline.PipelineExecutionId}"}), "unresolved variable"),
    ],
)
def test_user_parameters_are_parsed_strictly(text, message):
    data = {"actionConfiguration": {"configuration": {"UserParameters": text}}}
    with pytest.raises(common.ConfigurationError, match=re.escape(message)):
        common.user_parameters(data, {"execution_id": True})


def test_continuation_tokens_are_small_json_objects():
    token = common.encode_token({"job": "x" * 100, "attempt": 1})
    assert common.continuation_token({"continuationToken": token}) == {"attempt": 1, "job": "x" * 100}
    assert common.continuation_token({}) is None
    with pytest.raises(ValueError, match="2048"):
        common.encode_token({"job": "x" * 2100})
    for garbled in ("[1]", "{", 7, "x" * 2049):
        with pytest.raises(common.ConfigurationError):
            common.continuation_token({"continuationToken": garbled})


def test_an_undelivered_result_is_raised_so_lambda_retries(fresh_clients):
    Intercept(
        common.client("codepipeline"), "PutJobSuccessResult", client_error("JobNotFoundException", status=400)
    )
    failures = Intercept(common.client("codepipeline"), "PutJobFailureResult", lambda _params: {})
    event = {"CodePipeline.job": {"id": "11111111-abcd-1111-abcd-111111abcdef", "data": {}}}
    with pytest.raises(common.ResultNotDelivered, match="JobNotFoundException"):
        common.run_codepipeline_job(event, "test", lambda _event, job: job.succeed("done"))
    assert failures.calls == []


def test_interceptors_keep_botocore_parameter_validation(fresh_clients):
    from botocore.exceptions import ParamValidationError

    answered = Intercept(common.client("codepipeline"), "PutJobSuccessResult", lambda _params: {})
    with pytest.raises(ParamValidationError):
        common.client("codepipeline").put_job_success_result(jobId="x", executionDetails={"summary": 5})
    common.client("codepipeline").put_job_success_result(jobId="x", executionDetails={"summary": "ok"})
    assert len(answered.calls) == 2
