"""Structural rules the template must keep: documented parameters, exports, stage order, no
hard-coded partition/region/account, explicit deletion policies, contracts with the handlers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from scripts.cfn_template import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
PARAMETERS = TEMPLATE["Parameters"]
INTERFACE = TEMPLATE["Metadata"]["AWS::CloudFormation::Interface"]

STATEFUL_TYPES = {
    "AWS::S3::Bucket",
    "AWS::DynamoDB::Table",
    "AWS::ECR::Repository",
    "AWS::KMS::Key",
    "AWS::Logs::LogGroup",
    "AWS::SQS::Queue",
}
DESIGN_PARAMETERS = {
    "GitHubOwner",
    "GitHubRepo",
    "GitHubBranch",
    "CodeConnectionArn",
    "NotificationEmail",
    "BuildComputeType",
    "BuildImage",
    "BuildTimeoutMinutes",
    "TrainingInstanceType",
    "TrainingInstanceCount",
    "TrainingVolumeSizeGB",
    "MaxTrainingRuntimeSeconds",
    "UseSpotTraining",
    "MaxWaitSeconds",
    "Hyperparameters",
    "MetricDefinitions",
    "TrainingInputPrefix",
    "DeployEndpoint",
    "EndpointName",
    "EndpointInstanceType",
    "EndpointInstanceCount",
    "DeploymentStrategy",
    "QualityGate",
    "RequireManualApproval",
    "SmokeTestPayloadKey",
    "DeleteDataOnStackDelete",
    "DataTriggerQuietSeconds",
    "LambdaCodeBucket",
    "LambdaCodeKey",
}
DESIGN_OUTPUTS = {
    "PipelineUrl",
    "TrainingInputBucket",
    "ModelArtifactBucket",
    "MetaDataStore",
    "NotificationTopic",
    "EcrRepositoryUri",
    "EndpointName",
    "ConnectionArn",
    "ConnectionHandshakeUrl",
}


def resources_of(type_name: str) -> dict[str, dict]:
    return {name: spec for name, spec in RESOURCES.items() if spec["Type"] == type_name}


def test_every_design_parameter_exists():
    assert DESIGN_PARAMETERS <= set(PARAMETERS)


@pytest.mark.parametrize("name", sorted(PARAMETERS))
def test_parameter_is_documented_labelled_and_grouped(name):
    spec = PARAMETERS[name]
    assert len(spec.get("Description", "")) >= 20, f"{name} needs a real Description"
    assert INTERFACE["ParameterLabels"][name]["default"]
    groups = [g for g in INTERFACE["ParameterGroups"] if name in g["Parameters"]]
    assert len(groups) == 1, f"{name} must be in exactly one group"


@pytest.mark.parametrize("name", sorted(PARAMETERS))
def test_parameter_is_constrained_with_a_readable_message(name):
    spec = PARAMETERS[name]
    constrained = {"AllowedPattern", "AllowedValues", "MinValue", "MaxValue"} & set(spec)
    assert constrained, f"{name} accepts anything"
    assert len(spec.get("ConstraintDescription", "")) >= 8, f"{name} needs a ConstraintDescription"
    if spec["Type"] == "Number" and "AllowedValues" not in spec:
        assert {"MinValue", "MaxValue"} <= set(spec)
    if spec.get("AllowedValues") in (["true", "false"], ["false", "true"]):
        assert spec["Default"] in ("true", "false")
    if spec.get("Default") == "" and "AllowedPattern" in spec:
        assert spec["AllowedPattern"].startswith("^$|"), f"optional {name} pattern must admit empty"


@pytest.mark.parametrize(
    "name", sorted(p for p, spec in PARAMETERS.items() if "AllowedPattern" in spec and "Default" in spec)
)
def test_parameter_default_satisfies_its_own_pattern(name):
    spec = PARAMETERS[name]
    assert re.fullmatch(spec["AllowedPattern"], str(spec["Default"]))


def test_default_json_parameters_are_valid_json():
    assert isinstance(json.loads(PARAMETERS["Hyperparameters"]["Default"]), dict)
    metrics = json.loads(PARAMETERS["MetricDefinitions"]["Default"])
    assert all({"Name", "Regex"} <= set(m) for m in metrics)


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        ("NotificationEmail", "not-an-email"),
        ("NotificationEmail", "a b@c.d"),
        ("EndpointName", "-leading-dash"),
        ("EndpointName", "x" * 64),
        ("QualityGate", "accuracy ~ 0.9"),
        ("TrainingInputPrefix", "input"),
        ("TrainingChannelName", ""),
        ("TrainingChannelName", "data/train"),
        ("TrainingChannelName", "x" * 65),
        ("CodeConnectionArn", "arn:aws:s3:::bucket"),
        ("GitHubOwner", "-bad"),
        ("SmokeTestPayloadKey", "payload.txt"),
        ("EndpointMaxBatchSize", "1025"),
        ("EndpointMaxBatchSize", "-1"),
        ("EndpointMaxBatchSize", "032"),
        ("EndpointMaxBatchDelayMs", "1001"),
        ("EndpointMaxBatchDelayMs", "2.5"),
    ],
)
def test_bad_values_are_rejected_by_the_pattern(name, bad):
    assert not re.fullmatch(PARAMETERS[name]["AllowedPattern"], bad)


@pytest.mark.parametrize(
    ("name", "maximum"), [("EndpointMaxBatchSize", 1024), ("EndpointMaxBatchDelayMs", 1000)]
)
def test_batching_parameters_take_every_whole_number_up_to_the_runtimes_bound(name, maximum):
    pattern = PARAMETERS[name]["AllowedPattern"]
    assert [value for value in range(maximum + 1) if not re.fullmatch(pattern, str(value))] == []
    assert re.fullmatch(pattern, "") and not re.fullmatch(pattern, str(maximum + 1))


def test_training_channel_name_takes_a_sagemaker_channel_name_and_defaults_to_the_sdks():
    parameter = PARAMETERS["TrainingChannelName"]
    assert parameter["Default"] == "training"
    for good in ("training", "train", "my.channel-1_b", "x" * 64):
        assert re.fullmatch(parameter["AllowedPattern"], good)
    assert parameter["MaxLength"] == 64


def test_max_training_runtime_stays_below_the_lambda_action_limit():
    assert PARAMETERS["MaxTrainingRuntimeSeconds"]["MaxValue"] <= 23 * 3600
    assert PARAMETERS["MaxWaitSeconds"]["MaxValue"] <= 23 * 3600


def test_outputs_are_described_and_exported_by_stack_name():
    outputs = TEMPLATE["Outputs"]
    assert DESIGN_OUTPUTS <= set(outputs)
    for name, spec in outputs.items():
        assert spec["Description"]
        assert spec["Export"]["Name"] == {"Fn::Sub": f"${{AWS::StackName}}-{name}"}


def _stage_name(stage: dict) -> str:
    if "Fn::If" in stage:
        return stage["Fn::If"][1]["Name"]
    return stage["Name"]


def test_pipeline_is_v2_queued_with_stages_in_order():
    pipeline = RESOURCES["Pipeline"]["Properties"]
    assert pipeline["PipelineType"] == "V2"
    assert pipeline["ExecutionMode"] == "QUEUED"
    assert [_stage_name(s) for s in pipeline["Stages"]] == ["Source", "Build", "Train", "Approve", "Deploy"]
    approve, deploy = pipeline["Stages"][3], pipeline["Stages"][4]
    assert approve["Fn::If"][0] == "ApprovalEnabled" and approve["Fn::If"][2] == {"Ref": "AWS::NoValue"}
    assert deploy["Fn::If"][0] == "DeployEnabled" and deploy["Fn::If"][2] == {"Ref": "AWS::NoValue"}
    assert {v["Name"] for v in pipeline["Variables"]} == {"TRIGGER", "TRIGGER_DETAIL"}


def test_source_uses_codeconnections_existing_or_created():
    source = RESOURCES["Pipeline"]["Properties"]["Stages"][0]["Actions"][0]
    assert source["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    assert source["Configuration"]["ConnectionArn"] == {
        "Fn::If": ["CreateConnection", {"Ref": "GitHubConnection"}, {"Ref": "CodeConnectionArn"}]
    }
    assert RESOURCES["GitHubConnection"]["Condition"] == "CreateConnection"


def test_build_runs_the_container_buildspec_and_exports_image_variables():
    project = RESOURCES["ImageBuildProject"]["Properties"]
    assert project["Source"]["BuildSpec"]["Fn::Sub"].endswith("${ContainerCodePrefix}buildspec.yml")
    assert project["Environment"]["PrivilegedMode"] is True
    build_action = RESOURCES["Pipeline"]["Properties"]["Stages"][1]["Actions"][0]
    assert build_action["Namespace"] == "BuildVariables"
    train = RESOURCES["Pipeline"]["Properties"]["Stages"][2]["Actions"][0]["Configuration"]["UserParameters"]
    text, _ = train["Fn::Sub"]
    assert "#{BuildVariables.IMAGE_URI}" in text and "#{BuildVariables.IMAGE_DIGEST}" in text


def test_train_and_deploy_user_parameters_follow_the_contract():
    stages = RESOURCES["Pipeline"]["Properties"]["Stages"]
    # !Sub fills in the registry's settings (stack parameters); CodePipeline resolves the #{...}
    text, variables = stages[2]["Actions"][0]["Configuration"]["UserParameters"]["Fn::Sub"]
    train = json.loads(text)
    assert train == {
        "execution_id": "#{codepipeline.PipelineExecutionId}",
        "image_uri": "#{BuildVariables.IMAGE_URI}",
        "image_digest": "#{BuildVariables.IMAGE_DIGEST}",
        "git_commit": "#{SourceVariables.CommitId}",
        "trigger": "#{variables.TRIGGER}",
        "trigger_detail": "#{variables.TRIGGER_DETAIL}",
        "quality_gate": "${QualityGate}",
        "require_manual_approval": "${RequireManualApproval}",
        "endpoint_instance_type": "${EndpointInstanceType}",
        "endpoint_instance_count": "${EndpointInstanceCount}",
        "endpoint_name": "${TargetEndpoint}",
    }
    # The stable endpoint the Deploy stage updates, or "" when the stack has none.
    assert variables["TargetEndpoint"]["Fn::If"][0] == "DeployEnabled"
    assert variables["TargetEndpoint"]["Fn::If"][2] == ""
    deploy = json.loads(stages[4]["Fn::If"][1]["Actions"][0]["Configuration"]["UserParameters"])
    assert deploy == {"execution_id": "#{codepipeline.PipelineExecutionId}"}


def test_template_text_has_no_hard_coded_partition_region_or_account():
    # What CloudFormation acts on; descriptions may show example ARNs.
    text = json.dumps([TEMPLATE["Resources"], TEMPLATE["Outputs"], TEMPLATE["Conditions"]])
    assert not re.search(r"arn:aws(-cn|-us-gov)?:", text)
    region = r"\b(us|eu|ap|sa|ca|me|af|il|mx)-(east|west|north|south|central|northeast|southeast)-\d\b"
    assert not re.search(region, text)
    assert not re.search(r"(?<![0-9{])\d{12}(?![0-9}])", text)
    hosts = re.findall(r"[a-z0-9.-]+\.amazonaws\.com", text)
    dotted_principals = {"sagemaker.application-autoscaling.amazonaws.com"}  # its service-linked role
    assert all(h.count(".") == 2 or h in dotted_principals for h in hosts), (
        f"service principals only, not endpoints: {hosts}"
    )


@pytest.mark.parametrize("name", sorted(n for n, s in RESOURCES.items() if s["Type"] in STATEFUL_TYPES))
def test_stateful_resource_has_explicit_deletion_policies(name):
    spec = RESOURCES[name]
    assert spec.get("DeletionPolicy") in {"Delete", "Retain", "RetainExceptOnCreate", "Snapshot"}
    assert spec.get("UpdateReplacePolicy") in {"Delete", "Retain", "Snapshot"}
    if spec["Type"] in {"AWS::S3::Bucket", "AWS::DynamoDB::Table", "AWS::ECR::Repository", "AWS::KMS::Key"}:
        # Data survives a stack delete unless purged, but a failed first create leaves no orphans
        # that would block the next create (plain Retain keeps them).
        assert spec["DeletionPolicy"] == "RetainExceptOnCreate"


def test_retained_data_is_purged_by_the_teardown_when_asked():
    teardown = RESOURCES["Teardown"]
    assert teardown["Type"] == "Custom::Teardown"
    props = teardown["Properties"]
    assert props["DeleteData"] == {"Ref": "DeleteDataOnStackDelete"}
    assert {b["Ref"] for b in props["Buckets"]} == set(resources_of("AWS::S3::Bucket"))
    assert props["EcrRepository"] == {"Ref": "ImageRepository"}
    repo = RESOURCES["ImageRepository"]["Properties"]
    assert repo["EmptyOnDelete"] == {"Fn::If": ["DeleteData", True, False]}


def test_lambda_handlers_name_existing_modules_and_python313():
    for name, spec in resources_of("AWS::Lambda::Function").items():
        props = spec["Properties"]
        assert props["Runtime"] == "python3.13", name
        module, func = props["Handler"].split(".")
        assert func == "handler"
        assert (ROOT / "lambdas" / f"{module}.py").exists(), f"{name}: lambdas/{module}.py missing"
        assert props["Code"] == {"S3Bucket": {"Ref": "LambdaCodeBucket"}, "S3Key": {"Ref": "LambdaCodeKey"}}
        assert props["LoggingConfig"]["LogGroup"]["Ref"] in resources_of("AWS::Logs::LogGroup")


def _contract_env_table() -> dict[str, set[str]]:
    text = (ROOT / "docs" / "contracts.md").read_text(encoding="utf-8")
    table = {}
    for line in text.splitlines():
        match = re.match(r"^\| `(\w+)` \|[^|]*\| ([^|]*) \|$", line)
        if match:
            without_notes = re.sub(r"\([^)]*\)", "", match.group(2))
            names = set(re.findall(r"\b[A-Z][A-Z0-9_]{2,}\b", without_notes))
            table[match.group(1)] = names
    return table


def test_lambda_environment_matches_the_contract():
    contract = _contract_env_table()
    assert set(contract) == {
        "train_trigger",
        "job_events",
        "data_trigger",
        "deploy_endpoint",
        "teardown",
        "drift_check",
        "idle_guard",
    }
    for name, spec in resources_of("AWS::Lambda::Function").items():
        module = spec["Properties"]["Handler"].split(".")[0]
        env = set(spec["Properties"].get("Environment", {}).get("Variables", {}))
        missing = contract[module] - env
        assert not missing, f"{name} lacks {missing}"


def test_every_function_role_and_log_group_is_its_own():
    functions = resources_of("AWS::Lambda::Function")
    roles = [spec["Properties"]["Role"]["Fn::GetAtt"][0] for spec in functions.values()]
    groups = [spec["Properties"]["LoggingConfig"]["LogGroup"]["Ref"] for spec in functions.values()]
    assert len(set(roles)) == len(roles) == len(functions)
    assert len(set(groups)) == len(groups)


def test_data_trigger_wiring():
    rule = RESOURCES["DataUploadRule"]["Properties"]
    assert rule["EventPattern"]["detail"]["object"]["key"] == [{"prefix": {"Ref": "TrainingInputPrefix"}}]
    mapping = RESOURCES["DataTriggerEventSource"]["Properties"]
    assert mapping["MaximumBatchingWindowInSeconds"] == {"Ref": "DataTriggerQuietSeconds"}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    bucket = RESOURCES["TrainingInputBucket"]["Properties"]
    assert bucket["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"] is True


def evaluate(value, parameters):
    """The few intrinsics a parameter-dependent property uses, for given parameter values."""
    if isinstance(value, dict) and len(value) == 1:
        [(name, argument)] = value.items()
        if name == "Ref" and argument in parameters:
            return parameters[argument]
        if name == "Condition":
            return evaluate(TEMPLATE["Conditions"][argument], parameters)
        if name == "Fn::If":
            condition, when_true, when_false = argument
            chosen = when_true if evaluate(TEMPLATE["Conditions"][condition], parameters) else when_false
            return evaluate(chosen, parameters)
        if name == "Fn::Equals":
            left, right = (str(evaluate(item, parameters)) for item in argument)
            return left == right
        if name == "Fn::Not":
            return not evaluate(argument[0], parameters)
        if name == "Fn::And":
            return all(evaluate(item, parameters) for item in argument)
        if name == "Fn::Or":
            return any(evaluate(item, parameters) for item in argument)
        raise AssertionError(f"evaluate() does not know {name}")
    return value


def test_sqs_batches_above_10_always_have_a_batching_window():
    """Lambda: an SQS event source mapping with BatchSize > 10 needs MaximumBatchingWindowInSeconds >= 1."""
    quiet = PARAMETERS["DataTriggerQuietSeconds"]
    mapping = RESOURCES["DataTriggerEventSource"]["Properties"]
    for seconds in range(int(quiet["MinValue"]), int(quiet["MaxValue"]) + 1):
        values = {"DataTriggerQuietSeconds": str(seconds)}
        batch_size = int(evaluate(mapping["BatchSize"], values))
        window = int(evaluate(mapping["MaximumBatchingWindowInSeconds"], values))
        assert 1 <= batch_size <= 10_000
        assert batch_size <= 10 or window >= 1, (seconds, batch_size, window)


def test_metadata_store_has_the_job_name_index_pitr_and_sse():
    table = RESOURCES["MetaDataStore"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": "run_id", "KeyType": "HASH"}]
    assert table["GlobalSecondaryIndexes"][0]["IndexName"] == "by-training-job"
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["SSESpecification"]["SSEEnabled"] is True


def test_rules_keep_deploy_options_consistent():
    assertions = TEMPLATE["Rules"]["DeployOptionsNeedDeployment"]["Assertions"]
    covered = {a["Assert"]["Fn::Equals"][0]["Ref"] for a in assertions}
    assert covered == {"RequireManualApproval", "QualityGate", "SmokeTestPayloadKey", "DataCapturePercent"}
