"""teardown: custom resource ``Custom::Teardown`` removing what the pipeline created outside CloudFormation.

- Create / Update: create the stack's model package group (``names.model_package_group``, tagged
  with the stack) unless it exists, so the registry is there before the first run. PhysicalResourceId
  is ``<StackName>-teardown`` (kept as CloudFormation sent it on Update/Delete, so it never changes).
- Delete: stop this stack's InProgress training jobs; delete the endpoint (ENDPOINT tagged with
  this stack only), then every endpoint config and model tagged ``sagemaker-pipeline:stack =
  StackName``, then the model versions of the stack's model package group and the group. With
  DeleteData ``true``, purge the data the template retains (its buckets, image
  repository, table and key have DeletionPolicy Retain so a delete never fails on non-empty data):
  empty each bucket in Buckets (every object version and delete marker) and delete it, delete
  every image of EcrRepository and the repository, delete MetaDataTable (lifting its deletion
  protection first), and schedule the deletion of KmsKeyArn (30-day window, cancellable).
  Missing resources are fine (already gone).
- CloudFormation is always answered, by an HTTP PUT of the response document to ResponseURL
  (stdlib urllib): SUCCESS, or FAILED with the reason, including for malformed events (answered
  when they carry a ResponseURL; logged and dropped when they do not). When the function is about
  to time out while emptying buckets it answers FAILED saying so, rather than leaving the stack
  waiting for an hour.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from common import autoscaling, clients, names, registry_group, sagemaker_resources
from common.errors import ConfigurationError, describe_error, error_code
from common.logs import Log

HANDLER = "teardown"
SAFETY_MARGIN_MS = 20_000
TABLE_POLL_SECONDS = 2
RESPONSE_TIMEOUT_SECONDS = 30
MAX_REASON_CHARS = 1000


class OutOfTime(Exception):
    """Raised when the function must answer before its timeout."""


@dataclass(frozen=True)
class TeardownRequest:
    request_type: str
    stack_name: str
    delete_data: bool
    buckets: tuple[str, ...]
    ecr_repository: str
    endpoint_name: str
    metadata_table: str = ""
    kms_key_arn: str = ""

    @classmethod
    def parse(cls, event: Mapping[str, Any]) -> TeardownRequest:
        request_type = event.get("RequestType")
        if request_type not in ("Create", "Update", "Delete"):
            raise ConfigurationError("RequestType must be Create, Update or Delete")
        properties = event.get("ResourceProperties")
        if not isinstance(properties, Mapping):
            raise ConfigurationError("ResourceProperties is missing")
        stack_name = properties.get("StackName")
        if not isinstance(stack_name, str) or not stack_name:
            raise ConfigurationError("ResourceProperties.StackName is missing")
        delete_data = properties.get("DeleteData", "false")
        if str(delete_data).lower() not in ("true", "false"):
            raise ConfigurationError("ResourceProperties.DeleteData must be true or false")
        buckets = properties.get("Buckets", [])
        if not isinstance(buckets, list) or not all(isinstance(bucket, str) for bucket in buckets):
            raise ConfigurationError("ResourceProperties.Buckets must be a list of bucket names")
        text = {
            key: properties.get(key, "") if isinstance(properties.get(key, ""), str) else None
            for key in ("EcrRepository", "EndpointName", "MetaDataTable", "KmsKeyArn")
        }
        if None in text.values():
            raise ConfigurationError(
                "ResourceProperties.EcrRepository, EndpointName, MetaDataTable and KmsKeyArn must be strings"
            )
        return cls(
            request_type=request_type,
            stack_name=stack_name,
            delete_data=str(delete_data).lower() == "true",
            buckets=tuple(bucket for bucket in buckets if bucket),
            ecr_repository=text["EcrRepository"] or "",
            endpoint_name=text["EndpointName"] or "",
            metadata_table=text["MetaDataTable"] or "",
            kms_key_arn=text["KmsKeyArn"] or "",
        )


@dataclass(frozen=True)
class Services:
    sagemaker: Any
    s3: Any
    ecr: Any
    dynamodb: Any
    kms: Any
    autoscaling: Any = None  # Application Auto Scaling: the endpoint's scalable target, if any

    @classmethod
    def create(cls) -> Services:
        made = (clients.client(name) for name in ("sagemaker", "s3", "ecr", "dynamodb", "kms"))
        return cls(*made, clients.LazyClient("application-autoscaling"))


def empty_bucket(s3: Any, bucket: str, remaining_ms: Callable[[], int], log: Log) -> int:
    """Delete every object version and delete marker; returns how many were deleted."""
    deleted = 0
    try:
        pages = s3.get_paginator("list_object_versions").paginate(
            Bucket=bucket, PaginationConfig={"PageSize": 1000}
        )
        for page in pages:
            if remaining_ms() < SAFETY_MARGIN_MS:
                raise OutOfTime(
                    f"bucket {bucket} not emptied before the function timeout ({deleted} deleted so far)"
                )
            batch = [
                {"Key": entry["Key"], "VersionId": entry["VersionId"]}
                for entry in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            if not batch:
                continue
            response = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            errors = response.get("Errors", [])
            if errors:
                first = errors[0]
                raise RuntimeError(
                    f"bucket {bucket}: {len(errors)} objects not deleted, e.g. {first.get('Key')}: "
                    f"{first.get('Code')} {first.get('Message')}"
                )
            deleted += len(batch)
    except ClientError as error:
        if error_code(error) != "NoSuchBucket":
            raise
    log.info("bucket emptied", bucket=bucket, deleted=deleted)
    return deleted


def delete_images(ecr: Any, repository: str, log: Log) -> int:
    deleted = 0
    try:
        for page in ecr.get_paginator("list_images").paginate(repositoryName=repository):
            image_ids = page.get("imageIds", [])
            for start in range(0, len(image_ids), 100):
                ecr.batch_delete_image(repositoryName=repository, imageIds=image_ids[start : start + 100])
                deleted += len(image_ids[start : start + 100])
    except ClientError as error:
        if error_code(error) != "RepositoryNotFoundException":
            raise
    log.info("container images deleted", repository=repository, deleted=deleted)
    return deleted


def delete_bucket(s3: Any, bucket: str, log: Log) -> None:
    try:
        s3.delete_bucket(Bucket=bucket)
    except ClientError as error:
        if error_code(error) != "NoSuchBucket":
            raise
    log.info("bucket deleted", bucket=bucket)


def delete_repository(ecr: Any, repository: str, log: Log) -> None:
    try:
        ecr.delete_repository(repositoryName=repository, force=True)
    except ClientError as error:
        if error_code(error) != "RepositoryNotFoundException":
            raise
    log.info("image repository deleted", repository=repository)


def delete_table(
    dynamodb: Any,
    table: str,
    remaining_ms: Callable[[], int],
    log: Log,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Lift deletion protection (only when on) and delete the table once it is ACTIVE.

    DynamoDB answers DeleteTable with ResourceInUseException while a table is CREATING or UPDATING,
    and lifting the protection is an UpdateTable, so the table is described first and waited for.
    """
    try:
        described = dynamodb.describe_table(TableName=table)["Table"]
        if described.get("DeletionProtectionEnabled"):
            dynamodb.update_table(TableName=table, DeletionProtectionEnabled=False)
            described = dynamodb.describe_table(TableName=table)["Table"]
        while described["TableStatus"] != "ACTIVE":
            if remaining_ms() < SAFETY_MARGIN_MS:
                raise OutOfTime(f"table {table} still {described['TableStatus']} at the function timeout")
            sleep(TABLE_POLL_SECONDS)
            described = dynamodb.describe_table(TableName=table)["Table"]
        dynamodb.delete_table(TableName=table)
    except ClientError as error:
        if error_code(error) != "ResourceNotFoundException":
            raise
    log.info("run table deleted", table=table)


def retire_key(kms: Any, key_arn: str, log: Log) -> None:
    try:
        # The bare key id is valid everywhere; moto 5.2 accepts no ARN here.
        kms.schedule_key_deletion(KeyId=key_arn.rsplit("/", 1)[-1], PendingWindowInDays=30)
    except ClientError as error:  # already pending deletion or gone
        if error_code(error) not in ("NotFoundException", "KMSInvalidStateException"):
            raise
    log.info("key deletion scheduled", window_days=30)


def core(request: TeardownRequest, services: Services, remaining_ms: Callable[[], int], log: Log) -> None:
    """On Delete: this stack's SageMaker resources, then (DeleteData) the data the template retains."""
    sagemaker_resources.stop_training_jobs(services.sagemaker, request.stack_name, log)
    deleted = sagemaker_resources.delete_endpoint(
        services.sagemaker, request.endpoint_name, request.stack_name, log
    )
    if deleted and services.autoscaling is not None:  # only the target of the endpoint it deleted
        autoscaling.deregister(services.autoscaling, request.endpoint_name, log)
    sagemaker_resources.delete_releases(services.sagemaker, request.stack_name, log)
    registry_group.delete_group(services.sagemaker, names.model_package_group(request.stack_name), log)
    if request.delete_data:
        for bucket in request.buckets:
            empty_bucket(services.s3, bucket, remaining_ms, log)
            delete_bucket(services.s3, bucket, log)
        if request.ecr_repository:
            delete_images(services.ecr, request.ecr_repository, log)
            delete_repository(services.ecr, request.ecr_repository, log)
        if request.metadata_table:
            delete_table(services.dynamodb, request.metadata_table, remaining_ms, log)
        if request.kms_key_arn:  # last: the data above was encrypted with it
            retire_key(services.kms, request.kms_key_arn, log)


def send_response(event: Mapping[str, Any], status: str, reason: str, physical_id: str, log: Log) -> None:
    """PUT the response document to the pre-signed ResponseURL."""
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:MAX_REASON_CHARS],
            "PhysicalResourceId": physical_id,
            "StackId": str(event.get("StackId", "")),
            "RequestId": str(event.get("RequestId", "")),
            "LogicalResourceId": str(event.get("LogicalResourceId", "")),
            "NoEcho": False,
            "Data": {},
        }
    ).encode()
    url = str(event["ResponseURL"])
    if not url.startswith(("https://", "http://")):
        log.error("ResponseURL is not an HTTP(S) URL; CloudFormation cannot be answered")
        return
    request = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": ""})  # noqa: S310
    with urllib.request.urlopen(request, timeout=RESPONSE_TIMEOUT_SECONDS) as response:  # noqa: S310 - checked above
        log.info("CloudFormation answered", status=status, http_status=response.status)


def _physical_id(event: Mapping[str, Any]) -> str:
    existing = event.get("PhysicalResourceId")
    if isinstance(existing, str) and existing:
        return existing
    properties = event.get("ResourceProperties")
    stack_name = properties.get("StackName") if isinstance(properties, Mapping) else None
    return (
        f"{stack_name}-teardown"
        if isinstance(stack_name, str) and stack_name
        else "sagemaker-pipeline-teardown"
    )


def handle(event: Any, *, services: Callable[[], Services], remaining_ms: Callable[[], int]) -> str:
    """Parse the request, run the core, and answer CloudFormation whatever happens; returns the status."""
    log = Log(HANDLER)
    if not isinstance(event, Mapping) or not isinstance(event.get("ResponseURL"), str):
        log.error("custom resource event without a ResponseURL; cannot answer CloudFormation")
        return ""
    request_type = event.get("RequestType")
    log.bind(
        request_id=str(event.get("RequestId", ""))[:100],
        request_type=request_type if request_type in ("Create", "Update", "Delete") else "invalid",
    )
    status, reason = "SUCCESS", "done"
    try:
        request = TeardownRequest.parse(event)
        if request.request_type == "Delete":
            core(request, services(), remaining_ms, log)
            reason = "pipeline resources removed"
        else:
            group = names.model_package_group(request.stack_name)
            registry_group.ensure_group(services().sagemaker, group, request.stack_name, log)
            reason = f"model package group {group} ready"
    except ConfigurationError as error:
        status, reason = "FAILED", f"bad custom resource request: {error}"
    except OutOfTime as error:
        status, reason = "FAILED", f"{error}; delete the stack again to continue"
    except Exception as error:  # noqa: BLE001 - CloudFormation must always be answered
        status, reason = "FAILED", describe_error(error)
    if status == "FAILED":
        log.error("custom resource request failed", reason=reason)
    try:
        send_response(event, status, reason, _physical_id(event), log)
    except Exception as error:  # noqa: BLE001 - nothing more can be done; the log line is the trace
        log.error("CloudFormation could not be answered", error=f"{type(error).__name__}: {error}")
    return status


def handler(event: Any, context: Any) -> str:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return handle(
        event,
        services=Services.create,
        remaining_ms=remaining if callable(remaining) else (lambda: 900_000),
    )
