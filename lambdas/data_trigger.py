"""data_trigger: SQS batch of EventBridge "Object Created" events -> one pipeline execution per burst.

The event source mapping's batching window (DataTriggerQuietSeconds) gathers a burst of uploads
into one batch. Across batches (a burst split in two, or concurrent pollers), the bookkeeping item
``#data-trigger`` in the run table holds ``last_started_epoch``; starting a run is claimed with a
conditional write on the value read, so only one batch starts it.

Rule for each relevant upload (key under TRAINING_INPUT_PREFIX, not a folder marker, our bucket):
- *covered*: it was uploaded at least ``CLOCK_MARGIN_SECONDS`` before the last *confirmed* start
  (``confirmed_started_epoch``, written only after StartPipelineExecution answered). The started
  run lists the data at its Train stage, which runs after the start, so it includes the object.
  The record is acknowledged. A claim whose start was never confirmed (the function died between
  the two) covers nothing: its records come back from SQS and claim again after the quiet window
  with the same ``clientRequestToken``, so CodePipeline does not start the run twice.
- *fresh*, and the last start is at least QUIET_SECONDS ago: the batch claims the start and starts
  ONE execution for all its fresh uploads (variables TRIGGER=data, TRIGGER_DETAIL=keys, JSON-escaped
  because the template pastes it inside a JSON string, at most MAX_DETAIL_CHARS).
  ``clientRequestToken`` is derived from the message ids, so a redelivered batch cannot start a
  duplicate.
- *fresh*, inside the quiet window of the last start (or the claim was lost to another batch):
  the record is returned in ``batchItemFailures``; SQS redelivers it after the visibility timeout,
  when it is either covered by the run that just started or starts the next one. Nothing is lost;
  a record that keeps failing ends in the dead-letter queue.
Malformed records are returned as failures too (they end in the DLQ for inspection); records
outside the prefix, of another bucket, or folder markers are acknowledged and ignored.
If StartPipelineExecution fails, the claim is rolled back and the records are returned as failures.
A missing environment variable raises (the whole batch goes back to SQS, then to the DLQ).

The template must give the queue a VisibilityTimeout of at least QUIET_SECONDS (and at least six
times the function timeout, as Lambda requires) and a redrive policy with maxReceiveCount >= 5,
so deferred records come back after the quiet window and are not dead-lettered early.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from common import clients, runs
from common.errors import ConfigurationError, describe_error, is_condition_failed
from common.logs import Log
from common.settings import env_int, env_text

HANDLER = "data_trigger"
BOOKKEEPING_ID = "#data-trigger"
CLOCK_MARGIN_SECONDS = 2
# TRIGGER_DETAIL is pasted into the Train action's UserParameters, which CodePipeline caps at 1000
# characters after substitution; the template's text, the other variables, the registry's settings
# and the endpoint name at their longest leave 236 (tests/lambdas/test_trigger_variables.py computes it).
MAX_DETAIL_CHARS = 230
_EVENT_TIME = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?Z$")


@dataclass(frozen=True)
class DataTriggerSettings:
    table_name: str
    pipeline_name: str
    bucket: str
    prefix: str
    quiet_seconds: int

    @classmethod
    def from_environment(cls) -> DataTriggerSettings:
        return cls(
            table_name=env_text("METADATA_TABLE"),
            pipeline_name=env_text("PIPELINE_NAME"),
            bucket=env_text("TRAINING_INPUT_BUCKET"),
            prefix=env_text("TRAINING_INPUT_PREFIX", required=False),
            quiet_seconds=env_int("QUIET_SECONDS", minimum=0, maximum=86400, default=60),
        )


@dataclass(frozen=True)
class Services:
    table: Any
    codepipeline: Any
    clock: Callable[[], float]

    @classmethod
    def create(cls, settings: DataTriggerSettings) -> Services:
        return cls(clients.table(settings.table_name), clients.client("codepipeline"), time.time)


@dataclass(frozen=True)
class Upload:
    message_id: str
    key: str
    uploaded_epoch: float


def parse_event_time(text: Any) -> float:
    found = _EVENT_TIME.match(text) if isinstance(text, str) else None
    if not found:
        raise ConfigurationError("the event has no valid 'time'")
    parts = [int(part) for part in found.groups()[:6]]
    try:
        return float(calendar.timegm((*parts, 0, 0, 0)))
    except (ValueError, OverflowError):
        raise ConfigurationError("the event has no valid 'time'") from None


def parse_record(record: Mapping[str, Any], settings: DataTriggerSettings) -> Upload | None:
    """The upload a record announces, None when it is not one to act on; raises when malformed."""
    try:
        event = json.loads(record.get("body", ""))
    except (TypeError, ValueError, RecursionError):
        raise ConfigurationError("the SQS message body is not JSON") from None
    detail = event.get("detail") if isinstance(event, dict) else None
    if not isinstance(detail, dict) or event.get("source") != "aws.s3":
        raise ConfigurationError("the message is not an S3 event from EventBridge")
    if event.get("detail-type") != "Object Created":
        return None
    bucket = detail.get("bucket", {}).get("name") if isinstance(detail.get("bucket"), dict) else None
    key = detail.get("object", {}).get("key") if isinstance(detail.get("object"), dict) else None
    if not isinstance(bucket, str) or not isinstance(key, str) or not key:
        raise ConfigurationError("the S3 event has no bucket name or object key")
    if bucket != settings.bucket or not key.startswith(settings.prefix) or key.endswith("/"):
        return None
    return Upload(str(record.get("messageId", "")), key, parse_event_time(event.get("time")))


def json_string_content(text: str) -> str:
    """``text`` escaped as the inside of a JSON string literal (quotes, backslashes, controls, non-ASCII).

    The template pastes TRIGGER_DETAIL between the quotes of a JSON string in the Train action's
    UserParameters, so train_trigger's JSON parser gives back the original text.
    """
    return json.dumps(text)[1:-1]


def shortened(text: str, limit: int) -> str:
    """The longest start of ``text`` whose JSON string content, with "...", is at most ``limit``."""
    kept = 0
    size = len("...")
    for char in text:
        size += len(json_string_content(char))
        if size > limit:
            break
        kept += 1
    return json_string_content(text[:kept]) + "..."


def trigger_detail(keys: list[str]) -> str:
    """Object keys for TRIGGER_DETAIL as JSON string content, at most MAX_DETAIL_CHARS once escaped;
    keys that do not fit are counted (`` ... (+N more)``), a first key too long for it shortened."""
    unique = sorted(set(keys))
    escaped = [json_string_content(key) for key in unique]
    text = ", ".join(escaped)
    if len(text) <= MAX_DETAIL_CHARS:
        return text
    shown: list[str] = []
    for key in escaped:
        rest = len(unique) - len(shown) - 1
        candidate = ", ".join([*shown, key]) + f" ... (+{rest} more)"
        if len(candidate) > MAX_DETAIL_CHARS:
            break
        shown.append(key)
    if not shown:
        more = f" ... (+{len(unique) - 1} more)" if len(unique) > 1 else ""
        return shortened(unique[0], MAX_DETAIL_CHARS - len(more)) + more
    return ", ".join(shown) + f" ... (+{len(unique) - len(shown)} more)"


def request_token(uploads: list[Upload]) -> str:
    return hashlib.sha256("\n".join(sorted(u.message_id for u in uploads)).encode()).hexdigest()[:64]


def claim_start(table: Any, seen: Decimal | None, started: Decimal, token: str) -> bool:
    """Record the start if nobody else did since ``seen`` was read."""
    condition = "attribute_not_exists(last_started_epoch)" if seen is None else "last_started_epoch = :seen"
    values = {":started": started, ":token": token, ":now": runs.now_iso()}
    if seen is not None:
        values[":seen"] = seen
    try:
        table.update_item(
            Key={"run_id": BOOKKEEPING_ID},
            UpdateExpression=(
                "SET last_started_epoch = :started, last_request_token = :token, updated_at = :now"
            ),
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
        )
    except ClientError as error:
        if is_condition_failed(error):
            return False
        raise
    return True


def release_claim(table: Any, seen: Decimal | None, token: str) -> None:
    values: dict[str, Any] = {":token": token}
    if seen is None:
        expression = "REMOVE last_started_epoch, last_request_token"
    else:
        expression = "SET last_started_epoch = :seen REMOVE last_request_token"
        values[":seen"] = seen
    table.update_item(
        Key={"run_id": BOOKKEEPING_ID},
        UpdateExpression=expression,
        ConditionExpression="last_request_token = :token",
        ExpressionAttributeValues=values,
    )


def core(batch: UploadBatch, settings: DataTriggerSettings, services: Services, log: Log) -> list[str]:
    """Start at most one execution for the batch's uploads; returns the message ids to retry later."""
    uploads, table, codepipeline = batch.uploads, services.table, services.codepipeline
    if not uploads:
        return []
    state = table.get_item(Key={"run_id": BOOKKEEPING_ID}, ConsistentRead=True).get("Item", {})
    seen = state.get("last_started_epoch")
    confirmed = state.get("confirmed_started_epoch")
    last_claim = float(seen) if seen is not None else float("-inf")
    last_start = float(confirmed) if confirmed is not None else float("-inf")
    fresh = [upload for upload in uploads if upload.uploaded_epoch + CLOCK_MARGIN_SECONDS > last_start]
    if len(fresh) < len(uploads):
        log.info("uploads covered by the last started run", covered=len(uploads) - len(fresh))
    if not fresh:
        return []
    now = services.clock()
    if now - last_claim < settings.quiet_seconds:
        log.info("uploads inside the quiet window of the last run; retried later", deferred=len(fresh))
        return [upload.message_id for upload in fresh]
    token = request_token(fresh)
    started = Decimal(str(round(now, 3)))
    if not claim_start(table, seen, started, token):
        log.info("another batch started a run just now; retried later", deferred=len(fresh))
        return [upload.message_id for upload in fresh]
    detail = trigger_detail([upload.key for upload in fresh])
    try:
        execution_id = codepipeline.start_pipeline_execution(
            name=settings.pipeline_name,
            variables=[{"name": "TRIGGER", "value": "data"}, {"name": "TRIGGER_DETAIL", "value": detail}],
            clientRequestToken=token,
        )["pipelineExecutionId"]
    except (ClientError, BotoCoreError) as error:
        log.error("pipeline not started; uploads retried later", error=describe_error(error))
        release_claim(table, seen, token)
        return [upload.message_id for upload in fresh]
    log.info("pipeline started for uploaded data", run_id=execution_id, uploads=len(fresh))
    try:
        table.update_item(
            Key={"run_id": BOOKKEEPING_ID},
            UpdateExpression="SET confirmed_started_epoch = :started, last_execution_id = :id",
            ConditionExpression="last_request_token = :token",
            ExpressionAttributeValues={":started": started, ":id": execution_id, ":token": token},
        )
    except ClientError as error:
        # Only costs coverage: later uploads from before this start may start one more run.
        log.warning("start not confirmed on the bookkeeping item", error=describe_error(error))
    return []


@dataclass(frozen=True)
class UploadBatch:
    """The uploads an SQS batch announces, and the ids of its malformed records."""

    uploads: list[Upload]
    malformed: list[str]

    @classmethod
    def parse(cls, event: Any, settings: DataTriggerSettings, log: Log) -> UploadBatch:
        records = event.get("Records") if isinstance(event, Mapping) else None
        if not isinstance(records, list):
            log.error("not an SQS batch (no Records list); nothing to do")
            return cls([], [])
        malformed: list[str] = []
        uploads: list[Upload] = []
        for record in records:
            message_id = record.get("messageId") if isinstance(record, Mapping) else None
            if not isinstance(message_id, str) or not message_id:
                log.error("SQS record without a messageId skipped")
                continue
            try:
                upload = parse_record(record, settings)
            except ConfigurationError as error:
                log.error(
                    "malformed record left for the dead-letter queue",
                    message_id=message_id,
                    reason=str(error),
                )
                malformed.append(message_id)
                continue
            if upload is None:
                log.info(
                    "record ignored (other bucket, outside the prefix, or a folder marker)",
                    message_id=message_id,
                )
            else:
                uploads.append(upload)
        return cls(uploads, malformed)


def handle(
    event: Any,
    *,
    settings: Callable[[], DataTriggerSettings],
    services: Callable[[DataTriggerSettings], Services],
) -> dict[str, list[dict[str, str]]]:
    """Parse the batch, run the core, and answer the records to retry (partial batch response)."""
    log = Log(HANDLER)
    loaded = settings()
    batch = UploadBatch.parse(event, loaded, log)
    failed = list(batch.malformed)
    try:
        failed += core(batch, loaded, services(loaded), log)
    except (ClientError, BotoCoreError) as error:
        log.error("batch not handled; retried later", error=describe_error(error))
        failed += [upload.message_id for upload in batch.uploads]
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in dict.fromkeys(failed)]}


def handler(event: Any, context: Any) -> dict[str, list[dict[str, str]]]:
    return handle(event, settings=DataTriggerSettings.from_environment, services=Services.create)
