"""The real template creates in moto's CloudFormation, and what moto models is configured as
the template says. moto cannot run the custom resource's Lambda (it needs docker), so the test
answers it the way the handler would: a cfn-response PUT to the stack's response URL."""

from __future__ import annotations

import ast
import json
import time
import urllib.request
import uuid

import boto3
import pytest
from moto.server import ThreadedMotoServer

from localmode.aws.processes import free_port
from scripts.cfn_template import TEMPLATE_PATH
from scripts.package_lambdas import build as build_lambda_zip

REGION = "eu-west-1"
STACK = "smp-template-test"
PARAMETERS = {
    "GitHubOwner": "example-org",
    "GitHubRepo": "iris-model",
    "NotificationEmail": "ml-team@example.com",
    "LambdaCodeBucket": "smp-code-bucket",
    "TrainingInputPrefix": "input/",
    "DeleteDataOnStackDelete": "false",
}


def _answer_custom_resource(endpoint: str, stack_id: str, logical_id: str) -> None:
    body = {
        "Status": "SUCCESS",
        "StackId": stack_id,
        "RequestId": str(uuid.uuid4()),
        "LogicalResourceId": logical_id,
        "PhysicalResourceId": f"{STACK}-teardown",
        "Data": {},
    }
    url = f"{endpoint}/cloudformation_{REGION}/cfnresponse?stack={urllib.request.quote(stack_id)}"
    # moto routes this unsigned PUT by its Host header (and finds the stack's region there) and
    # reads a body without a JSON content type as a form.
    headers = {"Content-Type": "application/json", "Host": f"cloudformation.{REGION}.amazonaws.com"}
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="PUT", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    lambda_zip = build_lambda_zip(tmp_path_factory.mktemp("dist") / "lambdas.zip")  # the shipped zip
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"

    def client(name):
        return boto3.client(
            name,
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    try:
        s3 = client("s3")
        s3.create_bucket(Bucket="smp-code-bucket", CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_object(
            Bucket="smp-code-bucket", Key="sagemaker-pipeline/lambdas.zip", Body=lambda_zip.read_bytes()
        )
        # By URL, as AWS requires of a template over 51,200 bytes (README, docs/aws-rules.md).
        s3.put_object(
            Bucket="smp-code-bucket", Key="sagemaker-pipeline.yaml", Body=TEMPLATE_PATH.read_bytes()
        )
        cloudformation = client("cloudformation")
        stack_id = cloudformation.create_stack(
            StackName=STACK,
            TemplateURL=f"https://smp-code-bucket.s3.{REGION}.amazonaws.com/sagemaker-pipeline.yaml",
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in PARAMETERS.items()],
            Capabilities=["CAPABILITY_IAM"],
        )["StackId"]
        assert (
            cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"]
            == "CREATE_IN_PROGRESS"
        )
        _answer_custom_resource(endpoint, stack_id, "Teardown")
        for _ in range(100):
            status = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"]
            if status != "CREATE_IN_PROGRESS":
                break
            time.sleep(0.1)
        resources = {
            r["LogicalResourceId"]: r
            for r in cloudformation.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
        }
        yield {"client": client, "status": status, "resources": resources, "cloudformation": cloudformation}
    finally:
        server.stop()


def physical_id(stack, logical_id):
    return stack["resources"][logical_id]["PhysicalResourceId"]


def outputs(stack):
    described = stack["cloudformation"].describe_stacks(StackName=STACK)["Stacks"][0]
    return {o["OutputKey"]: o for o in described["Outputs"]}


def test_stack_reaches_create_complete(stack):
    assert stack["status"] == "CREATE_COMPLETE"


def test_outputs_are_exported_with_the_stack_name(stack):
    found = outputs(stack)
    assert found["EndpointName"]["OutputValue"] == f"{STACK}-endpoint"
    assert found["PipelineUrl"]["OutputValue"].startswith(
        "https://console.aws.amazon.com/codesuite/codepipeline/"
    )
    assert found["ConnectionHandshakeUrl"]["OutputValue"].endswith(f"region={REGION}")
    for name, output in found.items():
        assert output["ExportName"] == f"{STACK}-{name}"
    # Paginated: other tests' stacks in this process's moto export names too.
    pages = stack["cloudformation"].get_paginator("list_exports").paginate()
    exports = {export["Name"] for page in pages for export in page["Exports"]}
    assert {f"{STACK}-TrainingInputBucket", f"{STACK}-MetaDataStore"} <= exports


def test_buckets_exist_encrypted(stack):
    # moto's CloudFormation drops PublicAccessBlockConfiguration and VersioningConfiguration;
    # test_security_census checks them in the template and the local deployer applies them.
    s3 = stack["client"]("s3")
    for logical in ("TrainingInputBucket", "ModelArtifactBucket", "ArtifactStoreBucket"):
        bucket = physical_id(stack, logical)
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert outputs(stack)["TrainingInputBucket"]["OutputValue"] == physical_id(stack, "TrainingInputBucket")


def test_metadata_store_table(stack):
    dynamodb = stack["client"]("dynamodb")
    table = dynamodb.describe_table(TableName=physical_id(stack, "MetaDataStore"))["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": "run_id", "KeyType": "HASH"}]
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["by-training-job"]
    assert table["DeletionProtectionEnabled"] is True
    # moto's CloudFormation drops SSESpecification and PITR; test_structure checks them.


def test_topic_is_encrypted(stack):
    sns = stack["client"]("sns")
    topic_arn = physical_id(stack, "NotificationTopic")
    attributes = sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]
    assert attributes["KmsMasterKeyId"].startswith("arn:aws:kms:")


def test_queues_are_encrypted_and_redrive_to_the_dead_letter_queue(stack):
    sqs = stack["client"]("sqs")
    queue_url = physical_id(stack, "DataUploadQueue")
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes["KmsMasterKeyId"].startswith("arn:aws:kms:")
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["maxReceiveCount"] == 5
    assert redrive["deadLetterTargetArn"].endswith(
        physical_id(stack, "EventDeadLetterQueue").rsplit("/", 1)[1]
    )


def test_key_rotates(stack):
    kms = stack["client"]("kms")
    key_id = physical_id(stack, "EncryptionKey")
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True


def test_repository_keeps_tags_immutable(stack):
    ecr = stack["client"]("ecr")
    name = physical_id(stack, "ImageRepository")
    repo = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    # moto keeps ImageScanningConfiguration and EncryptionConfiguration in the template's casing,
    # which botocore's parser drops; test_security_census checks both in the template.
    assert repo["imageTagMutability"] == "IMMUTABLE"


def test_functions_run_the_handlers_with_their_own_roles(stack):
    aws_lambda = stack["client"]("lambda")
    expected = {
        "TrainTriggerFunction": "train_trigger.handler",
        "JobEventsFunction": "job_events.handler",
        "DataTriggerFunction": "data_trigger.handler",
        "DeployEndpointFunction": "deploy_endpoint.handler",
        "TeardownFunction": "teardown.handler",
    }
    roles = set()
    for logical, handler in expected.items():
        config = aws_lambda.get_function_configuration(FunctionName=physical_id(stack, logical))
        assert config["Handler"] == handler
        assert config["Runtime"] == "python3.13"
        roles.add(config["Role"])
    assert len(roles) == len(expected)
    train = aws_lambda.get_function_configuration(FunctionName=physical_id(stack, "TrainTriggerFunction"))
    env = train["Environment"]["Variables"]
    assert env["METADATA_TABLE"] == physical_id(stack, "MetaDataStore")
    assert env["TRAINING_INPUT_BUCKET"] == physical_id(stack, "TrainingInputBucket")
    assert env["GITHUB_REPOSITORY"] == "example-org/iris-model"
    assert env["TRAINING_CHANNEL_NAME"] == "training"  # the parameter's default reaches the function
    assert env["SAGEMAKER_ROLE_ARN"].endswith(physical_id(stack, "SageMakerExecutionRole"))


def test_roles_carry_their_policies(stack):
    iam = stack["client"]("iam")
    role = physical_id(stack, "TrainTriggerRole")
    document = iam.get_role_policy(RoleName=role, PolicyName="train-trigger")["PolicyDocument"]
    if isinstance(document, str):  # moto stores CloudFormation-made inline policies as a Python repr
        document = ast.literal_eval(urllib.request.unquote(document))
    sids = {s["Sid"] for s in document["Statement"]}
    assert {"StartTaggedTrainingJobs", "PassExecutionRoleToSageMaker", "ReportToPipeline"} <= sids


def test_event_rules_route_training_state_and_uploads(stack):
    events = stack["client"]("events")
    rule_names = {physical_id(stack, "TrainingJobStateRule"), physical_id(stack, "DataUploadRule")}
    patterns = {}
    for name in rule_names:
        rule = events.describe_rule(Name=name.split("|")[-1])
        patterns[name] = json.loads(rule["EventPattern"])
    state = patterns[physical_id(stack, "TrainingJobStateRule")]
    assert state["detail-type"] == ["SageMaker Training Job State Change"]
    upload = patterns[physical_id(stack, "DataUploadRule")]
    assert upload["detail"]["bucket"]["name"] == [physical_id(stack, "TrainingInputBucket")]
    assert upload["detail"]["object"]["key"] == [{"prefix": "input/"}]
