"""Failure emails that explain (lambdas/common/failure_report.py): the last 20 lines of the job's own
log stream and console links to the job, the stream, the pipeline execution and the run record; a log
that cannot be read is said so."""

from __future__ import annotations

import time

import job_events
import pytest
from botocore.exceptions import ClientError
from common import clients, failure_report, notify
from common.logs import Log
from lambda_helpers import EXECUTION_ID, JOB_NAME, TABLE, load_event

from tests.lambdas.test_job_events import run  # noqa: F401 - the run item fixture

STREAM = f"{JOB_NAME}/algo-1-1583831889"


def write_log(lines: int) -> None:
    logs = clients.client("logs")
    now = int(time.time() * 1000)  # CloudWatch refuses events older than 14 days
    logs.create_log_group(logGroupName="/aws/sagemaker/TrainingJobs")
    logs.create_log_stream(logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=STREAM)
    logs.put_log_events(
        logGroupName="/aws/sagemaker/TrainingJobs",
        logStreamName=STREAM,
        logEvents=[{"timestamp": now + n, "message": f"line {n}"} for n in range(lines)],
    )


def test_a_failure_email_has_the_last_20_log_lines_and_the_four_links(aws, run):  # noqa: F811
    write_log(30)
    job_events.handler(load_event("training_failed"), None)
    item = aws.item()
    assert item["log_stream"] == STREAM
    assert item["log_tail"] == [f"line {n}" for n in range(10, 30)]
    [(_subject, body)] = aws.emails()
    assert f"Last 20 lines of /aws/sagemaker/TrainingJobs {STREAM}:\n  line 10\n" in body
    assert "line 9\n" not in body
    base = "https://eu-west-1.console.aws.amazon.com"
    assert f"Training job:       {base}/sagemaker/home?region=eu-west-1#/jobs/{JOB_NAME}" in body
    assert (
        f"Log stream:         {base}/cloudwatch/home?region=eu-west-1#logsV2:log-groups/log-group/"
        f"$252Faws$252Fsagemaker$252FTrainingJobs/log-events/{JOB_NAME}$252Falgo-1-1583831889"
    ) in body
    assert (
        f"Pipeline execution: {base}/codesuite/codepipeline/pipelines/demo-stack/executions/"
        f"{EXECUTION_ID}/timeline?region=eu-west-1"
    ) in body
    assert f"Run record:         {base}/dynamodbv2/home?region=eu-west-1#edit-item?table={TABLE}" in body


def test_a_completed_run_carries_no_log_tail(aws, run):  # noqa: F811
    write_log(5)
    job_events.handler(load_event("training_completed"), None)
    assert "log_tail" not in aws.item()
    [(_subject, body)] = aws.emails()
    assert "Last " not in body and "Pipeline execution:" in body


def test_a_missing_log_stream_is_said_so(aws, run):  # noqa: F811
    job_events.handler(load_event("training_failed"), None)
    [(_subject, body)] = aws.emails()
    assert f"Training log: no log stream of {JOB_NAME} in /aws/sagemaker/TrainingJobs" in body


class DeniedLogs:
    def describe_log_streams(self, **_kwargs):
        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "denied"}}, "DescribeLogStreams"
        )


def test_a_log_the_role_may_not_read_is_said_so_and_the_email_still_goes():
    found = failure_report.log_tail(DeniedLogs(), JOB_NAME, Log("test"))
    assert found["log_tail_error"].startswith("the training log could not be read: Permission missing")
    item = {"run_id": "r", "status": "Failed", "training_job_name": JOB_NAME, **found}
    _subject, body = notify.training_outcome_email(item, "demo-stack", TABLE, "eu-west-1")
    assert "Training log: the training log could not be read" in body


@pytest.mark.parametrize("status", ["Completed"])
def test_a_success_email_has_the_version_the_cost_the_endpoint_and_an_invoke_command(status):
    item = {
        "run_id": "r",
        "status": status,
        "model_version": 3,
        "model_approval_status": "Approved",
        "model_package_arn": "arn:aws:sagemaker:eu-west-1:123456789012:model-package/demo-stack/3",
        "cost": {
            "training_usd": "0.0096",
            "training_price": "0.115 USD/hour (x)",
            "endpoint_usd_per_hour": "unknown",
        },
        "endpoint_name": "demo-stack-endpoint",
        "deploy_status": "InService",
    }
    _subject, body = notify.training_outcome_email(item, "demo-stack", TABLE, "eu-west-1")
    assert (
        "Model version:  3 (Approved) arn:aws:sagemaker:eu-west-1:123456789012:model-package/demo-stack/3"
        in body
    )
    assert "Training cost:  0.0096 USD at 0.115 USD/hour (x)" in body
    assert "Endpoint price: unknown per hour" in body
    assert (
        "--endpoint-name demo-stack-endpoint" in body
        and "Endpoint:       demo-stack-endpoint (InService)" in body
    )
