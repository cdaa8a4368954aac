"""The stack's model package group (``names.model_package_group``): created with the stack by its custom
resource (and again by the Train stage if someone deleted it), deleted with the stack after its versions
(AWS refuses to delete a group that still holds versions). Kept apart from common.registry, which records
on the run item, so the custom resource reaches no run-table write."""

from __future__ import annotations

from typing import Any

from common.logs import Log
from common.sagemaker_resources import STACK_TAG, describe, ignore_missing


def ensure_group(sagemaker: Any, group: str, stack_name: str, log: Log) -> None:
    """Create ``group`` tagged with the stack unless it exists."""
    if describe(sagemaker.describe_model_package_group, ModelPackageGroupName=group) is not None:
        return
    sagemaker.create_model_package_group(
        ModelPackageGroupName=group,
        ModelPackageGroupDescription=f"Model versions trained by the pipeline of stack {stack_name}"[:1024],
        Tags=[{"Key": STACK_TAG, "Value": stack_name}],
    )
    log.info("model package group created", group=group)


def delete_group(sagemaker: Any, group: str, log: Log) -> int:
    """Teardown: every version of ``group``, then the group (AWS refuses a group that holds versions);
    an absent group is success (asked first: a delete scoped by tag is refused on what does not exist).
    Returns how many versions went."""
    if describe(sagemaker.describe_model_package_group, ModelPackageGroupName=group) is None:
        log.info("no model registry to delete", group=group)
        return 0
    deleted = 0
    request: dict[str, Any] = {"ModelPackageGroupName": group, "MaxResults": 100}
    while True:
        page = sagemaker.list_model_packages(**request)
        for summary in page["ModelPackageSummaryList"]:
            ignore_missing(sagemaker.delete_model_package, ModelPackageName=summary["ModelPackageArn"])
            deleted += 1
        if not page.get("NextToken"):
            break
        request["NextToken"] = page["NextToken"]
    ignore_missing(sagemaker.delete_model_package_group, ModelPackageGroupName=group)
    log.info("model registry deleted", group=group, versions=deleted)
    return deleted
