"""Emails through the stack's SNS topic: the training outcome, and a refused AWS action."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from common import clients, failure_report
from common.errors import describe_error, is_access_denied, missing_permission
from common.logs import Log
from common.settings import env_text

MAX_SUBJECT_CHARS = 100
_CONSOLE_DOMAINS = {
    "aws": "https://{region}.console.aws.amazon.com",
    "aws-cn": "https://console.amazonaws.cn",
    "aws-us-gov": "https://console.amazonaws-us-gov.com",
}


def _subject(text: str) -> str:
    """SNS subjects: ASCII, one line, at most 100 characters."""
    subject = " ".join(text.split()).encode("ascii", "replace").decode("ascii")
    return subject if len(subject) <= MAX_SUBJECT_CHARS else subject[: MAX_SUBJECT_CHARS - 3] + "..."


def publish(topic_arn: str, subject: str, body: str, log: Log) -> bool:
    """Send an email through the notification topic; False (logged) when it cannot be sent."""
    if not topic_arn:
        log.warning("no notification topic configured; email not sent", subject=subject)
        return False
    subject = _subject(subject)
    try:
        clients.client("sns").publish(TopicArn=topic_arn, Subject=subject, Message=body[:200_000])
    except (ClientError, BotoCoreError) as error:
        log.error("notification email not sent", error=describe_error(error))
        return False
    log.info("notification email sent", subject=subject)
    return True


def access_denied(topic_arn: str, stack_name: str, error: BaseException, log: Log) -> None:
    """AccessDenied means the template's role is wrong: tell a person, naming the action."""
    if isinstance(error, ClientError) and is_access_denied(error):
        action = missing_permission(error)
        body = (
            f"A pipeline function of stack {stack_name} was refused an AWS action.\n\n"
            f"Missing permission: {action}\n"
            f"Operation: {error.operation_name}\n"
            f"Error: {error.response.get('Error', {}).get('Message', '')}\n\n"
            "Grant this action to the function's role in the stack template (or the role that was "
            "passed in), update the stack, then retry the failed pipeline stage."
        )
        publish(topic_arn, f"[{stack_name}] Permission missing: {action}", body, log)


def access_denied_to_owner(error: BaseException, log: Log) -> None:
    """``access_denied`` to the stack's own topic (the pipeline handlers' environment names it)."""
    stack_name = env_text("STACK_NAME", required=False) or "sagemaker-pipeline"
    access_denied(env_text("NOTIFICATION_TOPIC_ARN", required=False), stack_name, error, log)


def region() -> str:
    return boto3.session.Session().region_name or "us-east-1"


def console_base(region_name: str) -> str:
    partition = boto3.session.Session().get_partition_for_region(region_name)
    return _CONSOLE_DOMAINS.get(partition, _CONSOLE_DOMAINS["aws"]).format(region=region_name)


def training_outcome_email(
    item: Mapping[str, Any], stack_name: str, table_name: str, region_name: str
) -> tuple[str, str]:
    """Subject and plain-text body of the outcome email, from the run item.

    A run that failed before starting a training job (no ``training_job_name``) is named by its
    run id, without the links to a job.
    """
    job = str(item.get("training_job_name", ""))
    status = str(item.get("status", ""))
    run_id = str(item.get("run_id", ""))
    subject = f"[{stack_name}] Training {status}: {job or f'run {run_id}'}"
    if len(subject) > MAX_SUBJECT_CHARS:
        subject = subject[: MAX_SUBJECT_CHARS - 3] + "..."
    instance = item.get("instance_config") or {}
    trigger = str(item.get("trigger", "") or "unknown")
    if item.get("trigger_detail"):
        trigger += f" ({item['trigger_detail']})"
    source = str(item.get("git_repository", ""))
    if item.get("git_branch"):
        source += f", branch {item['git_branch']}"
    headline = (
        f"Training job {job} {status.lower()}."
        if job
        else f"Training of run {run_id} {status.lower()} before a training job was started."
    )
    lines = [
        headline,
        "",
        f"Stack:          {stack_name}",
        f"Run id:         {run_id}",
        f"Trigger:        {trigger}",
        f"Git commit:     {item.get('git_commit', '') or 'unknown'}" + (f" ({source})" if source else ""),
        f"Image:          {item.get('image_uri', '')}",
    ]
    if instance:
        spot = " (spot)" if instance.get("use_spot") else ""
        lines.append(
            f"Instances:      {instance.get('instance_count')} x {instance.get('instance_type')}{spot}"
        )
    lines += [
        f"Started:        {item.get('started_at', '')}",
        f"Ended:          {item.get('ended_at', '')}",
        f"Billable time:  {item.get('billable_seconds', 'unknown')} s",
    ]
    lines += cost_lines(item, status == "Completed")
    lines += success_lines(item, region_name) if status == "Completed" else []
    if status != "Completed":
        reason = str(item.get("failure_reason", "") or "none given (stopped)")
        first, *explaining = reason.splitlines()
        lines += ["", f"Failure reason: {first}", *(f"                {line}" for line in explaining)]
        if "capacity" in reason.lower():
            lines.append(
                "What to do:     change the stack parameter TrainingInstanceType or TrainingInstanceCount, "
                "or set UseSpotTraining=false"
            )
        tail = failure_report.log_tail_lines(item)
        lines += ["", *tail] if tail else []
    metrics = item.get("final_metrics") or {}
    lines += ["", "Final metrics:" if metrics else "Final metrics:  none reported"]
    lines += [f"  {name} = {value}" for name, value in sorted(metrics.items())]
    warnings = item.get("warnings") or []
    if warnings:
        lines += ["", "Warnings:"]
        lines += [f"  - {warning}" for warning in warnings]
    if item.get("model_artifact_uri"):
        version = item.get("model_artifact_version")
        lines += [
            "",
            f"Model artifact: {item['model_artifact_uri']}" + (f" (version {version})" if version else ""),
        ]
    links = failure_report.console_links(item, stack_name, table_name, region_name, console_base(region_name))
    if links:
        lines += ["", "Links:", *links]
    return subject, "\n".join(lines) + "\n"


def cost_lines(item: Mapping[str, Any], with_endpoint: bool) -> list[str]:
    """The run's recorded cost (common.pricing): every ended job's, and the endpoint's hourly price
    for a model that is to be deployed."""
    cost = item.get("cost") or {}
    if not cost:
        return []
    price = cost.get("training_price", "unknown")
    lines = [f"Training cost:  {cost_text(cost.get('training_usd'))} at {price}"]
    if with_endpoint:
        lines.append(f"Endpoint price: {cost_text(cost.get('endpoint_usd_per_hour'))} per hour")
    return lines


def success_lines(item: Mapping[str, Any], region_name: str) -> list[str]:
    """Model version and endpoint of a completed run, as far as its item knows them."""
    lines = []
    if item.get("model_version"):
        lines.append(
            f"Model version:  {item['model_version']} ({item.get('model_approval_status', '')}) "
            f"{item.get('model_package_arn', '')}"
        )
    endpoint = item.get("endpoint_name") or item.get("target_endpoint")
    if endpoint and item.get("model_approval_status") != "Rejected":
        lines += [
            f"Endpoint:       {endpoint} ({item.get('deploy_status', 'not deployed yet')})",
            "Invoke:         aws sagemaker-runtime invoke-endpoint --region "
            f"{region_name} --endpoint-name {endpoint} --content-type text/csv "
            "--body fileb://payload.csv /dev/stdout",
        ]
    return lines


def cost_text(value: Any) -> str:
    return "unknown" if value in (None, "", "unknown") else f"{value} USD"


def rollback_email(
    rollback: Mapping[str, Any], stack_name: str, run_id: str, region_name: str
) -> tuple[str, str]:
    """Subject and body of the email sent when the Deploy stage's update was rolled back (or the
    rollback failed): which release the endpoint serves now, and why."""
    endpoint, status = str(rollback.get("endpoint", "")), str(rollback.get("status", ""))
    done = status == "RolledBack"
    subject = _subject(
        f"[{stack_name}] Deploy rolled back: {endpoint}"
        if done
        else f"[{stack_name}] Deploy rollback FAILED: {endpoint}"
    )
    headline = (
        f"Endpoint {endpoint} was rolled back to {rollback.get('to_config', '')}: it serves the release it "
        "served before this run."
        if done
        else f"Endpoint {endpoint} could not be rolled back to {rollback.get('to_config', '')}: check what "
        "it serves before sending it traffic."
    )
    lines = [
        headline,
        "",
        f"Stack:          {stack_name}",
        f"Run id:         {run_id}",
        f"Rolled back:    {rollback.get('from_config', '')} (this run's release)",
        f"Serving now:    {rollback.get('to_config', '') if done else 'unknown'}",
        f"Rolled back by: {rollback.get('by', '')}",
        f"Reason:         {rollback.get('reason', '') or 'none given'}",
        "",
        f"Endpoint:       {console_base(region_name)}/sagemaker/home?region={region_name}"
        f"#/endpoints/{endpoint}",
    ]
    return subject, "\n".join(lines) + "\n"
