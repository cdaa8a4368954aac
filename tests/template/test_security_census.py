"""Security census of the stack: IAM statements, encryption, TLS, retention, secrets."""

from __future__ import annotations

import json
import re

import pytest

from scripts.cfn_template import load_template
from scripts.iam_census import statements, wildcard_allow_list

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
STATEMENTS = list(statements(TEMPLATE))


def of_type(type_name):
    return {n: s["Properties"] for n, s in RESOURCES.items() if s["Type"] == type_name}


def test_census_sees_every_role_and_resource_policy():
    holders = {s.holder for s in STATEMENTS}
    assert set(of_type("AWS::IAM::Role")) <= holders
    assert len(STATEMENTS) > 60


@pytest.mark.parametrize(
    "statement", [s for s in STATEMENTS if s.effect == "Allow"], ids=lambda s: f"{s.holder}.{s.sid}"
)
def test_no_allow_statement_grants_a_wildcard_action(statement):
    for action in statement.actions:
        assert "*" not in action, f"{statement.holder}/{statement.sid} grants {action}"


def test_wildcard_actions_appear_only_in_deny_statements():
    wildcard = [s for s in STATEMENTS if any("*" in a for a in s.actions)]
    assert wildcard, "the TLS-only denies should be seen"
    for statement in wildcard:
        assert statement.effect == "Deny"
        assert statement.condition == {"Bool": {"aws:SecureTransport": "false"}}


def test_star_resources_only_for_apis_without_resource_level_permissions():
    allowed = wildcard_allow_list(TEMPLATE)
    for statement in STATEMENTS:
        if statement.effect != "Allow" or "*" not in statement.resources:
            continue
        if statement.holder_type == "AWS::KMS::Key":
            continue  # a key policy always names the key itself as "*"
        assert statement.holder_type in ("AWS::IAM::Role", "AWS::IAM::Policy")
        for action in statement.actions:
            reason = allowed.get((statement.holder, action))
            assert reason and len(reason) > 20, f"{statement.holder}: {action} on * is not allow-listed"
    # and nothing is allow-listed that is not used
    used = {(s.holder, a) for s in STATEMENTS if "*" in s.resources for a in s.actions}
    assert set(allowed) <= used


def test_roles_trust_one_service_each():
    for name, props in of_type("AWS::IAM::Role").items():
        principals = [s["Principal"] for s in props["AssumeRolePolicyDocument"]["Statement"]]
        assert len(principals) == 1 and list(principals[0]) == ["Service"], name
        assert isinstance(principals[0]["Service"], str), name


def test_pass_role_is_limited_to_the_execution_role_and_sagemaker():
    passes = [s for s in STATEMENTS if "iam:PassRole" in s.actions]
    assert passes
    for statement in passes:
        assert statement.resources == ({"Fn::GetAtt": ["SageMakerExecutionRole", "Arn"]},)
        assert statement.condition == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}


def test_sagemaker_mutations_are_scoped_to_this_stack_by_tag():
    for statement in STATEMENTS:
        mutating = [a for a in statement.actions if re.match(r"sagemaker:(Create|Delete|Stop|Update|Add)", a)]
        if not mutating or statement.effect != "Allow":
            continue
        condition = json.dumps(statement.condition)
        assert "sagemaker-pipeline:stack" in condition and "AWS::StackName" in condition, statement


@pytest.mark.parametrize("name", sorted(of_type("AWS::S3::Bucket")))
def test_bucket_is_encrypted_versioned_private_and_tls_only(name):
    props = of_type("AWS::S3::Bucket")[name]
    rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(
        props["PublicAccessBlockConfiguration"][k] is True
        for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
    )
    policies = [p for p in of_type("AWS::S3::BucketPolicy").values() if p["Bucket"] == {"Ref": name}]
    assert len(policies) == 1
    denies = [s for s in policies[0]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)


def test_topics_and_queues_are_encrypted_with_the_stack_key():
    key = {"Fn::GetAtt": ["EncryptionKey", "Arn"]}
    for props in of_type("AWS::SNS::Topic").values():
        assert props["KmsMasterKeyId"] == key
    queues = of_type("AWS::SQS::Queue")
    assert queues
    for props in queues.values():
        assert props["KmsMasterKeyId"] == key


def test_table_key_and_images_are_encrypted():
    assert RESOURCES["EncryptionKey"]["Properties"]["EnableKeyRotation"] is True
    assert RESOURCES["MetaDataStore"]["Properties"]["SSESpecification"]["SSEType"] == "KMS"
    assert RESOURCES["ImageRepository"]["Properties"]["EncryptionConfiguration"]["EncryptionType"] == "KMS"
    assert RESOURCES["ImageRepository"]["Properties"]["ImageScanningConfiguration"] == {"ScanOnPush": True}
    assert RESOURCES["ImageRepository"]["Properties"]["ImageTagMutability"] == "IMMUTABLE"


def test_every_log_group_has_retention_and_every_function_logs_to_one():
    groups = of_type("AWS::Logs::LogGroup")
    for props in groups.values():
        assert props["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        assert props["KmsKeyId"] == {"Fn::GetAtt": ["EncryptionKey", "Arn"]}
    build = RESOURCES["ImageBuildProject"]["Properties"]["LogsConfig"]["CloudWatchLogs"]
    assert build["GroupName"]["Ref"] in groups


SECRET_PATTERNS = [r"AKIA[0-9A-Z]{16}", r"ghp_[A-Za-z0-9]{20,}", r"(?i)-----BEGIN [A-Z ]*PRIVATE KEY"]


def test_no_secret_in_defaults_outputs_or_parameter_names():
    text = json.dumps([TEMPLATE["Parameters"], TEMPLATE["Outputs"], TEMPLATE["Resources"]])
    for pattern in SECRET_PATTERNS:
        assert not re.search(pattern, text)
    for name in TEMPLATE["Parameters"]:
        assert not re.search(r"(?i)token|secret|password", name), (
            f"{name}: secrets do not belong in parameters"
        )
    env_values = json.dumps([p.get("Environment") for p in of_type("AWS::Lambda::Function").values()])
    assert not re.search(r"(?i)token|secret|password", env_values)
