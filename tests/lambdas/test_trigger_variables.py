"""The data trigger's pipeline variables through the template's Train UserParameters to train_trigger.

CodePipeline resolves ``#{namespace.name}`` in an action's configuration by plain text substitution,
so TRIGGER_DETAIL lands inside a JSON string literal of the Train action's UserParameters.
"""

from __future__ import annotations

import json
import re
from typing import Any

import data_trigger
import train_trigger
from lambda_helpers import EXECUTION_ID, IMAGE_URI, INPUT_BUCKET, Intercept, pipeline_job
from test_data_trigger import UPLOAD_TIME, Pipeline, batch, record, run

from scripts.cfn_template import load_template

_VARIABLE = re.compile(r"#\{([A-Za-z0-9@\-_]+)\.([A-Za-z0-9@\-_]+)\}")


# The longest value each stack parameter in the Train UserParameters can take (the template's limits).
LONGEST_PARAMETERS = {
    "QualityGate": "x" * 96,
    "RequireManualApproval": "false",
    "EndpointInstanceType": "ml.m5d.24xlarge",
    "EndpointInstanceCount": "100",
    "TargetEndpoint": "x" * 63,  # SageMaker's longest endpoint name
}


def train_user_parameters(parameters: dict[str, str] | None = None) -> str:
    """The Train action's UserParameters text as CloudFormation gives it to CodePipeline: its
    ${Parameter} references replaced by `parameters`, else by the parameters' defaults."""
    template = load_template()
    pipeline = template["Resources"]["Pipeline"]["Properties"]
    [train] = [stage for stage in pipeline["Stages"] if stage.get("Name") == "Train"]
    [action] = train["Actions"]
    text, variables = action["Configuration"]["UserParameters"]["Fn::Sub"]
    assert isinstance(text, str)
    for name, declared in template["Parameters"].items():
        value = (parameters or {}).get(name, str(declared.get("Default", "")))
        text = text.replace("${" + name + "}", value)
    for name in variables:  # the !Sub's own variables: the default stack's values
        text = text.replace("${" + name + "}", (parameters or {}).get(name, "sagemaker-pipeline-endpoint"))
    assert "${" not in text
    return text


def resolve(text: str, values: dict[str, str]) -> str:
    """Substitute every ``#{namespace.name}`` as CodePipeline does: the value's text, verbatim."""
    return _VARIABLE.sub(lambda found: values[f"{found.group(1)}.{found.group(2)}"], text)


def resolved_user_parameters(variables: list[dict[str, str]]) -> str:
    values = {
        "codepipeline.PipelineExecutionId": EXECUTION_ID,
        "BuildVariables.IMAGE_URI": IMAGE_URI,
        "BuildVariables.IMAGE_DIGEST": "sha256:" + "ab" * 32,
        "SourceVariables.CommitId": "3f2a9c1d6e0b4f7a8c9d0e1f2a3b4c5d6e7f8a9b",
    }
    values.update({f"variables.{variable['name']}": variable["value"] for variable in variables})
    return resolve(train_user_parameters(), values)


def train_job_event(user_parameters: str) -> dict[str, Any]:
    event = pipeline_job()
    configuration = event["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]
    configuration["UserParameters"] = user_parameters
    return event


def test_a_key_with_a_quote_and_a_backslash_reaches_the_run_record(aws, results):
    pipeline = Pipeline()
    key = 'input/say "hi"\\there.csv'
    aws.s3.put_object(Bucket=INPUT_BUCKET, Key=key, Body=b"a,b\n1,2\n")
    assert run(batch(record(key)), now=UPLOAD_TIME + 60) == {"batchItemFailures": []}
    [start] = pipeline.starts.calls
    creates = Intercept(aws.sagemaker, "CreateTrainingJob")

    user_parameters = resolved_user_parameters(start["variables"])
    train_trigger.handler(train_job_event(user_parameters), None)

    outcome, params = results.only()
    assert outcome == "success", params
    assert len(creates.calls) == 1
    assert json.loads(user_parameters)["trigger_detail"] == key
    item = aws.item()
    assert item["trigger"] == "data"
    assert item["trigger_detail"] == key
    assert key in item["data_objects"]


def test_trigger_detail_is_json_string_content():
    keys = ['input/a"b.csv', "input/c\\d.csv", "input/tab\there.csv", "input/ünï.csv"]
    detail = data_trigger.trigger_detail(keys)
    assert json.loads(f'"{detail}"') == ", ".join(sorted(keys))


# The longest value each other variable of the Train UserParameters can take.
LONGEST_VALUES = {
    "codepipeline.PipelineExecutionId": "x" * 36,  # a UUID
    # container/buildspec.yml: <account>.dkr.ecr.<region>.<URL suffix>/sagemaker-pipeline-<8 hex>
    # :<sha>-<12 hex> is at most ~140 characters (a 14-character region, amazonaws.com.cn).
    "BuildVariables.IMAGE_URI": "x" * 160,
    "BuildVariables.IMAGE_DIGEST": "sha256:" + "x" * 64,
    "SourceVariables.CommitId": "x" * 64,  # a SHA-1 (40), or SHA-256 for such repositories
    "variables.TRIGGER": "manual",
}
ACTION_CONFIGURATION_LIMIT = 1000  # CodePipeline: an action configuration value, after substitution


def detail_budget() -> int:
    """What TRIGGER_DETAIL may hold so the resolved UserParameters always fits the limit."""
    return ACTION_CONFIGURATION_LIMIT - len(
        resolve(train_user_parameters(LONGEST_PARAMETERS), {**LONGEST_VALUES, "variables.TRIGGER_DETAIL": ""})
    )


def test_the_detail_cap_fits_the_template_budget():
    assert data_trigger.MAX_DETAIL_CHARS <= detail_budget()


def test_many_long_keys_keep_the_resolved_user_parameters_within_the_limit():
    keys = [f'input/{"q" * 150}"\\{index}.csv' for index in range(300)]
    detail = data_trigger.trigger_detail(keys)
    resolved = resolve(
        train_user_parameters(LONGEST_PARAMETERS), {**LONGEST_VALUES, "variables.TRIGGER_DETAIL": detail}
    )

    assert len(resolved) <= ACTION_CONFIGURATION_LIMIT
    shown = json.loads(resolved)["trigger_detail"]
    assert shown.startswith(sorted(keys)[0])
    assert shown.endswith("more)")


def test_one_key_longer_than_the_budget_is_shown_shortened():
    key = "input/" + "deep/" * 200 + 'last"file.csv'
    detail = data_trigger.trigger_detail([key])
    assert len(detail) <= data_trigger.MAX_DETAIL_CHARS
    shown = json.loads(f'"{detail}"')
    assert shown.startswith("input/deep/deep/")
    assert shown.endswith("...")
