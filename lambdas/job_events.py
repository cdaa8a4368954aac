"""job_events: EventBridge "SageMaker Training Job State Change" -> run item + one email per outcome.

- Only this stack's jobs: the event's ``Tags`` must carry ``sagemaker-pipeline:stack = STACK_NAME``
  (when the event has no tags, the name must start with this stack's resource prefix), and the
  run is found through the GSI ``by-training-job``. Anything else is ignored with one log line.
- Writes are conditional on the item's ``training_job_name`` being this job, so events of an
  earlier attempt never touch a later one:
  * InProgress/Stopping: status InProgress only while the status is Pending/InProgress;
  * Completed/Failed/Stopped: only from a non-terminal status, so a duplicate or late event never
    changes a terminal status. Failure reason, final metrics, artifact URI + S3 version, billable
    seconds and times are written with it.
- Email: after the terminal status is on the item, a second conditional write claims the email
  (``notified_job = <job name>``, only if not already claimed for this job); the claimer publishes.
  If publishing fails the claim is released and the error re-raised, so Lambda's retry sends it:
  one email per terminal state even with duplicate events or several recorders (train_trigger
  records terminal states it sees while polling through ``record_training_state``).
- Links in the email are built for the region's partition (console domain per partition).
- Malformed or foreign events are logged and ignored (never raised). A missing environment
  variable or an AWS error after the client's retries is raised, so the invocation counts as an
  error and EventBridge's asynchronous retry runs it again (all writes are idempotent).
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import boto3
import common
from botocore.exceptions import BotoCoreError, ClientError

HANDLER = "job_events"
DETAIL_TYPE = "SageMaker Training Job State Change"
TRAINING_INDEX = "by-training-job"
STATUSES = ("InProgress", "Stopping", "Completed", "Failed", "Stopped")
_JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_CONSOLE_DOMAINS = {
    "aws": "https://{region}.console.aws.amazon.com",
    "aws-cn": "https://console.amazonaws.cn",
    "aws-us-gov": "https://console.amazonaws-us-gov.com",
}


def _timestamp(value: Any) -> str:
    """ISO-8601 UTC from epoch milliseconds (number or digit string), a datetime or ISO text."""
    if isinstance(value, datetime.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
        return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, str) and re.fullmatch(r"\d{10,16}(\.\d+)?", value.strip()):
        value = float(value)
    if isinstance(value, int | float) and math.isfinite(value) and 0 < value < 1e14:
        return datetime.datetime.fromtimestamp(value / 1000, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:?\d\d)?", value.strip()):
        return value.strip()
    return ""


@dataclass(frozen=True)
class TrainingJobState:
    name: str
    arn: str
    status: str
    secondary_status: str = ""
    failure_reason: str = ""
    artifact_uri: str = ""
    metrics: dict[str, Decimal] = field(default_factory=dict)
    started_at: str = ""
    ended_at: str = ""
    billable_seconds: int | None = None
    stack_tag: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status in common.TERMINAL_TRAINING_STATUSES

    @classmethod
    def from_description(cls, detail: Mapping[str, Any], tags: Any = None) -> TrainingJobState:
        """From a DescribeTrainingJob response or an event's ``detail`` (same field names)."""
        name = detail.get("TrainingJobName")
        status = detail.get("TrainingJobStatus")
        if not isinstance(name, str) or not _JOB_NAME.match(name):
            raise common.ConfigurationError("TrainingJobName is missing or not a training job name")
        if status not in STATUSES:
            raise common.ConfigurationError(
                f"TrainingJobStatus {str(status)[:40]!r} is not a training job status"
            )
        metrics: dict[str, Decimal] = {}
        metric_list = detail.get("FinalMetricDataList")
        for metric in metric_list if isinstance(metric_list, list) else []:
            if not isinstance(metric, Mapping):
                continue
            metric_name, value = metric.get("MetricName"), metric.get("Value")
            if (
                isinstance(metric_name, str)
                and isinstance(value, int | float)
                and not isinstance(value, bool)
            ):
                if math.isfinite(value):
                    metrics[metric_name[:255]] = Decimal(str(value))
        artifacts = detail.get("ModelArtifacts")
        artifact = artifacts.get("S3ModelArtifacts", "") if isinstance(artifacts, Mapping) else ""
        billable = detail.get("BillableTimeInSeconds")
        stack_tag = tags.get(common.STACK_TAG) if isinstance(tags, Mapping) else None
        text = {
            key: detail.get(key) if isinstance(detail.get(key), str) else ""
            for key in ("TrainingJobArn", "SecondaryStatus", "FailureReason")
        }
        return cls(
            name=name,
            arn=text["TrainingJobArn"],
            status=status,
            secondary_status=text["SecondaryStatus"],
            failure_reason=text["FailureReason"][:2000],
            artifact_uri=artifact if isinstance(artifact, str) and artifact.startswith("s3://") else "",
            metrics=metrics,
            started_at=_timestamp(detail.get("TrainingStartTime")),
            ended_at=_timestamp(detail.get("TrainingEndTime")),
            billable_seconds=billable
            if isinstance(billable, int) and not isinstance(billable, bool)
            else None,
            stack_tag=stack_tag if isinstance(stack_tag, str) else None,
        )


@dataclass(frozen=True)
class RecordSettings:
    stack_name: str
    artifact_bucket: str
    topic_arn: str
    table_name: str = ""


@dataclass(frozen=True)
class RecordServices:
    table: Any
    s3: Any


def artifact_version(s3: Any, uri: str, artifact_bucket: str, log: common.Log) -> str:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if bucket != artifact_bucket or not key:
        return ""
    try:
        return s3.head_object(Bucket=bucket, Key=key).get("VersionId") or ""
    except (ClientError, BotoCoreError) as error:
        log.warning("model artifact version unknown", error=common.describe_error(error))
        return ""


def _condition_failed(error: ClientError) -> bool:
    return common.error_code(error) == "ConditionalCheckFailedException"


def record_training_state(
    state: TrainingJobState, run_id: str, settings: RecordSettings, services: RecordServices, log: common.Log
) -> str:
    """Write the state on the run item; returns what happened (for logs and tests)."""
    now = common.now_iso()
    if not state.terminal:
        attributes = {"status": "InProgress", "training_job_arn": state.arn, "updated_at": now}
        if state.started_at:
            attributes["started_at"] = state.started_at
        try:
            common.update_item(
                services.table,
                run_id,
                attributes,
                "training_job_name = :name AND #status IN (:pending, :in_progress)",
                name=state.name,
                pending="Pending",
                in_progress="InProgress",
            )
        except ClientError as error:
            if not _condition_failed(error):
                raise
            log.info("stale or out-of-order event ignored", status=state.status)
            return "stale"
        return "in-progress"
    attributes: dict[str, Any] = {"status": state.status, "updated_at": now, "final_metrics": state.metrics}
    optional = {
        "training_job_arn": state.arn,
        "failure_reason": state.failure_reason,
        "model_artifact_uri": state.artifact_uri if state.status == "Completed" else "",
        "started_at": state.started_at,
        "ended_at": state.ended_at or now,
        "billable_seconds": state.billable_seconds,
    }
    attributes.update({key: value for key, value in optional.items() if value not in ("", None)})
    if attributes.get("model_artifact_uri"):
        version = artifact_version(services.s3, state.artifact_uri, settings.artifact_bucket, log)
        if version:
            attributes["model_artifact_version"] = version
    outcome = "recorded"
    try:
        common.update_item(
            services.table,
            run_id,
            attributes,
            "training_job_name = :name"
            " AND (attribute_not_exists(#status) OR #status IN (:pending, :in_progress))",
            name=state.name,
            pending="Pending",
            in_progress="InProgress",
        )
        log.info("terminal status recorded", status=state.status)
    except ClientError as error:
        if not _condition_failed(error):
            raise
        log.info("terminal status already recorded; duplicate or late event", status=state.status)
        outcome = "duplicate"
    if settings.topic_arn and notify_once(state, run_id, settings, services.table, log):
        outcome += "+notified"
    return outcome


def notify_once(
    state: TrainingJobState, run_id: str, settings: RecordSettings, table: Any, log: common.Log
) -> bool:
    """Claim and send the email for this job's terminal state; False when someone else did."""
    try:
        item = common.update_item(
            table,
            run_id,
            {"notified_job": state.name},
            "training_job_name = :name AND #status IN (:completed, :failed, :stopped)"
            " AND (attribute_not_exists(notified_job) OR notified_job <> :name)",
            name=state.name,
            completed="Completed",
            failed="Failed",
            stopped="Stopped",
        )
    except ClientError as error:
        if not _condition_failed(error):
            raise
        return False
    subject, body = email_text(item, settings, region())
    try:
        common.client("sns").publish(TopicArn=settings.topic_arn, Subject=subject, Message=body)
    except (ClientError, BotoCoreError):
        table.update_item(
            Key={"run_id": run_id},
            UpdateExpression="REMOVE notified_job",
            ConditionExpression="notified_job = :name",
            ExpressionAttributeValues={":name": state.name},
        )
        raise
    log.info("outcome email sent", subject=subject)
    return True


def region() -> str:
    return boto3.session.Session().region_name or "us-east-1"


def console_base(region_name: str) -> str:
    partition = boto3.session.Session().get_partition_for_region(region_name)
    return _CONSOLE_DOMAINS.get(partition, _CONSOLE_DOMAINS["aws"]).format(region=region_name)


def email_text(item: Mapping[str, Any], settings: RecordSettings, region_name: str) -> tuple[str, str]:
    """Subject and plain-text body of the outcome email, from the run item."""
    job = str(item.get("training_job_name", ""))
    status = str(item.get("status", ""))
    subject = f"[{settings.stack_name}] Training {status}: {job}"
    if len(subject) > 100:
        subject = subject[:97] + "..."
    instance = item.get("instance_config") or {}
    trigger = str(item.get("trigger", "") or "unknown")
    if item.get("trigger_detail"):
        trigger += f" ({item['trigger_detail']})"
    source = str(item.get("git_repository", ""))
    if item.get("git_branch"):
        source += f", branch {item['git_branch']}"
    lines = [
        f"Training job {job} {status.lower()}.",
        "",
        f"Stack:          {settings.stack_name}",
        f"Run id:         {item.get('run_id', '')}",
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
    if status != "Completed":
        reason = str(item.get("failure_reason", "") or "none given (stopped)")
        lines += ["", f"Failure reason: {reason}"]
        if "capacity" in reason.lower():
            lines.append(
                "What to do:     change the stack parameter TrainingInstanceType or TrainingInstanceCount, "
                "or set UseSpotTraining=false"
            )
    metrics = item.get("final_metrics") or {}
    lines += ["", "Final metrics:" if metrics else "Final metrics:  none reported"]
    lines += [f"  {name} = {value}" for name, value in sorted(metrics.items())]
    if item.get("model_artifact_uri"):
        version = item.get("model_artifact_version")
        lines += [
            "",
            f"Model artifact: {item['model_artifact_uri']}" + (f" (version {version})" if version else ""),
        ]
    base = console_base(region_name)
    log_group = "$252Faws$252Fsagemaker$252FTrainingJobs"
    lines += [
        "",
        "Links:",
        f"  Training job: {base}/sagemaker/home?region={region_name}#/jobs/{job}",
        f"  Logs:         {base}/cloudwatch/home?region={region_name}#logsV2:log-groups/log-group/"
        f"{log_group}$3FlogStreamNameFilter$3D{job}",
    ]
    if settings.table_name:
        lines.append(
            f"  Run record:   {base}/dynamodbv2/home?region={region_name}#edit-item?"
            f"table={settings.table_name}&itemMode=2&pk={item.get('run_id', '')}"
        )
    return subject, "\n".join(lines) + "\n"


def find_run_id(table: Any, job_name: str) -> str:
    response = table.query(
        IndexName=TRAINING_INDEX,
        KeyConditionExpression="training_job_name = :name",
        ExpressionAttributeValues={":name": job_name},
    )
    items = [item for item in response.get("Items", []) if not str(item.get("run_id", "#")).startswith("#")]
    return str(items[0]["run_id"]) if items else ""


def handle_event(event: Any, services: RecordServices, settings: RecordSettings, log: common.Log) -> str:
    detail = event.get("detail") if isinstance(event, Mapping) else None
    if (
        not isinstance(event, Mapping)
        or event.get("detail-type") != DETAIL_TYPE
        or not isinstance(detail, Mapping)
    ):
        log.warning("not a SageMaker Training Job State Change event; ignored")
        return "ignored"
    try:
        state = TrainingJobState.from_description(detail, detail.get("Tags"))
    except common.ConfigurationError as error:
        log.warning("malformed training job event ignored", reason=str(error))
        return "ignored"
    log.bind(training_job_name=state.name)
    foreign_tag = state.stack_tag is not None and state.stack_tag != settings.stack_name
    if foreign_tag or (
        state.stack_tag is None and not state.name.startswith(common.resource_prefix(settings.stack_name))
    ):
        log.info("training job of another stack ignored")
        return "ignored"
    run_id = find_run_id(services.table, state.name)
    if not run_id:
        log.info("no run item for this training job; ignored")
        return "ignored"
    log.bind(run_id=run_id)
    return record_training_state(state, run_id, settings, services, log)


def handler(event: Any, context: Any) -> dict[str, str]:
    log = common.Log(HANDLER)
    try:
        settings = RecordSettings(
            stack_name=common.env_text("STACK_NAME"),
            artifact_bucket=common.env_text("MODEL_ARTIFACT_BUCKET"),
            topic_arn=common.env_text("NOTIFICATION_TOPIC_ARN"),
            table_name=common.env_text("METADATA_TABLE"),
        )
    except common.ConfigurationError as error:
        log.error("bad configuration; event not recorded", reason=str(error))
        raise
    services = RecordServices(common.table(settings.table_name), common.client("s3"))
    return {"outcome": handle_event(event, services, settings, log)}
