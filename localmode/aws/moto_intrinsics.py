"""moto's CloudFormation conditions as AWS evaluates them.

A Number parameter is a string wherever the template uses it ("when you use the parameter elsewhere in
your template (for example, by using the Ref intrinsic function), the parameter value becomes a
string": CloudFormation User Guide, Parameters, Type Number), so `!Equals [!Ref NumberParam, "0"]` is
true for 0. moto parses Number parameters into ints and compares 0 with "0" as unequal, which turned
the template's DataTriggerBatching condition on for a quiet window of 0 (BatchSize 100 without a
batching window, a mapping Lambda refuses: docs/aws-rules.md).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from moto.cloudformation import parsing


def _as_text(value: Any) -> Any:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    return value


def _equals_as_strings(parse: Callable[..., bool]) -> Callable[..., bool]:
    @functools.wraps(parse)
    def parse_condition(condition: Any, resources_map: Any, condition_map: dict[str, Any]) -> bool:
        if isinstance(condition, dict) and list(condition)[:1] == ["Fn::Equals"]:
            values = [
                condition_map[value["Condition"]]
                if isinstance(value, dict) and "Condition" in value
                else parsing.clean_json(value, resources_map)
                for value in condition["Fn::Equals"]
            ]
            return _as_text(values[0]) == _as_text(values[1])
        return parse(condition, resources_map, condition_map)

    parse_condition.strict_moto = True  # type: ignore[attr-defined]
    return parse_condition


def apply() -> None:
    """Idempotent: patch this process's moto."""
    if not getattr(parsing.parse_condition, "strict_moto", False):
        parsing.parse_condition = _equals_as_strings(parsing.parse_condition)
