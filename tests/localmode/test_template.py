"""Intrinsic functions resolved against a stack, and the CloudFormation -> API shape conversion."""

from __future__ import annotations

from pathlib import Path

import pytest

from localmode import ROOT
from localmode.pipeline.definitions import camel_case, pipeline_definition
from localmode.pipeline.template import NO_VALUE, StackContext, load_template


def context(template: dict, parameters: dict | None = None) -> StackContext:
    return StackContext(
        template=template,
        parameters=parameters or {},
        pseudo={"AWS::StackName": "st", "AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012"},
        physical_ids={"Bucket": "st-bucket-1"},
        attribute=lambda logical, name: f"{logical}.{name}",
    )


def test_intrinsics_resolve_like_cloudformation():
    template = {"Conditions": {"On": {"Fn::Equals": [{"Ref": "Flag"}, "true"]}}}
    stack = context(template, {"Flag": "true", "Name": "n"})

    assert stack.resolve({"Fn::Sub": "${AWS::StackName}-${Name}-${Bucket}"}) == "st-n-st-bucket-1"
    assert stack.resolve({"Fn::Sub": "${Role.Arn} ${!Literal}"}) == "Role.Arn ${Literal}"
    assert stack.resolve({"Fn::Sub": ["${X}/${AWS::Region}", {"X": {"Ref": "Name"}}]}) == "n/eu-west-1"
    assert stack.resolve({"Fn::If": ["On", "yes", "no"]}) == "yes"
    assert stack.resolve([{"Fn::If": ["On", {"Ref": "AWS::NoValue"}, 1]}, 2]) == [2]
    assert (
        stack.resolve({"Fn::Join": ["-", ["a", {"Fn::Select": [1, {"Fn::Split": [",", "x,y"]}]}]]}) == "a-y"
    )
    assert stack.resolve({"Fn::GetAtt": ["Fn", "Arn"]}) == "Fn.Arn"
    assert stack.resolve({"Ref": "AWS::NoValue"}) is NO_VALUE
    with pytest.raises(KeyError, match="Ref Missing"):
        stack.resolve({"Ref": "Missing"})


def test_yaml_short_tags_load_as_intrinsics(tmp_path: Path):
    path = tmp_path / "t.yaml"
    path.write_text(
        "A: !GetAtt Role.Arn\nB: !Sub '${AWS::Region}'\nC: !If [Enabled, !Ref X, !Ref AWS::NoValue]\n"
    )
    assert load_template(path) == {
        "A": {"Fn::GetAtt": ["Role", "Arn"]},
        "B": {"Fn::Sub": "${AWS::Region}"},
        "C": {"Fn::If": ["Enabled", {"Ref": "X"}, {"Ref": "AWS::NoValue"}]},
    }


def test_pipeline_definition_from_the_real_template_keeps_its_stage_order():
    template = load_template(ROOT / "template" / "sagemaker-pipeline.yaml")
    parameters = {"DeployEndpoint": "true", "RequireManualApproval": "false", "CodeConnectionArn": "arn:c"}
    parameters |= {"QualityGate": "", "EndpointInstanceType": "ml.m5.large", "EndpointInstanceCount": "1"}
    parameters |= {"EndpointName": ""}
    stack = context(template, parameters)
    stack.physical_ids.update({"ImageBuildProject": "st-image-build", "TrainTriggerFunction": "st-train"})
    stack.physical_ids.update({"DeployEndpointFunction": "st-deploy", "NotificationTopic": "arn:topic"})
    stack.physical_ids.update({"ArtifactStoreBucket": "st-artifacts"})
    stack.parameters.update({"GitHubOwner": "o", "GitHubRepo": "r", "GitHubBranch": "main"})

    pipeline = pipeline_definition(stack, template["Resources"]["Pipeline"])

    assert [stage["name"] for stage in pipeline["stages"]] == ["Source", "Build", "Train", "Deploy"]
    train = pipeline["stages"][2]["actions"][0]
    assert train["actionTypeId"] == {
        "category": "Invoke",
        "owner": "AWS",
        "provider": "Lambda",
        "version": "1",
    }
    assert train["configuration"]["FunctionName"] == "st-train"
    assert "#{BuildVariables.IMAGE_URI}" in train["configuration"]["UserParameters"]
    assert '"endpoint_instance_type": "ml.m5.large"' in train["configuration"]["UserParameters"]
    stack_name = stack.pseudo["AWS::StackName"]
    assert f'"endpoint_name": "{stack_name}-endpoint"' in train["configuration"]["UserParameters"]
    assert pipeline["pipelineType"] == "V2"


def test_camel_case_keeps_action_configuration_keys():
    assert camel_case({"Name": "a", "Configuration": {"FunctionName": "f"}, "Stages": [{"RunOrder": 1}]}) == {
        "name": "a",
        "configuration": {"FunctionName": "f"},
        "stages": [{"runOrder": 1}],
    }
