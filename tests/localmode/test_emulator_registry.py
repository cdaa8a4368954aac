"""The emulator's model registry (docs/aws-rules.md): groups, versioned packages, approval status, and
AWS's cross-field rules, each accepted once and refused once with AWS's error code."""

from __future__ import annotations

from typing import Any

import pytest

from tests.localmode.conftest import STANDIN_IMAGE
from tests.localmode.test_aws_rules import refused

GROUP = "demo-stack-models"
INFERENCE = {
    "Containers": [{"Image": STANDIN_IMAGE, "ModelDataUrl": "s3://artifacts/run-1/model.tar.gz"}],
    "SupportedContentTypes": ["text/csv"],
    "SupportedResponseMIMETypes": ["text/csv"],
}


def version(sagemaker: Any, status: str = "", **extra: Any) -> str:
    request: dict[str, Any] = {"ModelPackageGroupName": GROUP, "InferenceSpecification": INFERENCE, **extra}
    if status:
        request["ModelApprovalStatus"] = status
    return sagemaker.create_model_package(**request)["ModelPackageArn"]


def test_versions_are_numbered_in_their_group_and_carry_their_approval_status(sagemaker):
    group_arn = sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)["ModelPackageGroupArn"]
    assert group_arn.endswith(f":model-package-group/{GROUP}")
    first = version(sagemaker, "Rejected", CustomerMetadataProperties={"run_id": "r1"})
    second = version(sagemaker)  # no status: PendingManualApproval
    assert first.endswith(f":model-package/{GROUP}/1") and second.endswith(f":model-package/{GROUP}/2")
    described = sagemaker.describe_model_package(ModelPackageName=first)
    assert described["ModelPackageVersion"] == 1
    assert described["ModelApprovalStatus"] == "Rejected"
    assert described["CustomerMetadataProperties"] == {"run_id": "r1"}
    assert sagemaker.describe_model_package(ModelPackageName=f"{GROUP}/2")["ModelApprovalStatus"] == (
        "PendingManualApproval"
    )
    sagemaker.update_model_package(ModelPackageArn=second, ModelApprovalStatus="Approved")
    approved = sagemaker.list_model_packages(ModelPackageGroupName=GROUP, ModelApprovalStatus="Approved")
    assert [item["ModelPackageArn"] for item in approved["ModelPackageSummaryList"]] == [second]
    listed = sagemaker.list_model_packages(ModelPackageGroupName=GROUP, SortBy="CreationTime")
    assert [item["ModelPackageVersion"] for item in listed["ModelPackageSummaryList"]] == [2, 1]


def test_a_group_with_versions_cannot_be_deleted_until_they_are(sagemaker):
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    arn = version(sagemaker, "Approved")
    refused(lambda: sagemaker.delete_model_package_group(ModelPackageGroupName=GROUP), "ConflictException")
    sagemaker.delete_model_package(ModelPackageName=arn)
    sagemaker.delete_model_package_group(ModelPackageGroupName=GROUP)
    refused(
        lambda: sagemaker.describe_model_package_group(ModelPackageGroupName=GROUP), match="does not exist"
    )
    refused(lambda: sagemaker.describe_model_package(ModelPackageName=arn), match="does not exist")


@pytest.mark.parametrize(
    ("request_fields", "match"),
    [
        ({"ModelPackageGroupName": "absent-group", "InferenceSpecification": INFERENCE}, "does not exist"),
        ({"InferenceSpecification": INFERENCE}, "ModelPackageGroupName"),
        ({"ModelPackageGroupName": GROUP, "ModelPackageName": "both"}, "not both"),
        ({"ModelPackageName": "unversioned"}, "InferenceSpecification is required"),
        (
            {
                "ModelPackageName": "unversioned",
                "InferenceSpecification": INFERENCE,
                "ModelApprovalStatus": "Approved",
            },
            "does not apply to an unversioned",
        ),
        ({"ModelPackageGroupName": GROUP, "ModelApprovalStatus": "Deployed"}, "ModelApprovalStatus"),
    ],
)
def test_create_model_package_cross_field_rules(sagemaker, request_fields, match):
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    refused(lambda: sagemaker.create_model_package(**request_fields), match=match)


def test_an_unversioned_package_takes_no_approval_status(sagemaker):
    arn = sagemaker.create_model_package(ModelPackageName="unversioned", InferenceSpecification=INFERENCE)[
        "ModelPackageArn"
    ]
    assert "ModelApprovalStatus" not in sagemaker.describe_model_package(ModelPackageName="unversioned")
    refused(
        lambda: sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved"),
        match="does not apply to an unversioned",
    )
