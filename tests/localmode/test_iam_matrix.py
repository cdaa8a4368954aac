"""No granted permission is unused: every action the template grants a function's role is needed.

One local world plays what the functions do (four successful runs, so that the fourth deploy prunes
the oldest release; a drift check of captured requests; a failed run; a delete with --purge) with
the IAM gate recording every request and the policies it was decided with. Then, for each role and
each action one of its statements grants, that action is taken out of that statement alone and the
role's recorded requests are decided again by the same engine: at least one must now be denied with
AccessDenied's message naming that action. Replaying the recorded requests, rather than rerunning a
scenario per permission, keeps the whole matrix to seconds while deciding exactly the requests the flow made.

The roles CodePipeline and CodeBuild act with are in the matrix too: local mode plays their requests
(localmode/aws/iam/service_requests.py). Permissions AWS uses on the function's behalf, and failure
or option paths a clean local run does not take, are exempt, each with its reason (EXEMPT).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localmode import ROOT
from localmode.aws.iam.engine import Simulation
from localmode.aws.iam.gate import IamGate
from localmode.pipeline.template import load_template
from localmode.run.demo import second_data_version
from localmode.run.session import LocalPipeline
from tests.localmode.conftest import logical_role, quiet_pipeline

pytestmark = pytest.mark.e2e

FUNCTION_ROLES = (
    "TrainTriggerRole",
    "JobEventsRole",
    "DataTriggerRole",
    "DeployEndpointRole",
    "TeardownRole",
    "DriftCheckRole",
)
SERVICE_ROLES = ("PipelineRole", "BuildRole")  # what CodePipeline and CodeBuild do, played locally
# Granted, but not asked for by the flow's own calls: (role, action) -> why it must stay.
EXEMPT = {
    **{
        (role, action): "Lambda writes the function's logs with its role; no handler call"
        for role in FUNCTION_ROLES
        for action in ("logs:CreateLogStream", "logs:PutLogEvents")
    },
    **{
        (role, action): "AWS encrypts and decrypts the table, topic, queues and objects for the caller "
        "with the stack key (KMS encryption is not emulated)"
        for role in FUNCTION_ROLES
        for action in ("kms:Decrypt", "kms:GenerateDataKey")
    },
    **{
        (role, action): "KMS encryption is not emulated (as for the functions): CodePipeline encrypts "
        "the artifacts and CodeBuild reads them with the stack key as these roles"
        for role in SERVICE_ROLES
        for action in ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey")
    },
    **{
        ("PipelineRole", action): "in AWS's documented service role for an S3 artifact store (CodePipeline "
        "User Guide, 'Manage the CodePipeline service role'); which of them CodePipeline itself calls per "
        "action is not documented, so local mode models only the artifact writes"
        for action in ("s3:GetObject", "s3:GetObjectVersion", "s3:GetBucketVersioning")
    },
    ("PipelineRole", "codestar-connections:UseConnection"): "a connection's ARN carries one of the two "
    "prefixes; local mode's connection is a codeconnections one (test_service_roles.py uses the other)",
    ("PipelineRole", "sns:Publish"): "the approval email, sent only with RequireManualApproval=true "
    "(tests/localmode/test_service_roles.py runs that under the gate)",
    ("BuildRole", "s3:GetObjectVersion"): "CodeBuild may read the source artifact and the container "
    "bundle by version (both buckets are versioned); the local build reads the current objects",
    ("DataTriggerRole", "sqs:ChangeMessageVisibility"): "the event source mapping returns the records the "
    "function reported as failed (tests/localmode/test_event_source.py fails records on purpose)",
    ("JobEventsRole", "sqs:SendMessage"): "Lambda sends failed asynchronous events to the dead-letter queue",
    (
        "DeployEndpointRole",
        "kms:CreateGrant",
    ): "SageMaker grants itself the endpoint config's KMS key as the caller",
    ("DeployEndpointRole", "kms:DescribeKey"): "SageMaker checks the endpoint config's KMS key as the caller",
    (
        "DeployEndpointRole",
        "sns:Publish",
    ): "the AccessDenied email and the rollback email; a clean local run is denied nothing and rolls "
    "nothing back (tests/localmode/test_emulator_recovery.py sends the rollback email)",
    ("DeployEndpointRole", "codepipeline:PutJobFailureResult"): "a failed deployment's result "
    "(tests/lambdas/test_deploy_endpoint.py fails deployments against moto and stubs)",
    ("DeployEndpointRole", "cloudwatch:DescribeAlarms"): "UpdateEndpoint's rollback alarms: moto's "
    "CloudFormation creates no CloudWatch alarms, so local deploys name none that exist "
    "(tests/localmode/test_iam.py::test_an_update_with_rollback_alarms_needs_to_describe_them)",
    ("DeployEndpointRole", "sagemaker:DeleteEndpoint"): "only a Failed endpoint is deleted (to be "
    "created again); a clean run leaves none (tests/localmode/test_emulator_recovery.py recovers one, "
    "tests/localmode/test_iam.py::test_the_deploy_role_may_delete_its_own_failed_endpoint_and_no_other "
    "decides the request against the template's role)",
    **{
        (role, action): "the tail of a training log that missed a declared metric; the flow's packages "
        "print every metric they declare (tests/localmode/test_iam.py::"
        "test_the_recorders_may_read_training_job_logs_and_no_other_log decides the requests against the "
        "template's roles, tests/localmode/test_emulator_training_logs.py reads one locally)"
        for role in ("TrainTriggerRole", "JobEventsRole")
        for action in ("logs:DescribeLogStreams", "logs:GetLogEvents")
    },
    ("DeployEndpointRole", "sagemaker:UpdateModelPackage"): "approves a version registered "
    "PendingManualApproval, only with RequireManualApproval=true (tests/localmode/test_iam.py::"
    "test_the_deploy_role_may_approve_its_own_stacks_model_versions_only decides it against the template's "
    "role, tests/lambdas/test_run_lifecycle.py approves one)",
    **{
        ("DeployEndpointRole", action): "endpoint autoscaling, only with AutoScalingMaxInstances above 0 "
        "(or when a target is left from that setting); the local flow keeps it off "
        "(tests/localmode/test_iam.py::test_the_deploy_role_may_scale_sagemaker_variants_and_no_other_target "
        "decides the requests against the template's role; tests/lambdas/test_deploy_autoscaling.py "
        "makes them)"
        for action in (
            "application-autoscaling:RegisterScalableTarget",
            "application-autoscaling:PutScalingPolicy",
            "application-autoscaling:DeregisterScalableTarget",
        )
    },
    **{
        ("DeployEndpointRole", action): "Application Auto Scaling creates its service-linked role and the "
        "target-tracking alarms as the caller of RegisterScalableTarget and PutScalingPolicy (moto does "
        "neither)"
        for action in ("iam:CreateServiceLinkedRole", "cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms")
    },
    ("TeardownRole", "application-autoscaling:DeregisterScalableTarget"): "only when the deleted endpoint "
    "was autoscaled (tests/lambdas/test_deploy_autoscaling.py deletes one)",
    ("TeardownRole", "cloudwatch:DeleteAlarms"): "Application Auto Scaling deletes the target-tracking "
    "alarms as the caller of DeregisterScalableTarget (moto makes none for SageMaker)",
    ("TeardownRole", "sagemaker:StopTrainingJob"): "reached only while a job still trains at delete "
    "(test_teardown.py::test_delete_purge_leaves_nothing_behind does that under the gate)",
    ("TrainTriggerRole", "sagemaker:CreateModelPackageGroup"): "the stack's custom resource creates the "
    "model package group; the Train stage creates it again only if someone deleted it "
    "(tests/lambdas/test_run_lifecycle.py registers into a missing group; tests/localmode/test_iam.py::"
    "test_the_train_trigger_registers_tagged_versions_and_prices_anywhere_but_untagged_is_denied decides "
    "it against the template's role)",
    ("JobEventsRole", "sns:Publish"): "the outcome email is the Train stage's to send; job_events sends it "
    "only when the Train stage could not (SNS failed) or can no longer come (24 hours), and the "
    "AccessDenied email (tests/lambdas/test_run_lifecycle.py::test_job_events_sends_the_email_the_train_"
    "stage_could_not, tests/lambdas/test_job_events.py)",
}


def granted(role: str) -> list[tuple[int, int, str]]:
    """(policy index, statement index, action) of every action the template's role allows."""
    properties = load_template(ROOT / "template" / "sagemaker-pipeline.yaml")["Resources"][role]["Properties"]
    found = []
    for policy_index, policy in enumerate(properties["Policies"]):
        for statement_index, statement in enumerate(policy["PolicyDocument"]["Statement"]):
            if statement["Effect"] != "Allow":
                continue
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            found += [(policy_index, statement_index, action) for action in actions]
    return found


GRANTED = [(role, *entry) for role in FUNCTION_ROLES + SERVICE_ROLES for entry in granted(role)]
MATRIX = [entry for entry in GRANTED if (entry[0], entry[3]) not in EXEMPT]


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[IamGate, LocalPipeline]]:
    pipeline = quiet_pipeline(
        Path(tmp_path_factory.mktemp("iam-matrix")), parameters={"DataCapturePercent": "100"}
    )
    try:
        pipeline.start_services()
        pipeline.deploy()
        assert pipeline.run_push().status == "Failed"  # no data yet: fails at Train, emails the owner
        pipeline.seed_data()
        pipeline.start_data_trigger()
        pipeline.run_push()
        pipeline.upload(pipeline.settings.data_key, second_data_version(pipeline.settings.data_file))
        pipeline.play_pending(wait_seconds=20)  # the data trigger's run
        for _ in range(5):  # captured requests far from the training data: the drift check emails
            pipeline.predict("5.8,3.0,40.0,1.2")
        assert pipeline.run_drift_check()["status"] == "drift"
        for _ in range(2):  # the fourth deploy prunes the oldest release (the template keeps three)
            assert pipeline.run_push().status == "Succeeded"
        pipeline.settings.package = ROOT / "examples" / "iris_failing"
        assert pipeline.run_push().status == "Failed"
        pipeline.delete(purge=True)
        assert pipeline.iam_gate is not None
        yield pipeline.iam_gate, pipeline
    finally:
        pipeline.close()


def without(simulation: Simulation, policy_index: int, statement_index: int, action: str) -> Simulation:
    policies: list[dict[str, Any]] = copy.deepcopy(simulation.identity_policies)
    statement = policies[policy_index]["policy"]["Statement"][statement_index]
    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
    statement["Action"] = [kept for kept in actions if kept != action] or ["none:NoAction"]
    return Simulation(
        simulation.principal,
        simulation.action,
        simulation.resource,
        simulation.account_id,
        simulation.context,
        policies,
        simulation.permission_boundaries,
        simulation.resource_policy,
    )


def test_the_unmodified_template_authorises_every_request(played):
    gate, _pipeline = played
    assert gate.denials == []
    roles = {logical_role(role) for role, _simulation, _result in gate.decided}
    # SageMaker's own S3 requests, CodePipeline's, CodeBuild's and EventBridge's deliveries too
    assert roles == {*FUNCTION_ROLES, *SERVICE_ROLES, "SageMakerExecutionRole", "events.amazonaws.com"}


@pytest.mark.parametrize(("role", "policy_index", "statement_index", "action"), MATRIX)
def test_each_granted_action_is_needed(played, role, policy_index, statement_index, action):
    if action in EXEMPT:
        pytest.skip(f"exempt: {EXEMPT[action]}")
    gate, pipeline = played
    recorded = [
        simulation
        for role_name, simulation, result in gate.decided
        if logical_role(role_name) == role and result == "Allowed" and simulation.action == action
    ]
    assert recorded, f"{role} is granted {action} but the flow never asked for it: remove it or exempt it"
    engine = pipeline.iam_engine
    denied = [
        simulation
        for simulation in recorded
        if engine.decide(without(simulation, policy_index, statement_index, action)) != "Allowed"
    ]
    assert denied, f"{role}: {action} is granted twice; this statement's grant is never needed"
