"""The parameter checker behind the launch script, and the committed settings example."""

from __future__ import annotations

import json
import re

import pytest

from scripts import launch_params
from scripts.launch_params import Supplied, check, load_parameter_specs

from .conftest import ROOT, TEMPLATE

SPECS = load_parameter_specs(TEMPLATE)


def errors_for(name: str, value: str) -> list[str]:
    return check([Supplied(name, value, f"--{name}")], SPECS, new_stack=False)


def variable_table(help_text: str) -> dict[str, str]:
    """Variable -> template parameter, read from the script's --help table."""
    rows = re.findall(r"^  --[a-z0-9-]+ VALUE\s+(SMP_[A-Z0-9_]+)\s+([A-Za-z0-9]+)$", help_text, re.MULTILINE)
    return dict(rows)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LogRetentionDays", "30"),  # AllowedValues read by YAML as integers
        ("UseSpotTraining", "true"),
        ("TrainingInstanceType", "ml.g5.xlarge"),
        ("Hyperparameters", '{"max_depth": 5, "eta": "0.1"}'),
        ("CodeConnectionArn", ""),
        ("NotificationEmail", "first.last+ml@example.co.uk"),
    ],
)
def test_valid_values_pass(name, value):
    assert errors_for(name, value) == []


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("LogRetentionDays", "31", "is not one of the allowed values: 7, 14, 30"),
        ("TrainingVolumeSizeGB", "0", "is below the minimum"),
        ("BuildTimeoutMinutes", "ten", "is not a number"),
        ("MetricDefinitions", '{"Name": "x"}', "must be a JSON array"),
        ("GitHubRepo", "has space", "does not match the pattern"),
        ("EndpointInstanceType", "ml.m5", "is not a SageMaker instance type"),
    ],
)
def test_invalid_values_name_the_origin_the_parameter_and_the_expectation(name, value, problem):
    (message,) = errors_for(name, value)

    assert message.startswith(f"--{name}: {name} {value!r} {problem}")
    hint = SPECS[name].get("ConstraintDescription")
    assert hint is None or message.endswith(f"Expected: {hint}")


def test_unknown_parameters_and_missing_required_ones_are_reported():
    errors = check([Supplied("Nope", "x", "SMP_NOPE (environment)")], SPECS, new_stack=True)

    assert "SMP_NOPE (environment): the template has no parameter Nope" in errors
    required = {name for name, spec in SPECS.items() if "Default" not in spec}
    assert required >= {"GitHubOwner", "GitHubRepo", "NotificationEmail", "LambdaCodeBucket"}
    for name in required:
        assert f"{name} is required for a new stack and has no default" in errors


def test_secret_looking_and_no_echo_values_are_masked():
    token = "github_pat_11ABCDEFG0123456789_abcdefghijklmnop"
    messages = errors_for("GitHubOwner", token)  # too long (MaxLength 39) and off the pattern
    assert messages and all(token not in message for message in messages)
    assert any("GitHubOwner **** does not match" in message for message in messages)
    assert launch_params.shown("secret", {"NoEcho": True}) == "****"
    assert launch_params.shown("main", {}) == "'main'"


def test_main_writes_the_overrides_file_from_the_environment(tmp_path, monkeypatch, capsys):
    hyperparameters = '{"a": "x=y", "b": [1, 2]}'
    monkeypatch.setenv("SMP_PARAM_Hyperparameters", hyperparameters)
    monkeypatch.setenv("SMP_ORIGIN_Hyperparameters", "--hyperparameters")
    monkeypatch.setenv("SMP_PARAM_GitHubBranch", "release/1.x")
    out = tmp_path / "overrides.json"

    assert launch_params.main(["--template", str(TEMPLATE), "--out", str(out)]) == 0

    assert json.loads(out.read_text()) == ["GitHubBranch=release/1.x", f"Hyperparameters={hyperparameters}"]
    printed = capsys.readouterr().out
    assert "GitHubBranch = 'release/1.x'  (SMP_PARAM_GitHubBranch)" in printed
    assert "(--hyperparameters)" in printed


def test_main_fails_with_status_2_and_writes_nothing_on_a_bad_value(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SMP_PARAM_DeployEndpoint", "maybe")
    out = tmp_path / "overrides.json"

    assert launch_params.main(["--template", str(TEMPLATE), "--out", str(out)]) == 2

    assert not out.exists()
    assert "DeployEndpoint 'maybe' must be true or false" in capsys.readouterr().err


def test_every_variable_in_the_settings_example_is_known_and_its_value_valid(launch):
    table = variable_table(launch("--help").stdout)
    assert set(table.values()) == set(SPECS) - {"LambdaCodeBucket", "LambdaCodeKey", "ContainerCodePrefix"}
    settings = {"SMP_STACK_NAME", "SMP_REGION", "SMP_CODE_BUCKET", "SMP_TEMPLATE"}

    supplied = []
    for line in (ROOT / "pipeline.env.example").read_text().splitlines():
        match = re.match(r"^#? ?(SMP_[A-Z0-9_]+)=(.*)$", line)
        if not match:
            continue
        variable, value = match.group(1), match.group(2)
        assert variable in table or variable in settings, f"unknown variable {variable} in the example"
        if variable in table:
            supplied.append(Supplied(table[variable], value, variable))

    assert len(supplied) == len(table), "the example should show every parameter variable"
    assert check(supplied, SPECS, new_stack=False) == []


def test_set_later_parameters_count_as_given_for_a_new_stack():
    supplied = [
        Supplied("GitHubOwner", "octo", "--github-owner"),
        Supplied("GitHubRepo", "model-repo", "--github-repo"),
        Supplied("NotificationEmail", "ml@example.com", "--notification-email"),
    ]
    assert check(supplied, SPECS, new_stack=True) == [
        "LambdaCodeBucket is required for a new stack and has no default"
    ]
    assert check(supplied, SPECS, new_stack=True, set_later=frozenset({"LambdaCodeBucket"})) == []


RULES = launch_params.load_template(TEMPLATE)["Rules"]


def test_template_rules_are_checked_on_the_values_the_stack_would_have():
    approval = [Supplied("RequireManualApproval", "true", "--require-manual-approval")]
    no_deploy = [Supplied("DeployEndpoint", "false", "--deploy-endpoint")]

    new_stack = launch_params.stack_values(approval + no_deploy, SPECS, True, {})
    [message] = launch_params.rule_problems(RULES, new_stack)
    assert message.startswith("RequireManualApproval=true needs DeployEndpoint=true")
    assert launch_params.rule_problems(RULES, launch_params.stack_values(approval, SPECS, True, {})) == []

    # An update keeps the current values of what is not supplied.
    current = {
        "DeployEndpoint": "false",
        "RequireManualApproval": "false",
        "QualityGate": "",
        "SmokeTestPayloadKey": "",
    }
    update = launch_params.stack_values(approval, SPECS, False, current)
    assert len(launch_params.rule_problems(RULES, update)) == 1
    # Without the current values a rule is left to CloudFormation.
    assert launch_params.rule_problems(RULES, launch_params.stack_values(approval, SPECS, False, {})) == []


@pytest.mark.parametrize("strategy", ["Canary", "Linear"])
def test_canary_or_linear_with_one_endpoint_instance_is_refused(strategy):
    """Issue 12 C4: SageMaker refuses canary and linear traffic shifting on one instance."""
    one = [Supplied("DeploymentStrategy", strategy, "--deployment-strategy")]
    [message] = launch_params.rule_problems(RULES, launch_params.stack_values(one, SPECS, True, {}))
    assert "DeploymentStrategy=Canary or Linear needs EndpointInstanceCount of at least 2" in message

    two = [*one, Supplied("EndpointInstanceCount", "2", "--endpoint-instance-count")]
    assert launch_params.rule_problems(RULES, launch_params.stack_values(two, SPECS, True, {})) == []
    no_deploy = [*one, Supplied("DeployEndpoint", "false", "--deploy-endpoint")]
    assert launch_params.rule_problems(RULES, launch_params.stack_values(no_deploy, SPECS, True, {})) == []


def test_a_stack_name_too_long_for_the_pipeline_name_is_refused(tmp_path, monkeypatch, capsys):
    """Issue 12 C9: the pipeline is named after the stack; CodePipeline allows 100 characters."""
    monkeypatch.setenv("SMP_PARAM_EndpointName", "my-endpoint")
    out = tmp_path / "overrides.json"
    too_long = "s" * 101

    assert launch_params.main(["--template", str(TEMPLATE), "--stack-name", too_long, "--out", str(out)]) == 2

    [line] = capsys.readouterr().err.splitlines()
    assert "stack name" in line and "101 characters" in line and "100" in line and "pipeline" in line
    assert not out.exists()
    assert launch_params.main(["--template", str(TEMPLATE), "--stack-name", "s" * 100]) == 0


def test_a_stack_name_too_long_for_the_default_endpoint_name_is_refused(monkeypatch, capsys):
    """Issue 12 C9: the default endpoint name <stack>-endpoint must fit SageMaker's 63 characters."""
    later = ["LambdaCodeBucket", "GitHubOwner", "GitHubRepo", "NotificationEmail"]
    arguments = ["--template", str(TEMPLATE), "--new-stack", "--stack-name", "s" * 55]
    assert launch_params.main(arguments + [item for name in later for item in ("--set-later", name)]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert "stack name" in line and "55 characters" in line and "EndpointName" in line and "63" in line

    assert launch_params.name_problems("s" * 54, {"DeployEndpoint": "true", "EndpointName": ""}) == []
    # An explicit endpoint name, or no deployment, needs no default.
    assert launch_params.name_problems("s" * 100, {"DeployEndpoint": "true", "EndpointName": "mine"}) == []
    assert launch_params.name_problems("s" * 100, {"DeployEndpoint": "false", "EndpointName": ""}) == []
    # An update whose current EndpointName is unknown is left to CloudFormation and the handler.
    assert launch_params.name_problems("s" * 60, {}) == []


def test_local_mode_reads_the_launch_scripts_own_flag_table(launch):
    """One list of flags for `deploy` and local mode: the script's PARAMETER_TABLE, as its --help shows it."""
    table = variable_table(launch("--help").stdout)
    flags = launch_params.parameter_flags()

    assert {launch_params.variable_for_flag(flag): name for flag, name in flags.items()} == table


def test_the_settings_file_is_read_as_the_launch_script_reads_it(tmp_path):
    settings_file = tmp_path / "pipeline.env"
    settings_file.write_bytes(
        b"# comment\n\n  export SMP_GITHUB_OWNER=octo\r\nSMP_QUALITY_GATE='validation:accuracy >= 0.9'\n"
        b'SMP_HYPERPARAMETERS="{\\"a\\": 1}"\nSMP_REGION=eu-west-1'
    )
    known = {"SMP_GITHUB_OWNER", "SMP_QUALITY_GATE", "SMP_HYPERPARAMETERS", "SMP_REGION"}

    values = launch_params.read_env_file(settings_file, known)

    assert values == {
        "SMP_GITHUB_OWNER": ("octo", 3),
        "SMP_QUALITY_GATE": ("validation:accuracy >= 0.9", 4),
        "SMP_HYPERPARAMETERS": ('{\\"a\\": 1}', 5),
        "SMP_REGION": ("eu-west-1", 6),
    }
    with pytest.raises(launch_params.SettingsFileError, match="line 6: unknown variable SMP_REGION"):
        launch_params.read_env_file(settings_file, known - {"SMP_REGION"})
    settings_file.write_text("not a setting\n")
    with pytest.raises(launch_params.SettingsFileError, match="line 1: expected VARIABLE=value"):
        launch_params.read_env_file(settings_file, known)
