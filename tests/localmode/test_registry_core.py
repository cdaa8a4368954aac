"""The model registry core (lambdas/common/registry.py) against the emulator's registry and moto's run
table: the gate decides the approval status, a run registers once, the Deploy stage approves a pending
version and refuses a rejected one, rollback finds approved versions newest first, teardown empties the
group before deleting it."""

from __future__ import annotations

import uuid
from decimal import Decimal

import boto3
import pytest
from common import registry, registry_group
from common.codepipeline import JobFailure
from common.logs import Log

from tests.localmode.conftest import REGION, STANDIN_IMAGE
from tests.stack_fixture import TABLE, create_run_table

LOG = Log("test")


@pytest.fixture
def table(moto_url):
    dynamodb = boto3.resource("dynamodb", endpoint_url=moto_url, region_name=REGION)
    try:
        create_run_table(dynamodb.meta.client)
    except dynamodb.meta.client.exceptions.ResourceInUseException:
        pass  # the session's moto server keeps it between tests; run ids are unique
    return dynamodb.Table(TABLE)


@pytest.fixture
def group(sagemaker):
    name = f"models-{uuid.uuid4().hex[:8]}"
    sagemaker.create_model_package_group(ModelPackageGroupName=name)
    return name


def candidate(run_id: str = "") -> registry.Candidate:
    run_id = run_id or uuid.uuid4().hex[:12]
    return registry.Candidate(
        run_id,
        STANDIN_IMAGE,
        f"s3://artifacts/{run_id}/model.tar.gz",
        {"validation:accuracy": Decimal("0.93")},
        "abc123",
    )


@pytest.mark.parametrize(
    ("gate_failure", "manual", "status"),
    [("accuracy 0.5 < 0.9", True, "Rejected"), ("", True, "PendingManualApproval"), ("", False, "Approved")],
)
def test_the_gate_decides_the_approval_status(gate_failure, manual, status):
    assert registry.approval_status(gate_failure, manual) == status


def test_a_run_registers_one_version_with_its_metadata_and_the_run_links_it(sagemaker, table, group):
    run = candidate()
    version = registry.register(sagemaker, table, group, run, registry.APPROVED, "run", LOG)
    again = registry.register(sagemaker, table, group, run, registry.APPROVED, "run", LOG)
    assert again == version and version.number == 1 and version.status == "Approved"
    assert (version.image, version.artifact, version.run_id) == (run.image, run.artifact, run.run_id)
    described = sagemaker.describe_model_package(ModelPackageName=version.arn)
    assert described["CustomerMetadataProperties"] == {
        "run_id": run.run_id,
        "git_sha": "abc123",
        "metric.validation:accuracy": "0.93",
    }
    item = table.get_item(Key={"run_id": run.run_id})["Item"]
    assert item["model_package_arn"] == version.arn and item["model_approval_status"] == "Approved"
    listed = sagemaker.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    assert len(listed) == 1


def test_the_deploy_stage_approves_a_pending_version_and_refuses_a_rejected_one(sagemaker, table, group):
    pending = registry.register(sagemaker, table, group, run := candidate(), registry.PENDING, "", LOG)
    approved = registry.approve_for_deploy(sagemaker, table, run.run_id, pending, LOG)
    assert approved.status == "Approved"
    assert table.get_item(Key={"run_id": run.run_id})["Item"]["model_approval_status"] == "Approved"
    rejected = registry.register(sagemaker, table, group, other := candidate(), registry.REJECTED, "", LOG)
    with pytest.raises(JobFailure, match="Rejected"):
        registry.approve_for_deploy(sagemaker, table, other.run_id, rejected, LOG)
    assert (
        sagemaker.describe_model_package(ModelPackageName=rejected.arn)["ModelApprovalStatus"] == "Rejected"
    )


def test_approved_versions_are_listed_newest_first_without_the_rejected(sagemaker, table, group):
    for status in (registry.APPROVED, registry.REJECTED, registry.APPROVED):
        registry.register(sagemaker, table, group, candidate(), status, "", LOG)
    assert [version.number for version in registry.approved_versions(sagemaker, group)] == [3, 1]


def test_teardown_deletes_the_versions_then_the_group_and_an_absent_group_is_success(sagemaker, table, group):
    for status in (registry.APPROVED, registry.REJECTED):
        registry.register(sagemaker, table, group, candidate(), status, "", LOG)
    assert registry_group.delete_group(sagemaker, group, LOG) == 2
    assert registry_group.delete_group(sagemaker, group, LOG) == 0
    assert not sagemaker.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
