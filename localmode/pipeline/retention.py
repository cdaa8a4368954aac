"""A failed create's rollback, as CloudFormation does it and moto does not.

moto never rolls back a failed create. CloudFormation does, deleting everything it created but
``Retain`` resources: ``RetainExceptOnCreate`` ones go too, so a retry with the same names is not
blocked by orphans. ``delete_created_on_failed_create`` deletes those, after the stack. (On a stack
delete, local mode's moto keeps them as AWS does: localmode/aws/strict_moto.py.)
"""

from __future__ import annotations

from typing import Any

RETAIN_EXCEPT_ON_CREATE = "RetainExceptOnCreate"


def retained_except_on_create(template: dict[str, Any]) -> dict[str, str]:
    """logical id -> resource type of the resources a failed create must not leave behind."""
    return {
        logical: resource["Type"]
        for logical, resource in template.get("Resources", {}).items()
        if resource.get("DeletionPolicy") == RETAIN_EXCEPT_ON_CREATE
    }


def delete_resource(clients: Any, resource_type: str, physical_id: str) -> str:
    """Delete one created resource through its service's API; returns what was done."""
    if resource_type == "AWS::S3::Bucket":
        s3 = clients.s3
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=physical_id):
            entries = page.get("Versions", []) + page.get("DeleteMarkers", [])
            if entries:
                objects = [{"Key": entry["Key"], "VersionId": entry["VersionId"]} for entry in entries]
                s3.delete_objects(Bucket=physical_id, Delete={"Objects": objects, "Quiet": True})
        s3.delete_bucket(Bucket=physical_id)
        return f"bucket {physical_id} deleted"
    if resource_type == "AWS::DynamoDB::Table":
        clients.dynamodb.update_table(TableName=physical_id, DeletionProtectionEnabled=False)
        clients.dynamodb.delete_table(TableName=physical_id)
        return f"table {physical_id} deleted"
    if resource_type == "AWS::ECR::Repository":
        clients.ecr.delete_repository(repositoryName=physical_id, force=True)
        return f"repository {physical_id} deleted"
    if resource_type == "AWS::KMS::Key":
        clients.kms.schedule_key_deletion(KeyId=physical_id.rsplit("/", 1)[-1], PendingWindowInDays=7)
        return f"key {physical_id} scheduled for deletion"
    raise ValueError(f"local mode cannot delete a {resource_type} after a failed create")


def delete_created_on_failed_create(
    clients: Any, template: dict[str, Any], physical_ids: dict[str, str]
) -> list[str]:
    """Delete the RetainExceptOnCreate resources that a failed create made (after the stack)."""
    return [
        delete_resource(clients, resource_type, physical_ids[logical])
        for logical, resource_type in retained_except_on_create(template).items()
        if physical_ids.get(logical)
    ]
