"""botocore's service models as the emulator's contract: validate requests, check responses, encode JSON."""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import re
from collections.abc import Iterator
from typing import Any

import botocore.session
from botocore.exceptions import ParamValidationError
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.validate import ParamValidator


class ApiError(Exception):
    """An error the emulator returns in the service's own wire shape."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


@functools.cache
def service_model(service: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(service)


def operation(service: str, name: str) -> OperationModel:
    model = service_model(service)
    if name not in model.operation_names:
        raise ApiError("UnknownOperationException", f"{service} has no operation {name}")
    return model.operation_model(name)


def validate_input(op: OperationModel, params: dict[str, Any]) -> None:
    """Reject a request the real service would reject for its shape: botocore's own validator (types,
    required members, minimums), then the model's maximums, patterns and enums, which botocore leaves to
    AWS."""
    if op.input_shape is None:
        return
    report = ParamValidator().validate(params, op.input_shape)
    if report.has_errors():
        raise ApiError("ValidationException", str(ParamValidationError(report=report.generate_report())))
    problems = list(_constraint_problems(op.input_shape, params, op.input_shape.name))
    if problems:
        raise ApiError(
            "ValidationException", f"{len(problems)} validation error(s) detected: " + "; ".join(problems)
        )


@functools.cache
def _pattern(text: str) -> re.Pattern[str] | None:
    try:
        return re.compile(text)
    except re.error:  # Java-only syntax (\p{L} and the like): AWS checks it, we cannot
        return None


def _constraint_problems(shape: Shape, value: Any, path: str) -> Iterator[str]:
    kind, metadata = shape.type_name, shape.metadata
    if kind == "structure" and isinstance(value, dict):
        for name, item in value.items():
            if name in shape.members:
                yield from _constraint_problems(shape.members[name], item, f"{path}.{name}")
    elif kind == "list" and isinstance(value, list):
        if "max" in metadata and len(value) > metadata["max"]:
            yield f"{path} has {len(value)} items, more than {metadata['max']}"
        for index, item in enumerate(value):
            yield from _constraint_problems(shape.member, item, f"{path}[{index}]")
    elif kind == "map" and isinstance(value, dict):
        if "max" in metadata and len(value) > metadata["max"]:
            yield f"{path} has {len(value)} entries, more than {metadata['max']}"
        for key, item in value.items():
            yield from _constraint_problems(shape.key, key, f"{path} key {key!r}")
            yield from _constraint_problems(shape.value, item, f"{path}[{key}]")
    elif kind == "string" and isinstance(value, str):
        if "max" in metadata and len(value) > metadata["max"]:
            yield f"{path} is {len(value)} characters long, more than {metadata['max']}"
        pattern = _pattern(metadata["pattern"]) if "pattern" in metadata else None
        if pattern is not None and not pattern.fullmatch(value):  # AWS matches the whole value
            yield f"{path} value {value!r} does not match the pattern {metadata['pattern']}"
        if shape.enum and value not in shape.enum:  # botocore leaves enums to AWS too
            yield f"{path} value {value!r} is not in the enum value set [{', '.join(shape.enum)}]"
    elif kind in ("integer", "long") and isinstance(value, int):
        if "max" in metadata and value > metadata["max"]:
            yield f"{path} is {value}, more than {metadata['max']}"


def check_output(op: OperationModel, value: dict[str, Any]) -> None:
    """Fail loudly when the emulator produces a member the service model does not have."""
    if op.output_shape is None:
        if value:
            raise AssertionError(f"{op.name} has no output shape but returned {sorted(value)}")
        return
    _check_shape(op.output_shape, value, op.name)


def _check_shape(shape: Shape, value: Any, path: str) -> None:
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise AssertionError(f"{path}: expected a structure, got {type(value).__name__}")
        for name in value:
            if name not in shape.members:
                raise AssertionError(f"{path}: {name} is not a member of {shape.name}")
            _check_shape(shape.members[name], value[name], f"{path}.{name}")
        missing = [name for name in shape.required_members if name not in value]
        if missing:
            raise AssertionError(f"{path}: required members missing: {missing}")
    elif kind == "list":
        if not isinstance(value, list):
            raise AssertionError(f"{path}: expected a list")
        for index, item in enumerate(value):
            _check_shape(shape.member, item, f"{path}[{index}]")
    elif kind == "map":
        if not isinstance(value, dict):
            raise AssertionError(f"{path}: expected a map")
        for key, item in value.items():
            _check_shape(shape.value, item, f"{path}[{key}]")
    elif kind == "timestamp":
        if not isinstance(value, dt.datetime):
            raise AssertionError(f"{path}: expected a datetime")
    elif kind == "string":
        if not isinstance(value, str):
            raise AssertionError(f"{path}: expected a string")
        allowed = shape.enum
        if allowed and value not in allowed:
            raise AssertionError(f"{path}: {value!r} is not one of {allowed}")
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise AssertionError(f"{path}: expected an integer")
    elif kind in ("float", "double"):
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise AssertionError(f"{path}: expected a number")
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise AssertionError(f"{path}: expected a boolean")


def _wire_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"cannot encode {type(value).__name__}")


def to_wire_json(value: dict[str, Any]) -> bytes:
    """awsJson encoding: timestamps as epoch seconds, blobs as base64."""
    return json.dumps(value, default=_wire_default).encode()


def error_body(error: ApiError) -> bytes:
    return json.dumps({"__type": error.code, "message": error.message}).encode()
