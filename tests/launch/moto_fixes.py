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
from moto.cloudformation.models import ChangeSet, cloudformation_backends

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
