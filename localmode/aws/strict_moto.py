"""moto with the AWS limits it does not enforce and that a documented command can meet.

- CloudFormation takes a TemplateBody of at most 51,200 bytes (larger templates must go by
  TemplateURL, up to 1 MB): the CreateStack/UpdateStack/CreateChangeSet/ValidateTemplate API
  reference, parameter TemplateBody, "Length Constraints: Minimum length of 1. Maximum 51200".
  Refused with AWS's ValidationError text.
- A stack delete keeps resources whose DeletionPolicy is RetainExceptOnCreate, as it keeps Retain
  ones (moto keeps only the latter). A failed create's rollback, which must delete them, is not
  moto's to do: it never rolls back; local mode's deployer does (localmode/pipeline/retention.py).
- CodePipeline takes a pipeline name of 1 to 100 characters matching `[A-Za-z0-9.@_-]+`
  (CreatePipeline / UpdatePipeline API reference, PipelineDeclaration: name); the template names the
  pipeline after the stack, whose name may be up to 128 characters. Refused with AWS's
  ValidationException text.
- Fn::GetAtt of an AWS::Logs::LogGroup's Arn ends in ":*" (the resource reference's return values:
  "arn:aws:logs:us-west-1:123456789012:log-group:/mystack-testgroup-12ABC1AHYI2E:*"); moto leaves it
  off, and a policy granting logs:CreateLogStream on it would then match no log stream.
- A stack update keeps a resource it modifies when moto cannot update that type (e.g. a LogGroup
  whose RetentionInDays parameter is re-sent): moto put None in its place, so every later Fn::GetAtt
  of it in the same update failed with "references undefined resource", an error AWS never gives
  for a template it created from. (moto also counts a parameter left at its default as changed,
  which is how a role referencing RolePath came to be updated after the log group it names.)
  Likewise a resource whose Condition is false is left alone by an update, as it is by a create;
  moto resolved its properties and failed on the GetAtt of another conditional resource.

- EventBridge rules are independent, and a schedule rule takes no events. moto delivers an S3 event
  to every rule in one loop under a bare `except: pass`, and raises ("Expr not defined") for a
  schedule rule: the first stack with a schedule (the drift check's) silently dropped every upload
  event for the rules after it, so a later stack's data trigger in the same moto never saw its
  uploads. Here a schedule rule is skipped and a rule that fails is logged and fails alone.

``apply()`` patches this process's moto; ``python -m localmode.aws.strict_moto <moto.server args>``
runs a moto server with the patches (local mode's moto child process).
"""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import Callable
from typing import Any

from moto.cloudformation import parsing
from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.parsing import ResourceMap
from moto.cloudformation.responses import CloudFormationResponse
from moto.codepipeline.responses import CodePipelineResponse
from moto.core.exceptions import JsonRESTError
from moto.events.models import Rule
from moto.logs.models import LogGroup

from localmode.aws import moto_intrinsics

TEMPLATE_BODY_MAX_BYTES = 51_200
_TEMPLATE_OPERATIONS = ("create_stack", "update_stack", "create_change_set", "validate_template")
PIPELINE_NAME_MAX = 100
PIPELINE_NAME = re.compile(r"[A-Za-z0-9.@\-_]+")


def template_body_error(size: int) -> str:
    return (
        "1 validation error detected: Value at 'templateBody' failed to satisfy constraint: "
        f"Member must have length less than or equal to {TEMPLATE_BODY_MAX_BYTES} (the template is {size} "
        "bytes: upload it to S3 and pass --template-url)"
    )


def _limit_template_body(operation: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(operation)
    def checked(self: CloudFormationResponse, *args: Any, **kwargs: Any) -> Any:
        body = self._get_param("TemplateBody")
        if body and len(body.encode("utf-8")) > TEMPLATE_BODY_MAX_BYTES:
            raise ValidationError(message=template_body_error(len(body.encode("utf-8"))))
        return operation(self, *args, **kwargs)

    checked.strict_moto = True  # type: ignore[attr-defined]
    return checked


def _keep_retained_except_on_create(delete: Callable[[ResourceMap], None]) -> Callable[[ResourceMap], None]:
    @functools.wraps(delete)
    def deleting(self: ResourceMap) -> None:
        for resource in self._resource_json_map.values():
            if resource.get("DeletionPolicy") == "RetainExceptOnCreate":
                resource["DeletionPolicy"] = "Retain"  # the stack is going: what moto reads, as AWS acts
        delete(self)

    deleting.strict_moto = True  # type: ignore[attr-defined]
    return deleting


def pipeline_name_error(name: str) -> str | None:
    if len(name) > PIPELINE_NAME_MAX:
        constraint = f"Member must have length less than or equal to {PIPELINE_NAME_MAX}"
    elif not PIPELINE_NAME.fullmatch(name):
        constraint = "Member must satisfy regular expression pattern: [A-Za-z0-9.@\\-_]+"
    else:
        return None
    return (
        f"1 validation error detected: Value '{name}' at 'pipeline.name' failed to satisfy constraint: "
        f"{constraint}"
    )


def _check_pipeline_name(operation: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(operation)
    def checked(self: CodePipelineResponse, *args: Any, **kwargs: Any) -> Any:
        problem = pipeline_name_error((self._get_param("pipeline") or {}).get("name", ""))
        if problem:
            raise JsonRESTError("ValidationException", problem)
        return operation(self, *args, **kwargs)

    checked.strict_moto = True  # type: ignore[attr-defined]
    return checked


def _log_group_arn_with_streams(get: Callable[[LogGroup, str], Any]) -> Callable[[LogGroup, str], Any]:
    @functools.wraps(get)
    def attribute(self: LogGroup, attribute_name: str) -> Any:
        value = get(self, attribute_name)
        return f"{value}:*" if attribute_name == "Arn" and not value.endswith(":*") else value

    attribute.strict_moto = True  # type: ignore[attr-defined]
    return attribute


def _keep_resources_moto_cannot_update(update: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(update)
    def kept(
        logical_id: str, resource_json: dict[str, Any], resources_map: ResourceMap, **kwargs: Any
    ) -> Any:
        condition = resource_json.get("Condition")
        if condition and not resources_map.lazy_condition_map[condition]:
            return None  # a resource whose condition is false is neither created nor updated
        changed = update(logical_id, resource_json, resources_map, **kwargs)
        return changed if changed is not None else resources_map[logical_id]

    kept.strict_moto = True  # type: ignore[attr-defined]
    return kept


LOG = logging.getLogger("localmode.strict_moto")


def _one_rule_at_a_time(send: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(send)
    def sent(self: Rule, *args: Any, **kwargs: Any) -> Any:
        if self.scheduled_expression and not self.event_pattern.get_pattern():
            return None  # a schedule rule takes no events (moto raised "Expr not defined")
        try:
            return send(self, *args, **kwargs)
        except Exception as error:  # noqa: BLE001 - one rule's failure is that rule's alone
            LOG.warning("EventBridge rule %s could not deliver an event: %s", self.name, error)
            return None

    sent.strict_moto = True  # type: ignore[attr-defined]
    return sent


def apply() -> None:
    """Make this process's moto act as AWS does where it matters to us (idempotent)."""
    moto_intrinsics.apply()  # Fn::Equals compares a Number parameter as a string
    for name in _TEMPLATE_OPERATIONS:
        operation = getattr(CloudFormationResponse, name)
        if not getattr(operation, "strict_moto", False):
            setattr(CloudFormationResponse, name, _limit_template_body(operation))
    if not getattr(ResourceMap.delete, "strict_moto", False):
        ResourceMap.delete = _keep_retained_except_on_create(ResourceMap.delete)  # type: ignore[method-assign]
    for name in ("create_pipeline", "update_pipeline"):
        operation = getattr(CodePipelineResponse, name)
        if not getattr(operation, "strict_moto", False):
            setattr(CodePipelineResponse, name, _check_pipeline_name(operation))
    if not getattr(parsing.parse_and_update_resource, "strict_moto", False):
        parsing.parse_and_update_resource = _keep_resources_moto_cannot_update(
            parsing.parse_and_update_resource
        )
    if not getattr(Rule.send_to_targets, "strict_moto", False):
        Rule.send_to_targets = _one_rule_at_a_time(Rule.send_to_targets)  # type: ignore[method-assign]
    if not getattr(LogGroup.get_cfn_attribute, "strict_moto", False):
        LogGroup.get_cfn_attribute = _log_group_arn_with_streams(LogGroup.get_cfn_attribute)  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    from moto.server import main as moto_main

    apply()
    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
