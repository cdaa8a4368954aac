"""The model registry: model package groups and their versioned model packages, with the cross-field
rules of AWS's API reference (docs/aws-rules.md).

- CreateModelPackage: a versioned package names its ModelPackageGroupName (which must exist) and no
  ModelPackageName (SageMaker names it ``<group>/<version>``); an unversioned one names its
  ModelPackageName and carries an InferenceSpecification; ModelApprovalStatus applies to versioned
  packages only and defaults to PendingManualApproval.
- UpdateModelPackage: ModelApprovalStatus applies to versioned packages only.
- DeleteModelPackageGroup: refused (ConflictException) while the group holds a version.
"""

from __future__ import annotations

import copy
from typing import Any

from localmode.aws.awsmodel import ApiError
from localmode.aws.sagemaker.core import BackendCore, now
from localmode.aws.sagemaker.listing import paginate, with_next_token

PENDING = "PendingManualApproval"
SUMMARY_FIELDS = (
    "ModelPackageName",
    "ModelPackageGroupName",
    "ModelPackageVersion",
    "ModelPackageArn",
    "ModelPackageDescription",
    "CreationTime",
    "ModelPackageStatus",
    "ModelApprovalStatus",
)
COPIED_FIELDS = (
    "ModelPackageDescription",
    "InferenceSpecification",
    "MetadataProperties",
    "ModelMetrics",
    "CustomerMetadataProperties",
    "SourceUri",
)


class RegistryOperations(BackendCore):
    def _group(self, name_or_arn: str) -> dict[str, Any]:
        name = name_or_arn.rsplit("/", 1)[-1]
        group = self.model_package_groups.get(name.lower())
        if group is None:
            raise ApiError(
                "ValidationException",
                f"ModelPackageGroup {self.arn('model-package-group', name)} does not exist.",
            )
        return group

    def _package(self, name_or_arn: str) -> dict[str, Any]:
        packages = self.model_packages
        name = name_or_arn.split(":model-package/", 1)[1] if ":model-package/" in name_or_arn else name_or_arn
        package = packages.get(name.lower())
        if package is None:
            raise ApiError(
                "ValidationException", f"ModelPackage {self.arn('model-package', name)} does not exist."
            )
        return package

    def op_create_model_package_group(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["ModelPackageGroupName"]
        with self._lock:
            groups = self.model_package_groups
            if name.lower() in groups:
                raise ApiError(
                    "ValidationException",
                    f"Model Package Group already exists: {self.arn('model-package-group', name)}",
                )
            group = {
                "ModelPackageGroupName": name,
                "ModelPackageGroupArn": self.arn("model-package-group", name),
                "ModelPackageGroupDescription": params.get("ModelPackageGroupDescription", ""),
                "CreationTime": now(),
                "ModelPackageGroupStatus": "Completed",
                "CreatedBy": {},
                "next_version": 1,
            }
            groups[name.lower()] = group
            self._set_tags(group["ModelPackageGroupArn"], params.get("Tags"))
            return {"ModelPackageGroupArn": group["ModelPackageGroupArn"]}

    def op_describe_model_package_group(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            group = self._group(params["ModelPackageGroupName"])
            return copy.deepcopy({key: value for key, value in group.items() if key != "next_version"})

    def op_delete_model_package_group(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            groups, packages = self.model_package_groups, self.model_packages
            group = self._group(params["ModelPackageGroupName"])
            if any(
                p.get("ModelPackageGroupName") == group["ModelPackageGroupName"] for p in packages.values()
            ):
                raise ApiError(
                    "ConflictException",
                    f"Model Package Group {group['ModelPackageGroupArn']} still has model packages; "
                    "delete them first.",
                )
            groups.pop(group["ModelPackageGroupName"].lower())
            self.tags.pop(group["ModelPackageGroupArn"], None)
        return {}

    def op_create_model_package(self, params: dict[str, Any]) -> dict[str, Any]:
        group_name = params.get("ModelPackageGroupName")
        name = params.get("ModelPackageName")
        if bool(group_name) == bool(name):
            raise ApiError(
                "ValidationException",
                "Give ModelPackageGroupName for a versioned model package or ModelPackageName for an "
                "unversioned one, not both and not neither.",
            )
        if name and not params.get("InferenceSpecification"):
            raise ApiError(
                "ValidationException", "InferenceSpecification is required for an unversioned model package."
            )
        if name and params.get("ModelApprovalStatus"):
            raise ApiError(
                "ValidationException", "ModelApprovalStatus does not apply to an unversioned model package."
            )
        with self._lock:
            packages = self.model_packages
            package: dict[str, Any] = {key: params[key] for key in COPIED_FIELDS if key in params}
            if group_name:
                group = self._group(group_name)
                version = group["next_version"]
                group["next_version"] = version + 1
                name = f"{group['ModelPackageGroupName']}/{version}"
                package.update(
                    ModelPackageGroupName=group["ModelPackageGroupName"],
                    ModelPackageVersion=version,
                    ModelApprovalStatus=params.get("ModelApprovalStatus") or PENDING,
                )
            elif name.lower() in packages:
                raise ApiError(
                    "ConflictException", f"ModelPackage {self.arn('model-package', name)} already exists."
                )
            package.update(
                ModelPackageName=name,
                ModelPackageArn=self.arn("model-package", name),
                CreationTime=now(),
                LastModifiedTime=now(),
                ModelPackageStatus="Completed",
                ModelPackageStatusDetails={"ValidationStatuses": []},
            )
            packages[name.lower()] = package
            self._set_tags(package["ModelPackageArn"], params.get("Tags"))
            return {"ModelPackageArn": package["ModelPackageArn"]}

    def op_describe_model_package(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._package(params["ModelPackageName"]))

    def op_update_model_package(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            package = self._package(params["ModelPackageArn"])
            status = params.get("ModelApprovalStatus")
            if status and "ModelPackageGroupName" not in package:
                raise ApiError(
                    "ValidationException",
                    "ModelApprovalStatus does not apply to an unversioned model package.",
                )
            if status:
                package["ModelApprovalStatus"] = status
            if "ApprovalDescription" in params:
                package["ApprovalDescription"] = params["ApprovalDescription"]
            if params.get("CustomerMetadataProperties"):
                package.setdefault("CustomerMetadataProperties", {}).update(
                    params["CustomerMetadataProperties"]
                )
            for key in params.get("CustomerMetadataPropertiesToRemove") or []:
                package.get("CustomerMetadataProperties", {}).pop(key, None)
            package["LastModifiedTime"] = now()
            return {"ModelPackageArn": package["ModelPackageArn"]}

    def op_delete_model_package(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            packages = self.model_packages
            package = self._package(params["ModelPackageName"])
            packages.pop(package["ModelPackageName"].lower())
            self.tags.pop(package["ModelPackageArn"], None)
        return {}

    def op_list_model_packages(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            packages = self.model_packages
            items = list(packages.values())
        group_name = params.get("ModelPackageGroupName")
        kind = params.get("ModelPackageType") or ("Versioned" if group_name else "Both")
        if group_name:
            group_name = group_name.rsplit("/", 1)[-1]
            items = [item for item in items if item.get("ModelPackageGroupName") == group_name]
        if kind != "Both":
            items = [item for item in items if ("ModelPackageGroupName" in item) == (kind == "Versioned")]
        if params.get("ModelApprovalStatus"):
            items = [
                item for item in items if item.get("ModelApprovalStatus") == params["ModelApprovalStatus"]
            ]
        page, token = paginate(items, params, "ModelPackageName")
        summaries = [{key: item[key] for key in SUMMARY_FIELDS if key in item} for item in page]
        return with_next_token({"ModelPackageSummaryList": copy.deepcopy(summaries)}, token)
