"""moto with the AWS limits it does not enforce and that a documented command can meet.

- CloudFormation takes a TemplateBody of at most 51,200 bytes (larger templates must go by
  TemplateURL, up to 1 MB): the CreateStack/UpdateStack/CreateChangeSet/ValidateTemplate API
  reference, parameter TemplateBody, "Length Constraints: Minimum length of 1. Maximum 51200".
  Refused with AWS's ValidationError text.
- A stack delete keeps resources whose DeletionPolicy is RetainExceptOnCreate, as it keeps Retain
  ones (moto keeps only the latter). A failed create's rollback, which must delete them, is not
  moto's to do: it never rolls back; local mode's deployer does (localmode/pipeline/retention.py).

``apply()`` patches this process's moto; ``python -m localmode.aws.strict_moto <moto.server args>``
runs a moto server with the patches (local mode's moto child process).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.parsing import ResourceMap
from moto.cloudformation.responses import CloudFormationResponse

from localmode.aws import moto_intrinsics

TEMPLATE_BODY_MAX_BYTES = 51_200
_TEMPLATE_OPERATIONS = ("create_stack", "update_stack", "create_change_set", "validate_template")


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


def apply() -> None:
    """Make this process's moto act as AWS does where it matters to us (idempotent)."""
    moto_intrinsics.apply()  # Fn::Equals compares a Number parameter as a string
    for name in _TEMPLATE_OPERATIONS:
        operation = getattr(CloudFormationResponse, name)
        if not getattr(operation, "strict_moto", False):
            setattr(CloudFormationResponse, name, _limit_template_body(operation))
    if not getattr(ResourceMap.delete, "strict_moto", False):
        ResourceMap.delete = _keep_retained_except_on_create(ResourceMap.delete)  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    from moto.server import main as moto_main

    apply()
    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
