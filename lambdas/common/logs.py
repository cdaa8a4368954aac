"""JSON-lines logging: one object per line with the bound context (run id, job id).

Field values pass through ``redact`` so a mapping holding ``artifactCredentials`` or a key that
looks like a secret is never printed; handlers log ids, never raw events.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

LOGGER_NAME = "sagemaker_pipeline"
_SECRET_KEY_PATTERN = re.compile(r"(credential|secret|token|password|authorization)", re.IGNORECASE)
_logger = logging.getLogger(LOGGER_NAME)


def _ensure_log_output() -> None:
    if _logger.level == logging.NOTSET:
        _logger.setLevel(logging.INFO)
        if not logging.getLogger().handlers:
            # Outside Lambda (local mode) the root logger has no handler: write lines to stderr.
            stream = logging.StreamHandler(sys.stderr)
            stream.setFormatter(logging.Formatter("%(message)s"))
            _logger.addHandler(stream)
            _logger.propagate = False


def redact(value: Any) -> Any:
    """A copy of ``value`` with secret-looking mapping entries replaced by ``"***"``."""
    if isinstance(value, Mapping):
        return {
            str(key): "***" if _SECRET_KEY_PATTERN.search(str(key)) else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value


@dataclass
class Log:
    """A JSON-lines logger carrying context fields (run id, job id) on every line."""

    handler: str
    context: dict[str, Any] = field(default_factory=dict)

    def bind(self, **fields: Any) -> None:
        self.context.update({key: value for key, value in fields.items() if value})

    def _emit(self, level: int, message: str, fields: dict[str, Any]) -> None:
        _ensure_log_output()
        record = {"level": logging.getLevelName(level), "handler": self.handler, "message": message}
        record.update(self.context)
        record.update(fields)
        _logger.log(level, json.dumps(redact(record), default=str, sort_keys=False))

    def info(self, message: str, **fields: Any) -> None:
        self._emit(logging.INFO, message, fields)

    def warning(self, message: str, **fields: Any) -> None:
        self._emit(logging.WARNING, message, fields)

    def error(self, message: str, **fields: Any) -> None:
        self._emit(logging.ERROR, message, fields)
