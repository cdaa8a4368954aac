"""IAM in the loop: the operation map against AWS's service authorization reference, the policy engine
on Resource- and Condition-scoped statements, the gate's AccessDenied, and the template's roles."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localmode import ROOT
from localmode.aws.iam.engine import PolicyEngine, Simulation
from localmode.aws.iam.gate import IamGate, RoleGrants, principal_arn
from localmode.aws.iam.operations import OPERATIONS, authorisations
from localmode.aws.iam.requests import UnmappedOperation, Where
from localmode.pipeline.template import StackContext, load_template, parameter_values
from tests.template.test_iam_covers_handlers import operations_by_method, reachable_operations

ACCOUNT = "123456789012"
WHERE = Where("aws", "eu-west-1", ACCOUNT)
STACK = "demo-stack"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{STACK}-TrainTriggerRole-ABC"
SAGEMAKER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/{STACK}-SageMakerExecutionRole-XYZ"
TAGS = [{"Key": "sagemaker-pipeline:stack", "Value": STACK}]
HANDLERS = ("train_trigger", "job_events", "data_trigger", "deploy_endpoint", "teardown", "drift_check")

# One request of each mapped operation, shaped as the handlers send it.
SAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("sagemaker", "CreateTrainingJob"): {"TrainingJobName": "job", "RoleArn": SAGEMAKER_ROLE, "Tags": TAGS},
    ("sagemaker", "DescribeTrainingJob"): {"TrainingJobName": "job"},
    ("application-autoscaling", "DescribeScalableTargets"): {"ServiceNamespace": "sagemaker"},
    ("cloudwatch", "GetMetricStatistics"): {"Namespace": "AWS/SageMaker", "MetricName": "Invocations"},
    ("sagemaker", "AddTags"): {
        "ResourceArn": "arn:aws:sagemaker:eu-west-1:123456789012:endpoint-config/c",
        "Tags": [{"Key": "sagemaker-pipeline:idle-deleted-at", "Value": "2026-12-01T12:00:00Z"}],
    },
    **{
        ("application-autoscaling", operation): {
            "ServiceNamespace": "sagemaker",
            "ResourceId": "endpoint/demo-stack-endpoint/variant/AllTraffic",
            "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        }
        for operation in ("RegisterScalableTarget", "PutScalingPolicy", "DeregisterScalableTarget")
    },
    ("sagemaker", "StopTrainingJob"): {"TrainingJobName": "job"},
    ("sagemaker", "ListTrainingJobs"): {},
    ("sagemaker", "CreateModel"): {"ModelName": "m", "ExecutionRoleArn": SAGEMAKER_ROLE, "Tags": TAGS},
    ("sagemaker", "DescribeModel"): {"ModelName": "m"},
    ("sagemaker", "DeleteModel"): {"ModelName": "m"},
    ("sagemaker", "ListModels"): {},
    ("sagemaker", "CreateEndpointConfig"): {"EndpointConfigName": "c", "Tags": TAGS},
    ("sagemaker", "DescribeEndpointConfig"): {"EndpointConfigName": "c"},
    ("sagemaker", "DeleteEndpointConfig"): {"EndpointConfigName": "c"},
    ("sagemaker", "ListEndpointConfigs"): {},
    ("sagemaker", "CreateEndpoint"): {"EndpointName": "e", "EndpointConfigName": "c", "Tags": TAGS},
    ("sagemaker", "DescribeEndpoint"): {"EndpointName": "e"},
    ("sagemaker", "UpdateEndpoint"): {"EndpointName": "e", "EndpointConfigName": "c"},
    ("sagemaker", "DeleteEndpoint"): {"EndpointName": "e"},
    ("sagemaker", "ListTags"): {"ResourceArn": f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:model/m"},
    ("sagemaker-runtime", "InvokeEndpoint"): {"EndpointName": "e", "Body": b"1"},
    ("pricing", "GetProducts"): {"ServiceCode": "AmazonSageMaker"},
    ("sagemaker", "CreateModelPackageGroup"): {"ModelPackageGroupName": "g", "Tags": TAGS},
    ("sagemaker", "DescribeModelPackageGroup"): {"ModelPackageGroupName": "g"},
    ("sagemaker", "DeleteModelPackageGroup"): {"ModelPackageGroupName": "g"},
    ("sagemaker", "CreateModelPackage"): {"ModelPackageGroupName": "g", "ModelApprovalStatus": "Approved"},
    ("sagemaker", "DescribeModelPackage"): {
        "ModelPackageName": f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:model-package/g/1"
    },
    ("sagemaker", "UpdateModelPackage"): {
        "ModelPackageArn": f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:model-package/g/1",
        "ModelApprovalStatus": "Approved",
    },
    ("sagemaker", "DeleteModelPackage"): {"ModelPackageName": "g/1"},
    ("sagemaker", "ListModelPackages"): {"ModelPackageGroupName": "g"},
    ("dynamodb", "GetItem"): {"TableName": "t", "Key": {}},
    ("dynamodb", "PutItem"): {"TableName": "t", "Item": {}},
    ("dynamodb", "UpdateItem"): {"TableName": "t", "Key": {}},
    ("dynamodb", "Query"): {"TableName": "t", "IndexName": "by-training-job"},
    ("dynamodb", "DescribeTable"): {"TableName": "t"},
    ("dynamodb", "UpdateTable"): {"TableName": "t"},
    ("dynamodb", "DeleteTable"): {"TableName": "t"},
    ("s3", "ListObjectVersions"): {"Bucket": "b", "Prefix": "input/"},
    ("s3", "ListObjectsV2"): {"Bucket": "b"},
    ("s3", "HeadObject"): {"Bucket": "b", "Key": "k", "VersionId": "v1"},
    ("s3", "GetObject"): {"Bucket": "b", "Key": "k"},
    ("s3", "PutObject"): {"Bucket": "b", "Key": "k", "Body": b""},
    ("s3", "DeleteObjects"): {
        "Bucket": "b",
        "Delete": {"Objects": [{"Key": "k", "VersionId": "v"}, {"Key": "j"}]},
    },
    ("s3", "DeleteBucket"): {"Bucket": "b"},
    ("logs", "DescribeLogStreams"): {
        "logGroupName": "/aws/sagemaker/TrainingJobs",
        "logStreamNamePrefix": "j/",
    },
    ("logs", "GetLogEvents"): {"logGroupName": "/aws/sagemaker/TrainingJobs", "logStreamName": "j/algo-1-1"},
    ("logs", "CreateLogGroup"): {"logGroupName": "/aws/sagemaker/TrainingJobs"},
    ("logs", "CreateLogStream"): {
        "logGroupName": "/aws/sagemaker/TrainingJobs",
        "logStreamName": "j/algo-1-1",
    },
    ("logs", "PutLogEvents"): {
        "logGroupName": "/aws/sagemaker/TrainingJobs",
        "logStreamName": "j/algo-1-1",
        "logEvents": [{"timestamp": 1, "message": "m"}],
    },
    ("cloudwatch", "PutMetricData"): {
        "Namespace": "SageMakerPipeline",
        "MetricData": [{"MetricName": "DriftViolations", "Value": 1.0}],
    },
    ("sns", "Publish"): {"TopicArn": f"arn:aws:sns:eu-west-1:{ACCOUNT}:topic", "Message": "m"},
    ("codepipeline", "PutJobSuccessResult"): {"jobId": "j"},
    ("codepipeline", "PutJobFailureResult"): {"jobId": "j"},
    ("codepipeline", "StartPipelineExecution"): {"name": "p"},
    ("ecr", "ListImages"): {"repositoryName": "r"},
    ("ecr", "BatchDeleteImage"): {"repositoryName": "r", "imageIds": []},
    ("ecr", "DeleteRepository"): {"repositoryName": "r"},
    ("kms", "ScheduleKeyDeletion"): {"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"},
    **{
        ("sqs", operation): {"QueueUrl": f"https://sqs.eu-west-1.amazonaws.com/{ACCOUNT}/uploads"}
        for operation in ("GetQueueAttributes", "ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility")
    },
}


@pytest.fixture(scope="module")
def engine() -> Iterator[PolicyEngine]:
    running = PolicyEngine().start()
    yield running
    running.close()


def allow(action: str, resource: str, condition: dict[str, Any] | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": action, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


def decide(engine: PolicyEngine, policy: dict[str, Any], action: str, resource: str, **context: Any) -> str:
    return engine.decide(
        Simulation(
            principal=principal_arn(ROLE_ARN, "fn"),
            action=action,
            resource=resource,
            account_id=ACCOUNT,
            context=context,
            identity_policies=[{"name": "p", "policy": policy}],
            permission_boundaries=[],
        )
    )


# ------------------------------------------------------------------------------ the operation map
def test_every_mapped_operation_has_a_sample_and_matches_the_reference():
    assert set(SAMPLES) == set(OPERATIONS)
    for (service, operation), params in SAMPLES.items():
        requests = authorisations(service, operation, params, WHERE)
        assert requests, (service, operation)
        for request in requests:
            assert "${" not in request.resource and request.action.count(":") == 1


def test_every_operation_a_handler_calls_is_mapped():
    for handler in HANDLERS:
        for method in reachable_operations(handler):
            candidates = operations_by_method()[method]  # a method name several services share
            assert any(candidate in OPERATIONS for candidate in candidates), f"{handler}: {candidates}"


def test_an_operation_without_a_mapping_fails_loudly():
    with pytest.raises(UnmappedOperation, match=r"operations\.py"):
        authorisations("sagemaker", "CreateHyperParameterTuningJob", {}, WHERE)


def test_aws_side_requests_are_modelled():
    create = authorisations(
        "sagemaker", "CreateTrainingJob", SAMPLES[("sagemaker", "CreateTrainingJob")], WHERE
    )
    actions = {request.action: request for request in create}
    assert set(actions) == {"sagemaker:CreateTrainingJob", "sagemaker:AddTags", "iam:PassRole"}
    assert actions["iam:PassRole"].context == {"iam:PassedToService": "sagemaker.amazonaws.com"}
    assert actions["sagemaker:AddTags"].context["aws:RequestTag/sagemaker-pipeline:stack"] == STACK
    update = authorisations("sagemaker", "UpdateEndpoint", SAMPLES[("sagemaker", "UpdateEndpoint")], WHERE)
    assert [request.resource.rsplit(":", 1)[1] for request in update] == ["endpoint/e", "endpoint-config/c"]
    [listing] = authorisations("s3", "ListObjectVersions", SAMPLES[("s3", "ListObjectVersions")], WHERE)
    assert listing.action == "s3:ListBucketVersions" and listing.context == {"s3:prefix": "input/"}
    deletes = authorisations("s3", "DeleteObjects", SAMPLES[("s3", "DeleteObjects")], WHERE)
    assert [request.action for request in deletes] == ["s3:DeleteObjectVersion", "s3:DeleteObject"]


# ------------------------------------------------------------------------------ the engine
def test_a_resource_scoped_statement_allows_its_resource_only(engine):
    table = f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/runs"
    policy = allow("dynamodb:GetItem", table)
    assert decide(engine, policy, "dynamodb:GetItem", table) == "Allowed"
    assert decide(engine, policy, "dynamodb:GetItem", table + "-other") == "ImplicitlyDenied"


def test_a_condition_scoped_statement_allows_only_when_the_condition_holds(engine):
    model = f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:model/m"
    policy = allow(
        "sagemaker:CreateModel", "*", {"StringEquals": {"aws:RequestTag/sagemaker-pipeline:stack": STACK}}
    )
    assert (
        decide(
            engine,
            policy,
            "sagemaker:CreateModel",
            model,
            **{"aws:RequestTag/sagemaker-pipeline:stack": STACK},
        )
        == "Allowed"
    )
    assert decide(
        engine, policy, "sagemaker:CreateModel", model, **{"aws:RequestTag/sagemaker-pipeline:stack": "x"}
    ) == ("ImplicitlyDenied")
    assert decide(engine, policy, "sagemaker:CreateModel", model) == "ImplicitlyDenied"


def test_an_explicit_deny_wins(engine):
    bucket = "arn:aws:s3:::b"
    policy = allow("s3:DeleteBucket", "*")
    policy["Statement"].append({"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": bucket})
    assert decide(engine, policy, "s3:DeleteBucket", bucket) == "ExplicitlyDenied"


# ------------------------------------------------------------------------------ the gate
class FixedGrants(IamGate):
    """An IamGate whose roles' policies are given, not read from IAM."""

    def __init__(self, engine: PolicyEngine, policies: list[dict[str, Any]], tags: dict[str, dict[str, str]]):
        super().__init__(engine, iam=None, where=WHERE, resource_tags=tags.get)
        self._policies = policies

    def grants(self, role_arn: str) -> RoleGrants:
        return RoleGrants(
            [{"name": f"p{index}", "policy": policy} for index, policy in enumerate(self._policies)], []
        )


def test_a_denial_is_aws_own_error_and_is_counted(engine):
    gate = FixedGrants(engine, [allow("sns:Publish", f"arn:aws:sns:eu-west-1:{ACCOUNT}:topic")], {})
    gate.authorise(ROLE_ARN, "fn", "sns", "Publish", SAMPLES[("sns", "Publish")])
    with pytest.raises(ClientError) as raised:
        gate.authorise(ROLE_ARN, "fn", "dynamodb", "GetItem", {"TableName": "runs", "Key": {}})
    error = raised.value.response["Error"]
    assert error["Code"] == "AccessDeniedException"
    assert error["Message"] == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/{STACK}-TrainTriggerRole-ABC/fn is not authorized "
        f"to perform: dynamodb:GetItem on resource: arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/runs "
        "because no identity-based policy allows the dynamodb:GetItem action"
    )
    assert gate.summary() == [f"{STACK}-TrainTriggerRole-ABC: 1 authorised, 1 denied"]
    with pytest.raises(ClientError) as s3_denied:
        gate.authorise(ROLE_ARN, "fn", "s3", "GetObject", {"Bucket": "b", "Key": "k"})
    assert s3_denied.value.response["Error"]["Code"] == "AccessDenied"


def test_resource_tags_are_the_live_ones_and_an_absent_resource_has_none(engine):
    job = f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:training-job/job"
    tagged_only = allow(
        "sagemaker:DescribeTrainingJob",
        "*",
        {"StringEquals": {"aws:ResourceTag/sagemaker-pipeline:stack": STACK}},
    )
    existing = FixedGrants(engine, [tagged_only], {job: {"sagemaker-pipeline:stack": STACK}})
    existing.authorise(ROLE_ARN, "fn", "sagemaker", "DescribeTrainingJob", {"TrainingJobName": "job"})
    absent = FixedGrants(engine, [tagged_only], {})
    with pytest.raises(ClientError, match="sagemaker:DescribeTrainingJob"):
        absent.authorise(ROLE_ARN, "fn", "sagemaker", "DescribeTrainingJob", {"TrainingJobName": "job"})


# ------------------------------------------------------------------------------ the template's roles
def role_policies(logical_role: str) -> list[dict[str, Any]]:
    """The role's inline policies in the template, resolved with a local stack's values."""
    template = load_template(ROOT / "template" / "sagemaker-pipeline.yaml")
    given = {"GitHubOwner": "octo", "GitHubRepo": "repo", "NotificationEmail": "me@example.com"}
    context = StackContext(
        template=template,
        parameters=parameter_values(template, given),
        pseudo={
            "AWS::Partition": "aws",
            "AWS::Region": "eu-west-1",
            "AWS::AccountId": ACCOUNT,
            "AWS::StackName": STACK,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:eu-west-1:{ACCOUNT}:stack/{STACK}/1",
        },
        physical_ids={logical: f"{STACK}-{logical}" for logical in template["Resources"]},
        attribute=lambda logical, name: f"arn:aws:local:eu-west-1:{ACCOUNT}:{logical}/{name}",
    )
    properties = template["Resources"][logical_role]["Properties"]
    return [context.resolve(policy["PolicyDocument"]) for policy in properties["Policies"]]


@pytest.mark.parametrize(
    ("role", "operation", "params"),
    [
        ("TrainTriggerRole", "DescribeTrainingJob", {"TrainingJobName": "demo-stack-new-job"}),
        ("DeployEndpointRole", "DescribeEndpoint", {"EndpointName": "demo-stack-endpoint"}),
        ("DeployEndpointRole", "DescribeModel", {"ModelName": "demo-stack-new-release"}),
        ("TeardownRole", "DescribeEndpoint", {"EndpointName": "demo-stack-endpoint"}),
    ],
)
def test_the_template_lets_a_role_find_out_that_a_resource_is_absent(engine, role, operation, params):
    """AWS decides a Describe of an absent resource with no aws:ResourceTag: scoped by tag, it answers
    AccessDenied instead of "not found", and the create-if-absent deploy and the teardown both break."""
    policies = role_policies(role)
    FixedGrants(engine, policies, {}).authorise(ROLE_ARN, "fn", "sagemaker", operation, params)

    tag_scoped = copy.deepcopy(policies)
    for policy in tag_scoped:
        for statement in policy["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if f"sagemaker:{operation}" in actions:
                statement["Condition"] = {"StringEquals": {"aws:ResourceTag/sagemaker-pipeline:stack": STACK}}
    with pytest.raises(ClientError, match=f"not authorized to perform: sagemaker:{operation}"):
        FixedGrants(engine, tag_scoped, {}).authorise(ROLE_ARN, "fn", "sagemaker", operation, params)


ALARMS = [f"{STACK}-EndpointErrorAlarm", f"{STACK}-EndpointLatencyAlarm"]  # role_policies' physical ids
UPDATE_WITH_ROLLBACK = {
    "EndpointName": "e",
    "EndpointConfigName": "c",
    "RetainAllVariantProperties": False,
    "DeploymentConfig": {
        "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE"}},
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": name} for name in ALARMS]},
    },
}


def test_an_update_with_rollback_alarms_needs_to_describe_them(engine):
    """Issue 12 C5: UpdateEndpoint's AutoRollbackConfiguration makes SageMaker describe the alarms as
    the caller; the deploy role may do so on this stack's two rollback alarms, and on nothing else."""
    requests = authorisations("sagemaker", "UpdateEndpoint", UPDATE_WITH_ROLLBACK, WHERE)
    alarm_arns = [f"arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:alarm:{name}" for name in ALARMS]
    assert [(request.action, request.resource) for request in requests[2:]] == [
        ("cloudwatch:DescribeAlarms", alarm) for alarm in alarm_arns
    ]

    policies = role_policies("DeployEndpointRole")
    tags = {
        f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:{kind}/{name}": {"sagemaker-pipeline:stack": STACK}
        for kind, name in (("endpoint", "e"), ("endpoint-config", "c"))
    }
    FixedGrants(engine, policies, tags).authorise(
        ROLE_ARN, "fn", "sagemaker", "UpdateEndpoint", UPDATE_WITH_ROLLBACK
    )

    foreign = copy.deepcopy(UPDATE_WITH_ROLLBACK)
    foreign["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"] = [{"AlarmName": "someone-elses"}]
    with pytest.raises(ClientError, match="not authorized to perform: cloudwatch:DescribeAlarms"):
        FixedGrants(engine, policies, tags).authorise(ROLE_ARN, "fn", "sagemaker", "UpdateEndpoint", foreign)

    without = copy.deepcopy(policies)
    for policy in without:
        policy["Statement"] = [
            statement
            for statement in policy["Statement"]
            if "cloudwatch:DescribeAlarms" not in str(statement["Action"])
        ]
    with pytest.raises(ClientError, match="not authorized to perform: cloudwatch:DescribeAlarms"):
        FixedGrants(engine, without, tags).authorise(
            ROLE_ARN, "fn", "sagemaker", "UpdateEndpoint", UPDATE_WITH_ROLLBACK
        )


def test_an_alarm_the_local_stack_could_not_create_is_not_asked_for():
    """moto's CloudFormation creates no CloudWatch alarm and leaves its template reference in the
    function's environment: such a name is no alarm, so no DescribeAlarms is authorised for it."""
    local = copy.deepcopy(UPDATE_WITH_ROLLBACK)
    rollback = local["DeploymentConfig"]["AutoRollbackConfiguration"]
    rollback["Alarms"] = [{"AlarmName": "${EndpointErrorAlarm}"}]
    requests = authorisations("sagemaker", "UpdateEndpoint", local, WHERE)
    assert [request.action for request in requests] == ["sagemaker:UpdateEndpoint"] * 2


def test_a_client_bound_to_a_role_is_authorised_as_that_role(engine):
    """The emulator's S3 requests act for SageMaker with the job's execution role."""
    import boto3

    gate = FixedGrants(engine, [allow("s3:GetObject", "arn:aws:s3:::input/*")], {})
    s3 = boto3.client(
        "s3",
        region_name="eu-west-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    gate.bind(s3, SAGEMAKER_ROLE, "SageMaker")
    with pytest.raises(ClientError) as denied:
        s3.put_object(Bucket="models", Key="job/output/model.tar.gz", Body=b"model")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    assert f"assumed-role/{SAGEMAKER_ROLE.rsplit('/', 1)[1]}/SageMaker" in str(denied.value)
    assert "s3:PutObject on resource: arn:aws:s3:::models/job/output/model.tar.gz" in str(denied.value)


def test_the_deploy_role_may_delete_its_own_failed_endpoint_and_no_other(engine):
    """Issue 14 item 7: a Failed endpoint accepts only DeleteEndpoint, so the deploy role may delete the
    endpoint this stack tagged (to create it again), and nothing untagged or another stack's."""
    policies = role_policies("DeployEndpointRole")
    ours = f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:endpoint/demo-stack-endpoint"
    theirs = f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:endpoint/other-endpoint"
    tags = {ours: {"sagemaker-pipeline:stack": STACK}, theirs: {"sagemaker-pipeline:stack": "other-stack"}}
    gate = FixedGrants(engine, policies, tags)
    gate.authorise(ROLE_ARN, "fn", "sagemaker", "DeleteEndpoint", {"EndpointName": "demo-stack-endpoint"})
    for name in ("other-endpoint", "untagged-endpoint"):
        with pytest.raises(ClientError, match="not authorized to perform: sagemaker:DeleteEndpoint"):
            gate.authorise(ROLE_ARN, "fn", "sagemaker", "DeleteEndpoint", {"EndpointName": name})


@pytest.mark.parametrize("role", ["TrainTriggerRole", "JobEventsRole"])
def test_the_recorders_may_read_training_job_logs_and_no_other_log(engine, role):
    """Issue 14 item 4: the terminal-state recorders read the tail of a training job's log (a declared
    metric never printed), in SageMaker's training job log group only."""
    gate = FixedGrants(engine, role_policies(role), {})
    for operation in ("DescribeLogStreams", "GetLogEvents"):
        gate.authorise(ROLE_ARN, "fn", "logs", operation, SAMPLES[("logs", operation)])
    other = {"logGroupName": "/aws/lambda/someone-else", "logStreamName": "2026/12/01/x"}
    with pytest.raises(ClientError, match="not authorized to perform: logs:GetLogEvents"):
        gate.authorise(ROLE_ARN, "fn", "logs", "GetLogEvents", other)
    with pytest.raises(ClientError, match="not authorized to perform: logs:DescribeLogStreams"):
        gate.authorise(
            ROLE_ARN, "fn", "logs", "DescribeLogStreams", {"logGroupName": "/aws/sagemaker/Endpoints/e"}
        )


def test_the_deploy_role_may_approve_its_own_stacks_model_versions_only(engine):
    """Issue 15: the Deploy stage approves the run's PendingManualApproval version (the pipeline's approval
    passed); a version of another stack, or an untagged one, stays out of reach."""
    policies = role_policies("DeployEndpointRole")
    ours = f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:model-package/demo-stack-models/1"
    theirs = f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:model-package/other-models/1"
    tags = {ours: {"sagemaker-pipeline:stack": STACK}, theirs: {"sagemaker-pipeline:stack": "other-stack"}}
    gate = FixedGrants(engine, policies, tags)
    approve = {"ModelApprovalStatus": "Approved"}
    gate.authorise(ROLE_ARN, "fn", "sagemaker", "UpdateModelPackage", {"ModelPackageArn": ours, **approve})
    gate.authorise(ROLE_ARN, "fn", "sagemaker", "DescribeModelPackage", {"ModelPackageName": theirs})
    for arn in (theirs, ours.replace("/1", "/2")):
        with pytest.raises(ClientError, match="not authorized to perform: sagemaker:UpdateModelPackage"):
            gate.authorise(
                ROLE_ARN, "fn", "sagemaker", "UpdateModelPackage", {"ModelPackageArn": arn, **approve}
            )


def test_the_train_trigger_registers_tagged_versions_and_prices_anywhere_but_untagged_is_denied(engine):
    """Issue 15: CreateModelPackageGroup / CreateModelPackage need the stack tag in the request."""
    gate = FixedGrants(engine, role_policies("TrainTriggerRole"), {})
    group = {"ModelPackageGroupName": "demo-stack-models"}
    gate.authorise(ROLE_ARN, "fn", "sagemaker", "CreateModelPackageGroup", {**group, "Tags": TAGS})
    gate.authorise(ROLE_ARN, "fn", "sagemaker", "CreateModelPackage", {**group, "Tags": TAGS})
    gate.authorise(ROLE_ARN, "fn", "pricing", "GetProducts", {"ServiceCode": "AmazonSageMaker"})
    with pytest.raises(ClientError, match="not authorized to perform: sagemaker:CreateModelPackage"):
        gate.authorise(ROLE_ARN, "fn", "sagemaker", "CreateModelPackage", group)
    with pytest.raises(ClientError, match="not authorized to perform: pricing:GetProducts"):
        FixedGrants(engine, role_policies("JobEventsRole"), {}).authorise(
            ROLE_ARN, "fn", "pricing", "GetProducts", {"ServiceCode": "AmazonSageMaker"}
        )


def test_the_custom_resource_creates_the_stacks_model_registry_tagged_and_nothing_else(engine):
    """The group is created with the stack (the custom resource's Create): tagged with this stack only."""
    gate = FixedGrants(engine, role_policies("TeardownRole"), {})
    group = {"ModelPackageGroupName": "demo-stack-0a1b2c3d-models"}
    gate.authorise(ROLE_ARN, "fn", "sagemaker", "CreateModelPackageGroup", {**group, "Tags": TAGS})
    other = [{"Key": "sagemaker-pipeline:stack", "Value": "other-stack"}]
    for params in (group, {**group, "Tags": other}):
        with pytest.raises(ClientError, match="not authorized to perform: sagemaker:CreateModelPackageGroup"):
            gate.authorise(ROLE_ARN, "fn", "sagemaker", "CreateModelPackageGroup", params)
    with pytest.raises(ClientError, match="not authorized to perform: sagemaker:CreateModelPackage"):
        gate.authorise(ROLE_ARN, "fn", "sagemaker", "CreateModelPackage", {**group, "Tags": TAGS})


def test_the_teardown_role_may_delete_its_own_model_registry_only(engine):
    """Issue 15 item 7: the stack's versions, then its group; another stack's registry stays."""
    ours_group = f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:model-package-group/demo-stack-models"
    ours = f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:model-package/demo-stack-models/1"
    theirs = f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:model-package/other-models/1"
    tags = {
        ours_group: {"sagemaker-pipeline:stack": STACK},
        ours: {"sagemaker-pipeline:stack": STACK},
        theirs: {"sagemaker-pipeline:stack": "other-stack"},
    }
    gate = FixedGrants(engine, role_policies("TeardownRole"), tags)
    gate.authorise(
        ROLE_ARN, "fn", "sagemaker", "DescribeModelPackageGroup", {"ModelPackageGroupName": "absent"}
    )
    gate.authorise(
        ROLE_ARN, "fn", "sagemaker", "ListModelPackages", {"ModelPackageGroupName": "demo-stack-models"}
    )
    gate.authorise(ROLE_ARN, "fn", "sagemaker", "DeleteModelPackage", {"ModelPackageName": ours})
    gate.authorise(
        ROLE_ARN, "fn", "sagemaker", "DeleteModelPackageGroup", {"ModelPackageGroupName": "demo-stack-models"}
    )
    with pytest.raises(ClientError, match="not authorized to perform: sagemaker:DeleteModelPackage"):
        gate.authorise(ROLE_ARN, "fn", "sagemaker", "DeleteModelPackage", {"ModelPackageName": theirs})


def test_the_drift_check_may_put_metrics_in_the_pipelines_namespace_only(engine):
    """cloudwatch:PutMetricData has no metric resource: the drift role's grant is scoped by the
    cloudwatch:namespace condition key, so it cannot write into AWS/SageMaker or anyone's namespace."""
    [request] = authorisations("cloudwatch", "PutMetricData", SAMPLES[("cloudwatch", "PutMetricData")], WHERE)
    assert (request.resource, request.context) == ("*", {"cloudwatch:namespace": "SageMakerPipeline"})
    policies = role_policies("DriftCheckRole")
    gate = FixedGrants(engine, policies, {})
    gate.authorise(ROLE_ARN, "fn", "cloudwatch", "PutMetricData", SAMPLES[("cloudwatch", "PutMetricData")])
    gate.authorise(ROLE_ARN, "fn", "sagemaker", "DescribeEndpoint", {"EndpointName": "demo-stack-endpoint"})
    for namespace in ("AWS/SageMaker", "Other"):
        with pytest.raises(ClientError, match="not authorized to perform: cloudwatch:PutMetricData"):
            gate.authorise(
                ROLE_ARN, "fn", "cloudwatch", "PutMetricData", {"Namespace": namespace, "MetricData": []}
            )
    with pytest.raises(ClientError, match="not authorized to perform: sagemaker:DescribeEndpoint"):
        gate.authorise(ROLE_ARN, "fn", "sagemaker", "DescribeEndpoint", {"EndpointName": "other-endpoint"})
    without = copy.deepcopy(policies)
    for policy in without:
        policy["Statement"] = [
            s for s in policy["Statement"] if "cloudwatch:PutMetricData" not in str(s["Action"])
        ]
    with pytest.raises(ClientError, match="not authorized to perform: cloudwatch:PutMetricData"):
        FixedGrants(engine, without, {}).authorise(
            ROLE_ARN, "fn", "cloudwatch", "PutMetricData", SAMPLES[("cloudwatch", "PutMetricData")]
        )


def test_the_deploy_role_may_scale_sagemaker_variants_and_no_other_target(engine):
    """Issue 16 item 3: the deploy role registers, scales and deregisters SageMaker variants' instance
    counts, and nothing of another namespace or dimension."""
    gate = FixedGrants(engine, role_policies("DeployEndpointRole"), {})
    variant = SAMPLES[("application-autoscaling", "RegisterScalableTarget")]
    for operation in (
        "DescribeScalableTargets",
        "RegisterScalableTarget",
        "PutScalingPolicy",
        "DeregisterScalableTarget",
    ):
        gate.authorise(
            ROLE_ARN,
            "fn",
            "application-autoscaling",
            operation,
            SAMPLES[("application-autoscaling", operation)],
        )
    for other in (
        {
            **variant,
            "ServiceNamespace": "ecs",
            "ResourceId": "service/cluster/web",
            "ScalableDimension": "ecs:service:DesiredCount",
        },
        {**variant, "ScalableDimension": "sagemaker:variant:DesiredProvisionedConcurrency"},
    ):
        with pytest.raises(
            ClientError, match="not authorized to perform: application-autoscaling:RegisterScalableTarget"
        ):
            gate.authorise(ROLE_ARN, "fn", "application-autoscaling", "RegisterScalableTarget", other)


def test_the_idle_guard_may_delete_and_mark_its_own_endpoint_and_no_other(engine):
    """Issue 16 item 1: the idle guard reads the metric, marks this stack's endpoint config and deletes
    this stack's endpoint; another stack's endpoint or config is refused."""
    ours = f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:endpoint/demo-stack-endpoint"
    our_config = f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:endpoint-config/demo-stack-release"
    their_config = f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:endpoint-config/other-release"
    tags = {
        ours: {"sagemaker-pipeline:stack": STACK},
        our_config: {"sagemaker-pipeline:stack": STACK},
        their_config: {"sagemaker-pipeline:stack": "other-stack"},
    }
    gate = FixedGrants(engine, role_policies("IdleGuardRole"), tags)
    mark = {"Tags": [{"Key": "sagemaker-pipeline:idle-deleted-at", "Value": "2026-12-01T12:00:00Z"}]}
    gate.authorise(
        ROLE_ARN, "fn", "cloudwatch", "GetMetricStatistics", SAMPLES[("cloudwatch", "GetMetricStatistics")]
    )
    gate.authorise(ROLE_ARN, "fn", "sagemaker", "AddTags", {"ResourceArn": our_config, **mark})
    gate.authorise(ROLE_ARN, "fn", "sagemaker", "DeleteEndpoint", {"EndpointName": "demo-stack-endpoint"})
    with pytest.raises(ClientError, match="not authorized to perform: sagemaker:AddTags"):
        gate.authorise(ROLE_ARN, "fn", "sagemaker", "AddTags", {"ResourceArn": their_config, **mark})
    with pytest.raises(ClientError, match="not authorized to perform: sagemaker:DeleteEndpoint"):
        gate.authorise(ROLE_ARN, "fn", "sagemaker", "DeleteEndpoint", {"EndpointName": "other-endpoint"})
