"""boto3 clients built lazily, once per execution environment, with botocore standard retries.

Throttling and 5xx are retried three times with backoff before an error reaches a handler. Only
``boto3.client(service, config=...)`` is used, so ``AWS_ENDPOINT_URL_<SERVICE>`` (local mode) is
honoured; ``reset_clients()`` drops the cache (tests, local mode after changing endpoints).
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

_clients: dict[str, Any] = {}


def _config() -> Config:
    return Config(retries={"mode": "standard"})


def client(service: str, region: str | None = None) -> Any:
    """The cached boto3 client for ``service`` (standard retry mode), in ``region`` when given (a
    service served from a few regions only, e.g. the Price List), else the function's own."""
    key = f"{service}@{region}" if region else service
    if key not in _clients:
        _clients[key] = boto3.client(service, region_name=region, config=_config())
    return _clients[key]


class LazyClient:
    """Stands for ``client(service)`` and builds it on first use: botocore spends 30-90 ms per
    client reading its service model, so a cold start pays only for the services its path calls."""

    __slots__ = ("_service",)

    def __init__(self, service: str) -> None:
        self._service = service

    def __getattr__(self, name: str) -> Any:
        return getattr(client(self._service), name)


def table(name: str) -> Any:
    """The cached DynamoDB Table (the resource API is used only for its type mapping)."""
    key = f"dynamodb-table:{name}"
    if key not in _clients:
        _clients[key] = boto3.resource("dynamodb", config=_config()).Table(name)
    return _clients[key]


def reset_clients() -> None:
    """Forget every cached client (tests and local mode rebuild them with new endpoints)."""
    _clients.clear()
