"""The IAM gate: every request a handler makes is authorised against its function's deployed role.

``acting_as(role_arn, session_name)`` hooks botocore's ``before-parameter-build`` event for the
calling thread: each request becomes its authorisations (``operations``), each is decided by the
policy engine with the role's inline and managed policies and its permissions boundary, as the
stack deployed them (read from IAM, so Ref/Sub/GetAtt are the local stack's values), and with the
request context AWS uses: the resource ARN, aws:ResourceTag from the resource's live tags (a
resource that does not exist has none), aws:RequestTag / aws:TagKeys, iam:PassedToService,
s3:prefix; and the resource's own policy where AWS requires one (a KMS key policy). A denial
raises the ClientError AWS sends (the service's AccessDenied code and message), so the handler's
own error path runs.
"""

from __future__ import annotations

import ast
import json
import threading
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError

from localmode.aws.iam.engine import PolicyEngine, Simulation
from localmode.aws.iam.operations import authorisations
from localmode.aws.iam.requests import IAM_PREFIX, AuthRequest, Where

HOOK_EVENT = "before-parameter-build"
DENIED_CODES = {"s3": ("AccessDenied", 403), "sns": ("AuthorizationError", 403)}
DEFAULT_DENIED = ("AccessDeniedException", 400)
TAGGED_PREFIXES = ("sagemaker",)  # whose conditions the template writes on aws:ResourceTag

ResourceTags = Callable[[str], dict[str, str] | None]
ResourcePolicy = Callable[[AuthRequest], dict[str, Any] | None]


@dataclass(frozen=True)
class RoleGrants:
    identity_policies: list[dict[str, Any]]
    permission_boundaries: list[dict[str, Any]]


def policy_document(value: Any) -> dict[str, Any]:
    """A policy document as IAM returns it: a mapping, URL-encoded JSON, or (moto 5.2's CloudFormation
    stores a role's inline policies so) the Python text of a dict."""
    if not isinstance(value, str):
        return value
    text = urllib.parse.unquote(value)
    try:
        return json.loads(text)
    except ValueError:
        return ast.literal_eval(text)


def principal_arn(role_arn: str, session_name: str) -> str:
    account = role_arn.split(":")[4]
    role_name = role_arn.rsplit("/", 1)[-1]
    return f"arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}"


def denial_message(principal: str, request: AuthRequest, result: str, kind: str = "identity-based") -> str:
    """AWS's AccessDenied text; ``kind`` is the policy that would have to allow it (a service principal
    is allowed only by the resource's own, resource-based, policy)."""
    reason = (
        f"with an explicit deny in a {kind} policy"
        if result == "ExplicitlyDenied"
        else f"because no {kind} policy allows the {request.action} action"
    )
    return (
        f"User: {principal} is not authorized to perform: {request.action} "
        f"on resource: {request.resource} {reason}"
    )


class IamGate:
    def __init__(
        self,
        engine: PolicyEngine,
        iam: Any,
        where: Where,
        resource_tags: ResourceTags,
        resource_policy: ResourcePolicy = lambda request: None,
    ) -> None:
        self._engine = engine
        self._resource_policy = resource_policy
        self._iam = iam
        self._where = where
        self._resource_tags = resource_tags
        self._grants: dict[str, RoleGrants] = {}
        self._lock = threading.Lock()
        self.counts: dict[str, Counter[str]] = {}
        self.denials: list[str] = []
        self.decided: list[tuple[str, Simulation, str]] = []  # (role name, request, result), in order

    # ------------------------------------------------------------------------------ the role's grants
    def grants(self, role_arn: str) -> RoleGrants:
        role_name = role_arn.rsplit("/", 1)[-1]
        if role_name not in self._grants:
            role = self._iam.get_role(RoleName=role_name)["Role"]
            identity = [
                {
                    "name": name,
                    "policy": policy_document(
                        self._iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
                    ),
                }
                for name in self._iam.list_role_policies(RoleName=role_name)["PolicyNames"]
            ]
            for attached in self._iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]:
                identity.append(
                    {"name": attached["PolicyName"], "policy": self._managed(attached["PolicyArn"])}
                )
            boundary_arn = role.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn")
            boundaries = [{"name": "boundary", "policy": self._managed(boundary_arn)}] if boundary_arn else []
            self._grants[role_name] = RoleGrants(identity, boundaries)
        return self._grants[role_name]

    def _managed(self, policy_arn: str) -> dict[str, Any]:
        version = self._iam.get_policy(PolicyArn=policy_arn)["Policy"]["DefaultVersionId"]
        return policy_document(
            self._iam.get_policy_version(PolicyArn=policy_arn, VersionId=version)["PolicyVersion"]["Document"]
        )

    # ------------------------------------------------------------------------------ one request
    def _context(self, request: AuthRequest, principal: str) -> dict[str, str | list[str]]:
        context: dict[str, str | list[str]] = {
            "aws:SecureTransport": "true",
            "aws:PrincipalArn": principal,
            "aws:PrincipalAccount": self._where.account,
            **request.context,
        }
        if request.resource_type and request.action.partition(":")[0] in TAGGED_PREFIXES:
            for key, value in (self._resource_tags(request.resource) or {}).items():
                context[f"aws:ResourceTag/{key}"] = value
        return context

    def authorise(
        self, role_arn: str, session_name: str, service: str, operation: str, params: dict[str, Any]
    ) -> None:
        """Return when AWS would allow the call; raise AWS's AccessDenied ClientError when it would not."""
        requests = authorisations(service, operation, params, self._where)
        self.authorise_requests(role_arn, session_name, requests, service, operation)

    def authorise_requests(
        self,
        role_arn: str,
        session_name: str,
        requests: list[AuthRequest],
        service: str,
        operation: str,
    ) -> None:
        """Authorise what an AWS service does as the role the stack gives it (``service_requests``), or
        the requests of one API call: each with the role's policies and the resource's own policy."""
        principal = principal_arn(role_arn, session_name)
        grants = self.grants(role_arn)
        for request in requests:
            simulation = Simulation(
                principal=principal,
                action=request.action,
                resource=request.resource,
                account_id=self._where.account,
                context=self._context(request, principal),
                identity_policies=grants.identity_policies,
                permission_boundaries=grants.permission_boundaries,
                resource_policy=self._resource_policy(request),
            )
            self._decide(role_arn.rsplit("/", 1)[-1], simulation, request, service, operation)

    def authorise_service(
        self, service_principal: str, requests: list[AuthRequest], service: str, operation: str
    ) -> None:
        """A delivery an AWS service makes as itself (EventBridge to a queue or a function): only the
        resource's policy can allow it, with the request's aws:SourceArn / aws:SourceAccount."""
        for request in requests:
            simulation = Simulation(
                principal=service_principal,
                action=request.action,
                resource=request.resource,
                account_id=self._where.account,
                context={"aws:SecureTransport": "true", **request.context},
                identity_policies=[],
                permission_boundaries=[],
                resource_policy=self._resource_policy(request),
            )
            self._decide(service_principal, simulation, request, service, operation, "resource-based")

    def _decide(
        self,
        who: str,
        simulation: Simulation,
        request: AuthRequest,
        service: str,
        operation: str,
        kind: str = "identity-based",
    ) -> None:
        result = self._engine.decide(simulation)
        with self._lock:
            self.counts.setdefault(who, Counter())["allowed" if result == "Allowed" else "denied"] += 1
            self.decided.append((who, simulation, result))
        if result == "Allowed":
            return
        message = denial_message(simulation.principal, request, result, kind)
        with self._lock:
            self.denials.append(message)
        code, status = DENIED_CODES.get(IAM_PREFIX.get(service, service), DEFAULT_DENIED)
        raise ClientError(
            {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}},
            operation,
        )

    # ------------------------------------------------------------------------------ the hook
    @contextmanager
    def acting_as(self, role_arn: str, session_name: str) -> Iterator[None]:
        """Authorise the requests this thread makes through boto3's default session, as this role."""
        thread = threading.get_ident()

        def check(params: dict[str, Any], model: Any, **_: Any) -> None:
            if threading.get_ident() == thread:
                self.authorise(role_arn, session_name, model.service_model.service_name, model.name, params)

        session = boto3.DEFAULT_SESSION or boto3.setup_default_session() or boto3.DEFAULT_SESSION
        assert session is not None
        session.events.register(HOOK_EVENT, check)
        try:
            yield
        finally:
            session.events.unregister(HOOK_EVENT, check)
            thread = -1  # clients created meanwhile keep the hook: make it inert

    def bind(self, client: Any, role_arn: str, session_name: str) -> Any:
        """``client``, whose every request is authorised as ``role_arn`` (a stand-in acting for an AWS
        service with the role the stack passes it, e.g. SageMaker with the execution role)."""

        def check(params: dict[str, Any], model: Any, **_: Any) -> None:
            self.authorise(role_arn, session_name, model.service_model.service_name, model.name, params)

        client.meta.events.register(HOOK_EVENT, check)
        return client

    def summary(self) -> list[str]:
        """One line per role: requests authorised and denied."""
        with self._lock:
            return [
                f"{role}: {counts['allowed']} authorised, {counts['denied']} denied"
                for role, counts in sorted(self.counts.items())
            ]
