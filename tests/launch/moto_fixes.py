"""Patches for moto 5.2.5 bugs that the launch tests would otherwise trip over.

moto's ExecuteChangeSet applies the resources but never rebuilds the stack's outputs or its
parsed template, so a stack created by `aws cloudformation deploy` (which always uses change
sets) reports no Outputs and registers no Exports. `change_set_outputs_fixed()` makes
ChangeSet.apply refresh both, as CreateStack does (DeleteStack then removes the exports).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import ChangeSet, Event, cloudformation_backends

_original_apply = ChangeSet.apply


def _apply_and_refresh_outputs(change_set: ChangeSet) -> None:
    _original_apply(change_set)
    stack = change_set.stack
    stack.template = change_set.template
    stack._parse_template()
    stack.output_map = stack._create_output_map()
    backend = cloudformation_backends[stack.account_id][stack.region_name]
    for export in stack.exports:
        backend.exports[export.name] = export


@contextmanager
def change_set_outputs_fixed() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ChangeSet, "apply", _apply_and_refresh_outputs)
        yield


@contextmanager
def change_sets_fail(logical_id: str, reason: str) -> Iterator[None]:
    """Makes ExecuteChangeSet fail the way CloudFormation reports a failed create.

    moto cannot fail a resource, so this records a CREATE_FAILED event for `logical_id`, leaves
    the stack in ROLLBACK_COMPLETE and rejects the call.
    """

    def fail(change_set: ChangeSet) -> None:
        stack = change_set.stack
        stack.events.append(
            Event(
                stack_id=stack.stack_id,
                stack_name=stack.name,
                logical_resource_id=logical_id,
                physical_resource_id="",
                resource_type="AWS::S3::Bucket",
                resource_status="CREATE_FAILED",
                resource_status_reason=reason,
                resource_properties=None,
            )
        )
        stack._add_stack_event("ROLLBACK_COMPLETE")
        stack.status = "ROLLBACK_COMPLETE"
        raise ValidationError(stack.name, message=f"Stack {stack.name} failed: {reason}")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ChangeSet, "apply", fail)
        yield
