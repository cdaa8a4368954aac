"""Issue 16 item 9 in the template: every role gets the boundary and the path, every function, the
image build, the training jobs and the models the subnets; the VPC endpoints only when asked."""

from __future__ import annotations

import pytest

from scripts.cfn_template import load_template

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]


def of_type(kind: str) -> dict[str, dict]:
    return {name: spec["Properties"] for name, spec in RESOURCES.items() if spec["Type"] == kind}


@pytest.mark.parametrize("role", sorted(of_type("AWS::IAM::Role")))
def test_every_role_has_the_path_and_the_permissions_boundary(role):
    properties = of_type("AWS::IAM::Role")[role]
    assert properties["Path"] == {"Ref": "RolePath"}
    assert properties["PermissionsBoundary"] == {
        "Fn::If": ["BoundaryGiven", {"Ref": "PermissionsBoundaryArn"}, {"Ref": "AWS::NoValue"}]
    }


@pytest.mark.parametrize("function", sorted(of_type("AWS::Lambda::Function")))
def test_every_function_is_placed_in_the_subnets_when_given(function):
    condition, placed, outside = of_type("AWS::Lambda::Function")[function]["VpcConfig"]["Fn::If"]
    assert condition == "InVpc" and outside == {"Ref": "AWS::NoValue"}
    assert set(placed) == {"SubnetIds", "SecurityGroupIds"}


def test_every_function_role_gets_the_network_interface_policy():
    roles = {spec["Role"]["Fn::GetAtt"][0] for spec in of_type("AWS::Lambda::Function").values()}
    listed = RESOURCES["FunctionNetworkPolicy"]["Properties"]["Roles"]
    named = {entry["Ref"] if "Ref" in entry else entry["Fn::If"][1]["Ref"] for entry in listed}
    assert roles == named
    assert RESOURCES["FunctionNetworkPolicy"]["Condition"] == "InVpc"


def test_the_image_build_is_placed_in_the_vpc_when_given():
    condition, placed, _ = RESOURCES["ImageBuildProject"]["Properties"]["VpcConfig"]["Fn::If"]
    assert condition == "InVpc" and set(placed) == {"VpcId", "Subnets", "SecurityGroupIds"}


def test_vpc_endpoints_exist_only_when_asked_and_cover_the_stacks_services():
    endpoints = {name: spec for name, spec in RESOURCES.items() if spec["Type"] == "AWS::EC2::VPCEndpoint"}
    assert all(spec["Condition"] == "CreateEndpointsInVpc" for spec in endpoints.values())
    services = {
        spec["Properties"]["ServiceName"]["Fn::Sub"].rsplit(".", 1)[-1] for spec in endpoints.values()
    }
    assert {
        "api",
        "runtime",
        "dkr",
        "logs",
        "monitoring",
        "sns",
        "kms",
        "sts",
        "codepipeline",
        "s3",
        "dynamodb",
    } <= services
    assert "application-autoscaling" in {
        spec["Properties"]["ServiceName"]["Fn::Sub"].split("}.", 1)[-1] for spec in endpoints.values()
    }


def test_rules_refuse_what_serverless_cannot_take():
    assertions = TEMPLATE["Rules"]["ServerlessRefusesInstanceOptions"]["Assertions"]
    refused = {assertion["Assert"]["Fn::Equals"][0]["Ref"] for assertion in assertions}
    assert refused == {"DeploymentStrategy", "AutoScalingMaxInstances", "SubnetIds"}
