"""The stack's settings, read from the function's environment (the template sets each variable).

Nothing reads the environment at import time: each handler reads its settings per invocation.
"""

from __future__ import annotations

import os

from common.errors import ConfigurationError
from common.names import INSTANCE_TYPE_PATTERN


def env_text(name: str, *, required: bool = True) -> str:
    value = os.environ.get(name, "").strip()
    if required and not value:
        raise ConfigurationError(f"environment variable {name} is not set")
    return value


def env_int(name: str, *, minimum: int, maximum: int, default: int | None = None) -> int:
    text = os.environ.get(name, "").strip()
    if not text and default is not None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ConfigurationError(f"environment variable {name}={text!r} is not an integer") from None
    if not minimum <= value <= maximum:
        raise ConfigurationError(f"environment variable {name}={value} is outside {minimum}..{maximum}")
    return value


def env_bool(name: str) -> bool:
    text = os.environ.get(name, "false").strip().lower()
    if text not in ("true", "false"):
        raise ConfigurationError(f"environment variable {name}={text!r} must be true or false")
    return text == "true"


def env_instance_type(name: str, *, required: bool = True) -> str:
    """A SageMaker instance type (``ml.m5.large``); empty only when not required."""
    value = env_text(name, required=required)
    if value and not INSTANCE_TYPE_PATTERN.fullmatch(value):
        raise ConfigurationError(f"{name}={value!r} is not a SageMaker instance type (ml.m5.large)")
    return value


def env_list(name: str) -> tuple[str, ...]:
    """A comma-separated list (e.g. subnet ids); empty items are dropped, an unset variable is ()."""
    return tuple(item.strip() for item in os.environ.get(name, "").split(",") if item.strip())
