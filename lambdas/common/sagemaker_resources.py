"""What the handlers know about the SageMaker resources a stack creates outside CloudFormation.

"Created by this stack" means tagged ``sagemaker-pipeline:stack = <stack name>``: training jobs,
models, endpoint configs and the endpoint get that tag (and the run id) when created, and
listings are narrowed by the stack's name prefix first (``names.resource_prefix``), then checked
by tag, so a resource of another stack with a similar name is never touched.
A release is a model and an endpoint config of one run (same name).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from common.errors import is_not_found
from common.logs import Log
from common.names import resource_prefix

STACK_TAG = "sagemaker-pipeline:stack"
RUN_ID_TAG = "sagemaker-pipeline:run-id"


def stack_tags(stack_name: str, run_id: str) -> list[dict[str, str]]:
    return [{"Key": STACK_TAG, "Value": stack_name}, {"Key": RUN_ID_TAG, "Value": run_id}]


def describe(call: Callable[..., Any], **name: str) -> dict[str, Any] | None:
    """A Describe* call's answer, None when the resource does not exist."""
    try:
        return call(**name)
    except ClientError as error:
        if is_not_found(error):
            return None
        raise


def ignore_missing(call: Callable[..., Any], **arguments: Any) -> None:
    """A Delete*/Stop* call for which "already gone" is success."""
    try:
        call(**arguments)
    except ClientError as error:
        if not is_not_found(error):
            raise


def tagged_with_stack(sagemaker: Any, arn: str, stack_name: str) -> bool:
    tags = sagemaker.list_tags(ResourceArn=arn).get("Tags", [])
    return any(tag["Key"] == STACK_TAG and tag["Value"] == stack_name for tag in tags)


@dataclass(frozen=True)
class ReleaseKind:
    """One kind of release resource: how to list it and how to delete it."""

    list_operation: str
    result_key: str
    name_key: str
    arn_key: str
    delete_operation: str

    def delete(self, sagemaker: Any, name: str) -> None:
        ignore_missing(getattr(sagemaker, self.delete_operation), **{self.name_key: name})


ENDPOINT_CONFIGS = ReleaseKind(
    "list_endpoint_configs",
    "EndpointConfigs",
    "EndpointConfigName",
    "EndpointConfigArn",
    "delete_endpoint_config",
)
MODELS = ReleaseKind("list_models", "Models", "ModelName", "ModelArn", "delete_model")
RELEASE_KINDS = (ENDPOINT_CONFIGS, MODELS)


def stack_releases(sagemaker: Any, kind: ReleaseKind, stack_name: str) -> list[str]:
    """Names of this stack's resources of ``kind``, newest first."""
    prefix = resource_prefix(stack_name)
    found = []
    for page in sagemaker.get_paginator(kind.list_operation).paginate(
        NameContains=prefix, SortBy="CreationTime", SortOrder="Descending"
    ):
        found += [
            (entry[kind.name_key], entry[kind.arn_key], entry["CreationTime"])
            for entry in page.get(kind.result_key, [])
        ]
    found.sort(key=lambda entry: entry[2], reverse=True)
    return [
        name
        for name, arn, _ in found
        if name.startswith(prefix) and tagged_with_stack(sagemaker, arn, stack_name)
    ]


def prune_releases(
    sagemaker: Any, stack_name: str, keep_last: int, current_config: str, log: Log
) -> list[str]:
    """Delete this stack's endpoint configs and models beyond the newest ``keep_last``, never the
    config the endpoint uses nor its models; returns what went."""
    in_use_config = describe(sagemaker.describe_endpoint_config, EndpointConfigName=current_config) or {}
    in_use_models = {variant["ModelName"] for variant in in_use_config.get("ProductionVariants", [])}
    protected = {ENDPOINT_CONFIGS: {current_config}, MODELS: in_use_models | {current_config}}
    deleted = []
    for kind in RELEASE_KINDS:
        for name in stack_releases(sagemaker, kind, stack_name)[keep_last:]:
            if name not in protected[kind]:
                kind.delete(sagemaker, name)
                deleted.append(name)
    if deleted:
        log.info("old releases pruned", deleted=deleted)
    return deleted


def delete_releases(sagemaker: Any, stack_name: str, log: Log) -> list[str]:
    """Every endpoint config and model of this stack."""
    deleted = []
    for kind in RELEASE_KINDS:
        for name in stack_releases(sagemaker, kind, stack_name):
            kind.delete(sagemaker, name)
            deleted.append(name)
    if deleted:
        log.info("endpoint configs and models deleted", count=len(deleted))
    return deleted


def stop_training_jobs(sagemaker: Any, stack_name: str, log: Log) -> list[str]:
    """Stop this stack's InProgress training jobs; returns their names."""
    stopped = []
    for page in sagemaker.get_paginator("list_training_jobs").paginate(
        NameContains=resource_prefix(stack_name), StatusEquals="InProgress"
    ):
        for summary in page.get("TrainingJobSummaries", []):
            if tagged_with_stack(sagemaker, summary["TrainingJobArn"], stack_name):
                ignore_missing(sagemaker.stop_training_job, TrainingJobName=summary["TrainingJobName"])
                stopped.append(summary["TrainingJobName"])
    if stopped:
        log.info("training jobs stopped", jobs=stopped)
    return stopped


def delete_endpoint(sagemaker: Any, endpoint_name: str, stack_name: str, log: Log) -> bool:
    """Delete the endpoint when it exists and this stack created it; True when deleted."""
    if not endpoint_name:
        return False
    endpoint = describe(sagemaker.describe_endpoint, EndpointName=endpoint_name)
    if endpoint is None:
        return False
    if not tagged_with_stack(sagemaker, endpoint["EndpointArn"], stack_name):
        log.warning("endpoint not created by this stack; left in place", endpoint=endpoint_name)
        return False
    ignore_missing(sagemaker.delete_endpoint, EndpointName=endpoint_name)
    log.info("endpoint deleted", endpoint=endpoint_name)
    return True
