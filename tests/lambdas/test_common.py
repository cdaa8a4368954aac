"""The shared package lambdas/common: names, clients, log redaction, job results, UserParameters."""

from __future__ import annotations

import importlib
import json
import os
import re
import sys

import pytest
from common import clients, codepipeline, errors, logs, names
from hypothesis import given
from hypothesis import strategies as st
from lambda_helpers import EXECUTION_ID, Intercept, PipelineResults, client_error

from scripts.cfn_template import load_template

NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
HANDLERS = (
    "train_trigger",
    "job_events",
    "data_trigger",
    "deploy_endpoint",
    "teardown",
    "drift_check",
    "idle_guard",
)


def test_resource_name_follows_the_contract():
    assert names.resource_name("demo-stack", EXECUTION_ID) == f"demo-stack-{EXECUTION_ID}"
    long_stack = "My_Stack.with-a-very-long-name-indeed-yes"
    name = names.resource_name(long_stack, EXECUTION_ID)
    assert name == f"My-Stack-with-a-very-long--{EXECUTION_ID}"
    assert len(name) == 63


@given(
    stack=st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,127}", fullmatch=True),
    execution_id=st.uuids().map(str),
    attempt=st.integers(min_value=1, max_value=99),
)
def test_resource_names_are_always_valid_for_sagemaker(stack, execution_id, attempt):
    name = names.resource_name(stack, execution_id, attempt)
    assert NAME_PATTERN.match(name) and len(name) <= 63
    assert name.startswith(names.resource_prefix(stack))
    assert (attempt == 1) == (name == names.resource_name(stack, execution_id))


@given(stack=st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,127}", fullmatch=True))
def test_model_package_group_names_are_valid_and_differ_for_stacks_sharing_a_long_prefix(stack):
    group = names.model_package_group(stack)
    assert NAME_PATTERN.match(group) and len(group) <= 36
    sibling = names.model_package_group(stack + "-prod")
    assert sibling != group and NAME_PATTERN.match(sibling)


@pytest.mark.parametrize("bad", ["", "../x", "a" * 37, "-abc", "id with spaces"])
def test_resource_name_rejects_what_is_not_an_execution_id(bad):
    with pytest.raises(ValueError, match="execution id"):
        names.resource_name("demo-stack", bad)


@pytest.mark.parametrize(
    ("instance_type", "local"),
    [
        ("ml.g5.xlarge", True),
        ("ml.g4dn.12xlarge", True),
        ("ml.p4d.24xlarge", True),
        ("ml.m5d.large", True),
        ("ml.c6id.xlarge", True),
        ("ml.m5.large", False),
        ("ml.p3.2xlarge", False),
        ("ml.c5.xlarge", False),
        ("not-an-instance-type", False),
    ],
)
def test_instance_types_with_local_nvme_storage(instance_type, local):
    assert names.has_local_nvme_storage(instance_type) is local


def test_the_nvme_training_types_the_template_offers_are_known():
    """Of the template's training instance types, exactly the ml.g5 ones have local NVMe storage."""
    allowed = load_template()["Parameters"]["TrainingInstanceType"]["AllowedValues"]
    local = {value for value in allowed if names.has_local_nvme_storage(value)}
    assert local == {value for value in allowed if value.startswith("ml.g5.")}
    assert local


def test_clients_are_cached_use_standard_retries_and_reset(fresh_clients):
    sagemaker = clients.client("sagemaker")
    assert clients.client("sagemaker") is sagemaker
    assert sagemaker.meta.config.retries["mode"] == "standard"
    clients.reset_clients()
    assert clients.client("sagemaker") is not sagemaker


def test_lazy_client_builds_its_client_on_first_use_only(fresh_clients):
    lazy = clients.LazyClient("sagemaker-runtime")
    assert "sagemaker-runtime" not in clients._clients
    assert lazy.meta.service_model.service_name == "sagemaker-runtime"
    assert lazy.invoke_endpoint.__self__ is clients.client("sagemaker-runtime")


def test_clients_honour_per_service_endpoint_variables(fresh_clients, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", "http://127.0.0.1:4599")
    clients.reset_clients()
    assert clients.client("sagemaker").meta.endpoint_url == "http://127.0.0.1:4599"


def test_importing_the_handlers_reads_no_environment_and_builds_no_client(monkeypatch):
    for name in list(os.environ):
        monkeypatch.delenv(name)
    ours = [name for name in sys.modules if name in HANDLERS or name.split(".")[0] == "common"]
    originals = {module: sys.modules.pop(module) for module in ours}
    try:
        for module in HANDLERS:
            imported = importlib.import_module(module)
            assert callable(getattr(imported, "handler", None))
        assert sys.modules["common.clients"]._clients == {}
    finally:
        sys.modules.update(originals)  # the other tests hold the original module objects


def test_redact_hides_secret_looking_keys_at_any_depth():
    value = {"artifactCredentials": {"secretAccessKey": "s"}, "nested": [{"sessionToken": "t", "keep": 1}]}
    assert logs.redact(value) == {
        "artifactCredentials": "***",
        "nested": [{"sessionToken": "***", "keep": 1}],
    }


def test_job_result_is_reported_exactly_once(fresh_clients):
    results = PipelineResults()
    job = codepipeline.CodePipelineJob("11111111-abcd-1111-abcd-111111abcdef", logs.Log("test"))
    job.succeed("first")
    job.fail("second")
    job.succeed("third", continuation_token="x")
    assert results.only()[0] == "success"


def test_a_long_failure_message_keeps_its_headline_and_its_end_within_codepipelines_limit(fresh_clients):
    results = PipelineResults()
    job = codepipeline.CodePipelineJob("11111111-abcd-1111-abcd-111111abcdef", logs.Log("test"))
    noise = "\n".join(f"line {index} " + "x" * 60 for index in range(200))
    job.fail(
        f"Training job j failed: AlgorithmError: ValueError: bad rows\n{noise}\nValueError: row 7 is empty"
    )
    outcome, params = results.only()
    message = params["failureDetails"]["message"]
    assert outcome == "failure" and len(message) <= codepipeline.FAILURE_MESSAGE_LIMIT
    assert message.startswith("Training job j failed: AlgorithmError: ValueError: bad rows\n… ")
    assert message.endswith("\nValueError: row 7 is empty")


class Nothing:
    """Stands for the request, settings and services of a core that needs none."""

    @classmethod
    def parse(cls, _event):
        return cls()

    @classmethod
    def from_environment(cls):
        return cls()

    @classmethod
    def create(cls, _settings):
        return cls()


def run_core(event, core):
    codepipeline.run_job(event, "test", Nothing, Nothing, Nothing, lambda _r, _s, _v, job: core(job))


def test_a_core_that_reports_nothing_still_gets_a_failure(fresh_clients):
    results = PipelineResults()
    event = {"CodePipeline.job": {"id": "11111111-abcd-1111-abcd-111111abcdef", "data": {}}}
    run_core(event, lambda _job: None)
    outcome, params = results.only()
    assert outcome == "failure" and "without a result" in params["failureDetails"]["message"]


def test_an_unexpected_exception_becomes_one_failure_result(fresh_clients):
    results = PipelineResults()
    event = {"CodePipeline.job": {"id": "11111111-abcd-1111-abcd-111111abcdef", "data": {}}}

    def explode(job):
        raise KeyError("surprise")

    run_core(event, explode)
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
    with pytest.raises(errors.ConfigurationError, match=re.escape(message)):
        codepipeline.user_parameters(data, {"execution_id": True})


def test_continuation_tokens_are_small_json_objects():
    token = codepipeline.encode_token({"job": "x" * 100, "attempt": 1})
    assert codepipeline.continuation_token({"continuationToken": token}) == {"attempt": 1, "job": "x" * 100}
    assert codepipeline.continuation_token({}) is None
    with pytest.raises(ValueError, match="2048"):
        codepipeline.encode_token({"job": "x" * 2100})
    for garbled in ("[1]", "{", 7, "x" * 2049):
        with pytest.raises(errors.ConfigurationError):
            codepipeline.continuation_token({"continuationToken": garbled})


def test_an_undelivered_result_is_raised_so_lambda_retries(fresh_clients):
    Intercept(
        clients.client("codepipeline"),
        "PutJobSuccessResult",
        client_error("JobNotFoundException", status=400),
    )
    failures = Intercept(clients.client("codepipeline"), "PutJobFailureResult", lambda _params: {})
    event = {"CodePipeline.job": {"id": "11111111-abcd-1111-abcd-111111abcdef", "data": {}}}
    with pytest.raises(codepipeline.ResultNotDelivered, match="JobNotFoundException"):
        run_core(event, lambda job: job.succeed("done"))
    assert failures.calls == []


def test_interceptors_keep_botocore_parameter_validation(fresh_clients):
    from botocore.exceptions import ParamValidationError

    answered = Intercept(clients.client("codepipeline"), "PutJobSuccessResult", lambda _params: {})
    with pytest.raises(ParamValidationError):
        clients.client("codepipeline").put_job_success_result(jobId="x", executionDetails={"summary": 5})
    clients.client("codepipeline").put_job_success_result(jobId="x", executionDetails={"summary": "ok"})
    assert len(answered.calls) == 2
