"""The model registry: one model package group per stack, one versioned model package per successful run.

A version carries the image, the model artifact, the final metrics and, as customer metadata, the run
id and git sha. The quality gate decides its approval status when it is registered: Rejected when the
gate fails (nobody is asked to approve it), else PendingManualApproval when the stack requires a
manual approval (the Deploy stage, which runs only after that approval, approves it) or Approved.
The run item links the version (``model_package_arn``, ``model_version``, ``model_approval_status``);
a repeated registration of the same run finds that link and registers nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from common import runs
from common.codepipeline import JobFailure
from common.logs import Log
from common.sagemaker_resources import stack_tags

APPROVED = "Approved"
REJECTED = "Rejected"
PENDING = "PendingManualApproval"
CONTENT_TYPES = ["text/csv", "application/json", "application/x-npy"]


@dataclass(frozen=True)
class Candidate:
    """What a successful run registers."""

    run_id: str
    image: str
    artifact: str
    metrics: Mapping[str, Decimal]
    git_sha: str = ""


@dataclass(frozen=True)
class Version:
    arn: str
    number: int
    status: str
    image: str
    artifact: str
    run_id: str


def approval_status(gate_failure: str, require_manual_approval: bool) -> str:
    if gate_failure:
        return REJECTED
    return PENDING if require_manual_approval else APPROVED


def _metadata_value(text: str) -> str:
    """CustomerMetadataProperties values: 1-256 characters of letters, digits, spaces and _.:/=+-@."""
    cleaned = "".join(c if c.isalnum() or c in " _.:/=+-@" else "-" for c in text)[:256]
    return cleaned or "-"


def register(
    sagemaker: Any,
    table: Any,
    group: str,
    candidate: Candidate,
    status: str,
    description: str,
    log: Log,
    stack_name: str = "",
) -> Version:
    """Register ``candidate`` as the next version of ``group`` with ``status`` (once per run)."""
    item = runs.read_item(table, candidate.run_id)
    if item.get("model_package_arn"):
        log.info("model version already registered", model_package_arn=item["model_package_arn"])
        return describe_version(sagemaker, str(item["model_package_arn"]))
    metadata = {"run_id": _metadata_value(candidate.run_id)}
    if candidate.git_sha:
        metadata["git_sha"] = _metadata_value(candidate.git_sha)
    metadata.update(
        {
            f"metric.{name}"[:128]: _metadata_value(str(value))
            for name, value in list(candidate.metrics.items())[:40]
        }
    )
    request: dict[str, Any] = {
        "ModelPackageGroupName": group,
        "ModelPackageDescription": description[:1000],
        "InferenceSpecification": {
            "Containers": [{"Image": candidate.image, "ModelDataUrl": candidate.artifact}],
            "SupportedContentTypes": CONTENT_TYPES,
            "SupportedResponseMIMETypes": CONTENT_TYPES,
        },
        "ModelApprovalStatus": status,
        "CustomerMetadataProperties": metadata,
    }
    if stack_name:
        request["Tags"] = stack_tags(stack_name, candidate.run_id)
    arn = sagemaker.create_model_package(**request)["ModelPackageArn"]
    version = describe_version(sagemaker, arn)
    link_to_run(table, candidate.run_id, version)
    log.info("model version registered", model_package_arn=arn, status=status)
    return version


def link_to_run(table: Any, run_id: str, version: Version) -> None:
    runs.update_item(
        table,
        run_id,
        {
            "model_package_arn": version.arn,
            "model_version": version.number,
            "model_approval_status": version.status,
        },
    )


def describe_version(sagemaker: Any, arn: str) -> Version:
    described = sagemaker.describe_model_package(ModelPackageName=arn)
    containers = described.get("InferenceSpecification", {}).get("Containers") or [{}]
    return Version(
        arn=described["ModelPackageArn"],
        number=int(described.get("ModelPackageVersion") or 0),
        status=str(described.get("ModelApprovalStatus", "")),
        image=str(containers[0].get("Image", "")),
        artifact=str(containers[0].get("ModelDataUrl", "")),
        run_id=str(described.get("CustomerMetadataProperties", {}).get("run_id", "")),
    )


def approve_for_deploy(sagemaker: Any, table: Any, run_id: str, version: Version, log: Log) -> Version:
    """The version the Deploy stage deploys: a pending one is approved (the pipeline's approval action
    has passed when the Deploy stage runs), a rejected one is refused."""
    if version.status == REJECTED:
        raise JobFailure(f"Model version {version.number} ({version.arn}) is Rejected: it is not deployed")
    if version.status == PENDING:
        sagemaker.update_model_package(
            ModelPackageArn=version.arn,
            ModelApprovalStatus=APPROVED,
            ApprovalDescription=f"Approved in the pipeline's manual approval for run {run_id}"[:1024],
        )
        version = describe_version(sagemaker, version.arn)
        link_to_run(table, run_id, version)
        log.info("model version approved", model_package_arn=version.arn)
    return version


def approved_versions(sagemaker: Any, group: str) -> list[Version]:
    """The group's approved versions, newest first (every page)."""
    found: list[Version] = []
    request: dict[str, Any] = {
        "ModelPackageGroupName": group,
        "ModelApprovalStatus": APPROVED,
        "SortBy": "CreationTime",
        "SortOrder": "Descending",
        "MaxResults": 100,
    }
    while True:
        page = sagemaker.list_model_packages(**request)
        found.extend(
            describe_version(sagemaker, s["ModelPackageArn"]) for s in page["ModelPackageSummaryList"]
        )
        if not page.get("NextToken"):
            return sorted(found, key=lambda version: version.number, reverse=True)
        request["NextToken"] = page["NextToken"]
