"""The template against the API rules of docs/aws-rules.md that cfn-lint does not check: every value a
parameter lets through must be one the API it reaches accepts (botocore's service models carry the
enums, lengths and patterns). The 4 KB function environment, the SQS batching window and the
CodePipeline configuration values have their own tests (test_lambda_environment.py,
test_structure.py, tests/lambdas/test_trigger_variables.py)."""

from __future__ import annotations

import botocore.session
import pytest

from scripts.cfn_template import load_template

PARAMETERS = load_template()["Parameters"]
SAGEMAKER = botocore.session.get_session().get_service_model("sagemaker")


@pytest.mark.parametrize(
    ("parameter", "shape"),
    [
        ("TrainingInstanceType", "TrainingInstanceType"),
        ("EndpointInstanceType", "ProductionVariantInstanceType"),
    ],
)
def test_every_allowed_instance_type_is_one_sagemaker_accepts(parameter, shape):
    accepted = set(SAGEMAKER.shape_for(shape).enum)
    assert set(PARAMETERS[parameter]["AllowedValues"]) <= accepted


def test_the_endpoint_name_parameter_admits_only_names_sagemaker_accepts():
    rule = SAGEMAKER.shape_for("EndpointName").metadata
    parameter = PARAMETERS["EndpointName"]
    assert int(parameter["MaxLength"]) <= rule["max"]
    assert parameter["AllowedPattern"] == f"^$|^{rule['pattern']}$"


def test_the_stack_name_is_bounded_where_the_template_cannot_bound_it():
    """CloudFormation Rules have no length function: the pipeline (named after the stack, at most 100
    characters) and the default endpoint name (<stack>-endpoint, at most 63) are bounded by the launch
    script and the deploy handler; the parameter's description says so."""
    description = " ".join(PARAMETERS["EndpointName"]["Description"].split())
    assert "63 characters" in description and "100 characters" in description


def test_the_warm_pool_and_serverless_parameters_stay_in_sagemakers_ranges():
    keep_alive = SAGEMAKER.shape_for("ResourceConfig").members["KeepAlivePeriodInSeconds"].metadata
    assert keep_alive["min"] <= PARAMETERS["TrainingWarmPoolSeconds"]["MinValue"]
    assert PARAMETERS["TrainingWarmPoolSeconds"]["MaxValue"] == 3600 <= keep_alive["max"]  # the default quota
    serverless = SAGEMAKER.shape_for("ProductionVariantServerlessConfig").members
    memory = serverless["MemorySizeInMB"].metadata
    assert all(
        memory["min"] <= value <= memory["max"] and value % 1024 == 0
        for value in PARAMETERS["ServerlessMemorySizeMB"]["AllowedValues"]
    )
    concurrency = serverless["MaxConcurrency"].metadata
    assert concurrency["min"] <= PARAMETERS["ServerlessMaxConcurrency"]["MinValue"]
    assert PARAMETERS["ServerlessMaxConcurrency"]["MaxValue"] <= concurrency["max"]
