"""Local mode's moto refuses what AWS refuses and moto does not: a TemplateBody over 51,200 bytes
(CreateStack API reference, TemplateBody length constraint), a pipeline name over 100 characters or
off its pattern (CreatePipeline, PipelineDeclaration: name); and a log group's Arn ends in ":*"."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from localmode.aws.strict_moto import PIPELINE_NAME_MAX, TEMPLATE_BODY_MAX_BYTES
from tests.localmode.conftest import make_client


def padded(size: int) -> str:
    """A valid template of ``size`` bytes (padding in Metadata)."""
    empty = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}, "Metadata": {"Padding": ""}}
    return json.dumps({**empty, "Metadata": {"Padding": "y" * (size - len(json.dumps(empty)))}})


def test_a_template_body_of_exactly_the_limit_is_taken(moto_url):
    body = padded(TEMPLATE_BODY_MAX_BYTES)
    assert len(body.encode()) == TEMPLATE_BODY_MAX_BYTES
    make_client("cloudformation", moto_url).validate_template(TemplateBody=body)


def test_a_template_body_over_the_limit_is_refused_as_aws_refuses_it(moto_url):
    body = padded(TEMPLATE_BODY_MAX_BYTES + 1)
    with pytest.raises(ClientError) as refused:
        make_client("cloudformation", moto_url).create_stack(StackName="too-big", TemplateBody=body)
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    assert "less than or equal to 51200" in refused.value.response["Error"]["Message"]


def pipeline(name: str) -> dict:
    return {
        "name": name,
        "roleArn": "arn:aws:iam::123456789012:role/pipeline",
        "artifactStore": {"type": "S3", "location": "artifacts"},
        "stages": [
            {
                "name": "Source",
                "actions": [
                    {
                        "name": "Source",
                        "actionTypeId": {
                            "category": "Source",
                            "owner": "AWS",
                            "provider": "S3",
                            "version": "1",
                        },
                        "configuration": {"S3Bucket": "b", "S3ObjectKey": "k"},
                        "outputArtifacts": [{"name": "out"}],
                    }
                ],
            },
            {
                "name": "Approve",
                "actions": [
                    {
                        "name": "Approve",
                        "actionTypeId": {
                            "category": "Approval",
                            "owner": "AWS",
                            "provider": "Manual",
                            "version": "1",
                        },
                    }
                ],
            },
        ],
    }


def test_a_pipeline_name_of_100_characters_is_taken(moto_url):
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "codepipeline.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam = make_client("iam", moto_url)
    if not any(role["RoleName"] == "pipeline" for role in iam.list_roles()["Roles"]):
        iam.create_role(RoleName="pipeline", AssumeRolePolicyDocument=json.dumps(trust))
    name = "p" * PIPELINE_NAME_MAX
    made = make_client("codepipeline", moto_url).create_pipeline(pipeline=pipeline(name))
    assert made["pipeline"]["name"] == name


@pytest.mark.parametrize("name", ["p" * (PIPELINE_NAME_MAX + 1), "has space"])
def test_a_pipeline_name_over_100_characters_or_off_the_pattern_is_refused(moto_url, name):
    with pytest.raises(ClientError) as refused:
        make_client("codepipeline", moto_url).create_pipeline(pipeline=pipeline(name))
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "at 'pipeline.name' failed to satisfy constraint" in refused.value.response["Error"]["Message"]


def test_a_log_group_arn_from_getatt_ends_in_a_stream_wildcard(moto_url):
    template = {
        "Resources": {"Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "/strict/arn"}}},
        "Outputs": {"Arn": {"Value": {"Fn::GetAtt": ["Logs", "Arn"]}}},
    }
    cloudformation = make_client("cloudformation", moto_url)
    cloudformation.create_stack(StackName="log-group-arn", TemplateBody=json.dumps(template))
    outputs = cloudformation.describe_stacks(StackName="log-group-arn")["Stacks"][0]["Outputs"]
    assert outputs[0]["OutputValue"] == "arn:aws:logs:eu-west-1:123456789012:log-group:/strict/arn:*"


def test_an_update_keeps_a_log_group_moto_cannot_update_for_the_resources_naming_it(moto_url):
    template = {
        "Parameters": {
            "Days": {"Type": "Number", "Default": 7},
            "Path": {"Type": "String", "Default": "/"},
        },
        "Resources": {
            "Logs": {
                "Type": "AWS::Logs::LogGroup",
                "Properties": {"LogGroupName": "/strict/update", "RetentionInDays": {"Ref": "Days"}},
            },
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "Path": {"Ref": "Path"},
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "lambda.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    },
                    "Policies": [
                        {
                            "PolicyName": "logs",
                            "PolicyDocument": {
                                "Version": "2012-10-17",
                                "Statement": [
                                    {
                                        "Effect": "Allow",
                                        "Action": "logs:PutLogEvents",
                                        "Resource": {"Fn::GetAtt": ["Logs", "Arn"]},
                                    }
                                ],
                            },
                        }
                    ],
                },
            },
        },
    }
    cloudformation = make_client("cloudformation", moto_url)
    cloudformation.create_stack(StackName="update-keeps", TemplateBody=json.dumps(template))
    cloudformation.update_stack(
        StackName="update-keeps",
        TemplateBody=json.dumps(template),
        Parameters=[
            {"ParameterKey": "Days", "ParameterValue": "14"},
            {"ParameterKey": "Path", "ParameterValue": "/ml/"},
        ],
    )
    assert (
        cloudformation.describe_stacks(StackName="update-keeps")["Stacks"][0]["StackStatus"]
        == "UPDATE_COMPLETE"
    )


def test_an_upload_event_reaches_its_rule_whatever_rules_come_before_it(moto_url):
    """A schedule rule (the drift check's) created first made moto drop S3 events for every later
    rule; now each rule takes or skips the event on its own."""
    events, sqs, s3 = (make_client(service, moto_url) for service in ("events", "sqs", "s3"))
    events.put_rule(Name="tick-first", ScheduleExpression="rate(1 hour)")
    events.put_targets(
        Rule="tick-first",
        Targets=[{"Id": "fn", "Arn": "arn:aws:lambda:eu-west-1:123456789012:function:gone"}],
    )
    queue = sqs.create_queue(QueueName="uploads-after-a-schedule")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    s3.create_bucket(Bucket="uploads-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_bucket_notification_configuration(
        Bucket="uploads-bucket", NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    pattern = {"source": ["aws.s3"], "detail": {"bucket": {"name": ["uploads-bucket"]}}}
    events.put_rule(Name="uploads", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="uploads", Targets=[{"Id": "q", "Arn": queue_arn}])

    s3.put_object(Bucket="uploads-bucket", Key="input/a.csv", Body=b"1,2\n")

    [message] = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"]
    assert json.loads(message["Body"])["detail"]["object"]["key"] == "input/a.csv"
