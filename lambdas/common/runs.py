"""The run record: one DynamoDB item per pipeline execution, key ``run_id`` (docs/contracts.md).

Writes are conditional so that a late or duplicate event never overwrites a terminal status:
- a training job's InProgress/Stopping state is written only while the item is Pending/InProgress;
- its terminal state (Completed/Failed/Stopped), with failure reason, final metrics, artifact URI +
  S3 version, billable seconds and times, only from a non-terminal status;
- and only while the item's ``training_job_name`` is this job, so an earlier attempt's events never
  touch a later one.
A run that fails before any training job is started (``record_failure_before_training``: no data)
gets status Failed with the reason and the same outcome email, once per CodePipeline job.
The outcome email is claimed by a second conditional write (``notified_job = <job name>``) and
sent by whoever claimed it; when publishing fails the claim is released and the error re-raised
so a retry sends it: one email per terminal state, whoever records it (job_events on the
EventBridge event, train_trigger while polling). The Train stage sends it once it has recorded the
run's cost and model version (``lifecycle_job = <job name>``), so that the email carries them:
job_events claims it only after that, or when the Train stage can no longer come (its CodePipeline
job started more than ``TRAIN_STAGE_WINDOW_SECONDS`` ago, or the item predates the marker).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from common import clients, failure_report, failure_text, notify
from common.errors import describe_error, is_condition_failed
from common.logs import Log
from common.metric_warnings import declared, metric_warnings
from common.training_state import FAILURE_REASON_LIMIT, TrainingJobState

TRAINING_INDEX = "by-training-job"
# CodePipeline fails a Lambda invoke action still in progress 24 hours after it started.
TRAIN_STAGE_WINDOW_SECONDS = 24 * 3600


def to_dynamo(value: Any) -> Any:
    """Python values as the DynamoDB resource API accepts them (floats as Decimal)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, Mapping):
        return {str(key): to_dynamo(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_dynamo(item) for item in value]
    return value


def now_iso(clock: Callable[[], float] = time.time) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(clock()))


def update_item(
    table: Any, run_id: str, attributes: Mapping[str, Any], condition: str = "", **values: Any
) -> Any:
    """UpdateItem SET of ``attributes`` with an optional condition; returns the new item."""
    names = {f"#a{index}": key for index, key in enumerate(attributes)}
    expression_values = {f":a{index}": to_dynamo(value) for index, value in enumerate(attributes.values())}
    expression_values.update({f":{key}": to_dynamo(value) for key, value in values.items()})
    names.update({f"#{key}": key for key in ("status", "training_job_name") if f"#{key}" in condition})
    request: dict[str, Any] = {
        "Key": {"run_id": run_id},
        "UpdateExpression": "SET " + ", ".join(f"#a{index} = :a{index}" for index in range(len(attributes))),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": expression_values,
        "ReturnValues": "ALL_NEW",
    }
    if condition:
        request["ConditionExpression"] = condition
    return table.update_item(**request).get("Attributes", {})


def read_item(table: Any, run_id: str) -> dict[str, Any]:
    """The run item (consistent read), {} when there is none."""
    return table.get_item(Key={"run_id": run_id}, ConsistentRead=True).get("Item", {})


def find_run_id(table: Any, job_name: str) -> str:
    """The run whose training job is ``job_name`` (through the GSI), "" when there is none."""
    response = table.query(
        IndexName=TRAINING_INDEX,
        KeyConditionExpression="training_job_name = :name",
        ExpressionAttributeValues={":name": job_name},
    )
    items = [item for item in response.get("Items", []) if not str(item.get("run_id", "#")).startswith("#")]
    return str(items[0]["run_id"]) if items else ""


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
    logs: Any = None  # CloudWatch Logs, for the last lines of a log that missed a declared metric
    cloudwatch: Any = None  # the pipeline's metrics (common.pipeline_metrics), from job_events


def artifact_version(s3: Any, uri: str, artifact_bucket: str, log: Log) -> str:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if bucket != artifact_bucket or not key:
        return ""
    try:
        return s3.head_object(Bucket=bucket, Key=key).get("VersionId") or ""
    except (ClientError, BotoCoreError) as error:
        log.warning("model artifact version unknown", error=describe_error(error))
        return ""


def record_training_state(
    state: TrainingJobState,
    run_id: str,
    settings: RecordSettings,
    services: RecordServices,
    log: Log,
    *,
    wait_for_train_stage: bool = False,
) -> str:
    """Write the state on the run item; returns what happened (for logs and tests).

    ``wait_for_train_stage`` (job_events): leave the outcome email to the Train stage while it can
    still record the run's cost and model version (module docstring)."""
    now = now_iso()
    if not state.terminal:
        attributes = {"status": "InProgress", "training_job_arn": state.arn, "updated_at": now}
        if state.started_at:
            attributes["started_at"] = state.started_at
        try:
            update_item(
                services.table,
                run_id,
                attributes,
                "training_job_name = :name AND #status IN (:pending, :in_progress)",
                name=state.name,
                pending="Pending",
                in_progress="InProgress",
            )
        except ClientError as error:
            if not is_condition_failed(error):
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
    if state.status != "Completed":
        attributes.update(failure_report.log_tail(services.logs, state.name, log))
    if state.status == "Completed" and state.metric_definitions:
        # Written with the terminal state, so whoever sends the email sees them.
        warnings = metric_warnings(state.name, state.metric_definitions, state.metrics, services.logs, log)
        if warnings:
            attributes["warnings"] = warnings
    if attributes.get("model_artifact_uri"):
        version = artifact_version(services.s3, state.artifact_uri, settings.artifact_bucket, log)
        if version:
            attributes["model_artifact_version"] = version
    outcome = "recorded"
    try:
        item = update_item(
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
        if state.status == "Completed" and not state.metric_definitions:
            record_item_warnings(item, state, run_id, services, log)
    except ClientError as error:
        if not is_condition_failed(error):
            raise
        log.info("terminal status already recorded; duplicate or late event", status=state.status)
        outcome = "duplicate"
    if settings.topic_arn and notify_once(
        state, run_id, settings, services.table, log, wait_for_train_stage=wait_for_train_stage
    ):
        outcome += "+notified"
    return outcome


def record_item_warnings(
    item: Mapping[str, Any], state: TrainingJobState, run_id: str, services: RecordServices, log: Log
) -> None:
    """The warnings from the definitions train_trigger recorded on the item, for a state that carries
    none (an event whose detail leaves AlgorithmSpecification.MetricDefinitions out)."""
    definitions = declared(item.get("metric_definitions"))
    warnings = metric_warnings(state.name, definitions, state.metrics, services.logs, log)
    if warnings:
        update_item(
            services.table, run_id, {"warnings": warnings}, "training_job_name = :name", name=state.name
        )


def notify_once(
    state: TrainingJobState,
    run_id: str,
    settings: RecordSettings,
    table: Any,
    log: Log,
    *,
    wait_for_train_stage: bool = False,
    clock: Callable[[], float] = time.time,
) -> bool:
    """Claim and send the email for this job's terminal state; False when someone else did (or, with
    ``wait_for_train_stage``, will)."""
    condition = (
        "training_job_name = :name AND #status IN (:completed, :failed, :stopped)"
        " AND (attribute_not_exists(notified_job) OR notified_job <> :name)"
    )
    values: dict[str, Any] = {
        "name": state.name,
        "completed": "Completed",
        "failed": "Failed",
        "stopped": "Stopped",
    }
    if wait_for_train_stage:
        condition += (
            " AND (lifecycle_job = :name OR attribute_not_exists(codepipeline_job_started_at)"
            " OR codepipeline_job_started_at < :train_stage_gone)"
        )
        values["train_stage_gone"] = now_iso(lambda: clock() - TRAIN_STAGE_WINDOW_SECONDS)
    try:
        item = update_item(table, run_id, {"notified_job": state.name}, condition, **values)
    except ClientError as error:
        if not is_condition_failed(error):
            raise
        if wait_for_train_stage:
            log.info("outcome email sent, or left to the Train stage to send with the run's cost")
        return False
    subject, body = notify.training_outcome_email(
        item, settings.stack_name, settings.table_name, notify.region()
    )
    try:
        clients.client("sns").publish(TopicArn=settings.topic_arn, Subject=subject, Message=body)
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


def record_failure_before_training(
    run_id: str,
    attributes: Mapping[str, Any],
    reason: str,
    codepipeline_job_id: str,
    settings: RecordSettings,
    table: Any,
    log: Log,
) -> str:
    """Status Failed with ``reason`` (and ``attributes``) on a run whose training job was never
    started, and the outcome email; a repeated invocation of the same CodePipeline job is a no-op.

    The item keeps an earlier attempt's ``training_job_name`` (the attempt rule of train_trigger
    needs it); the email names the run, not that job.
    """
    now = now_iso()
    try:
        item = update_item(
            table,
            run_id,
            {
                **attributes,
                "status": "Failed",
                "failure_reason": failure_text.cap(reason, FAILURE_REASON_LIMIT),
                "ended_at": now,
                "updated_at": now,
                "failed_before_training": codepipeline_job_id,
            },
            "attribute_not_exists(failed_before_training) OR failed_before_training <> :job",
            job=codepipeline_job_id,
        )
    except ClientError as error:
        if not is_condition_failed(error):
            raise
        log.info("failure already recorded by this CodePipeline job")
        return "duplicate"
    log.info("failure recorded before any training job", status="Failed")
    if not settings.topic_arn:
        return "recorded"
    subject, body = notify.training_outcome_email(
        {**item, "training_job_name": ""}, settings.stack_name, settings.table_name, notify.region()
    )
    return "recorded+notified" if notify.publish(settings.topic_arn, subject, body, log) else "recorded"
