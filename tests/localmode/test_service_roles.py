"""What AWS services do for the stack, authorised locally: CodePipeline with the pipeline's role,
CodeBuild with the project's role, EventBridge as itself against the target's own policy.

Each test takes one grant away from the deployed stack (a role's inline policy, a queue policy, a
function's permission) and shows the flow fails where AWS would make it fail, naming the action.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from localmode.aws.iam import service_requests
from localmode.aws.iam.gate import policy_document
from localmode.aws.iam.requests import Where
from localmode.run.demo import second_data_version
from localmode.run.session import LocalPipeline
from tests.localmode.conftest import logical_role, quiet_pipeline

pytestmark = pytest.mark.e2e


@pytest.fixture
def pipeline(tmp_path: Path, shared_build_cache: Path):
    instance = quiet_pipeline(tmp_path, build_cache=shared_build_cache)
    instance.start_services()
    instance.deploy()
    yield instance
    instance.close()


def revoke(pipeline: LocalPipeline, role: str, action: str) -> None:
    """Take ``action`` out of every statement of the deployed role's inline policies."""
    iam = pipeline.client("iam")
    role_name = pipeline.physical_id(role)
    for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        document = policy_document(iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"])
        for statement in document["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            statement["Action"] = [kept for kept in actions if kept != action] or ["none:NoAction"]
        iam.put_role_policy(RoleName=role_name, PolicyName=name, PolicyDocument=json.dumps(document))


def denials_naming(pipeline: LocalPipeline, *parts: str, timeout: float = 0.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        found = [denial for denial in pipeline.iam_gate.denials if all(part in denial for part in parts)]
        if found or time.monotonic() >= deadline:
            return found
        time.sleep(0.2)


def test_a_pipeline_role_that_may_not_invoke_the_train_function_fails_the_train_stage(pipeline):
    revoke(pipeline, "PipelineRole", "lambda:InvokeFunction")
    execution = pipeline.run_push()
    assert (execution.status, execution.failed_stage) == ("Failed", "Train")
    assert "AccessDenied" in execution.failure
    assert "not authorized to perform: lambda:InvokeFunction" in execution.failure
    assert pipeline.runs() == []  # the function never ran: no run record


def test_a_build_role_that_may_not_push_the_image_fails_the_build_stage(pipeline):
    revoke(pipeline, "BuildRole", "ecr:PutImage")
    execution = pipeline.run_push()
    assert (execution.status, execution.failed_stage) == ("Failed", "Build")
    assert "not authorized to perform: ecr:PutImage" in execution.failure
    repository = pipeline.outputs["EcrRepositoryUri"].split("/", 1)[1]
    assert pipeline.client("ecr").list_images(repositoryName=repository)["imageIds"] == []


def test_a_pipeline_role_that_may_not_start_the_build_fails_before_building(pipeline):
    revoke(pipeline, "PipelineRole", "codebuild:StartBuild")
    execution = pipeline.run_push()
    assert (execution.status, execution.failed_stage) == ("Failed", "Build")
    assert "not authorized to perform: codebuild:StartBuild" in execution.failure
    assert pipeline.images == {}


def test_an_upload_event_the_queue_policy_does_not_let_eventbridge_send_never_starts_a_run(pipeline):
    pipeline.seed_data()
    queue_url = pipeline.physical_id("DataUploadQueue")
    sqs = pipeline.client("sqs")
    policy = json.loads(
        sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    )
    policy["Statement"] = [item for item in policy["Statement"] if item["Effect"] == "Deny"]
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    pipeline.start_data_trigger()

    pipeline.upload(pipeline.settings.data_key, second_data_version(pipeline.settings.data_file))

    denied = denials_naming(pipeline, "events.amazonaws.com", "sqs:SendMessage", timeout=20)
    assert denied and "because no resource-based policy allows the sqs:SendMessage action" in denied[0]
    assert pipeline.player().pending_executions(pipeline.settings.stack_name) == []


def test_a_job_event_the_function_permission_does_not_allow_is_not_delivered(pipeline):
    function = pipeline.job_events_function
    lambda_ = pipeline.client("lambda")
    for statement in json.loads(lambda_.get_policy(FunctionName=function)["Policy"])["Statement"]:
        lambda_.remove_permission(FunctionName=function, StatementId=statement["Sid"])
    pipeline.seed_data()

    assert pipeline.run_push().status == "Succeeded"  # the train trigger polls the job itself

    denied = denials_naming(pipeline, "events.amazonaws.com", "lambda:InvokeFunction")
    assert denied and pipeline.job_events_rule_arn  # each state change was refused, none reached it
    job_events = [who for who, _simulation, _result in pipeline.iam_gate.decided if "JobEventsRole" in who]
    assert job_events == []


def test_the_approval_email_is_sent_with_the_pipeline_role(tmp_path: Path, shared_build_cache: Path):
    pipeline = quiet_pipeline(
        tmp_path, build_cache=shared_build_cache, parameters={"RequireManualApproval": "true"}
    )
    try:
        pipeline.start_services()
        pipeline.deploy()
        pipeline.seed_data()
        assert pipeline.run_push().status == "Succeeded"
        published = [
            simulation
            for who, simulation, result in pipeline.iam_gate.decided
            if logical_role(who) == "PipelineRole" and simulation.action == "sns:Publish"
        ]
        assert published and published[0].resource == pipeline.outputs["NotificationTopic"]
        assert pipeline.iam_gate.denials == []
    finally:
        pipeline.close()


@pytest.mark.parametrize("prefix", ["codestar-connections", "codeconnections"])
def test_the_connection_is_used_under_the_prefix_its_arn_carries(prefix):
    connection = f"arn:aws:{prefix}:eu-west-1:123456789012:connection/00000000-0000-4000-8000-000000000000"
    request = service_requests.use_connection(connection)
    assert (request.action, request.resource) == (f"{prefix}:UseConnection", connection)


def test_eventbridge_deliveries_carry_the_rule_as_their_source():
    where = Where("aws", "eu-west-1", "123456789012")
    rule = "arn:aws:events:eu-west-1:123456789012:rule/r"
    key = "arn:aws:kms:eu-west-1:123456789012:key/k"
    send, generate, decrypt = service_requests.events_send_to_queue(
        "arn:aws:sqs:eu-west-1:123456789012:q", key, rule, where
    )
    assert [send.action, generate.action, decrypt.action] == [
        "sqs:SendMessage",
        "kms:GenerateDataKey",
        "kms:Decrypt",
    ]
    assert all(
        item.context == {"aws:SourceArn": rule, "aws:SourceAccount": "123456789012"}
        for item in (send, generate, decrypt)
    )
