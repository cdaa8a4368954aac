"""Runs the real Lambda handlers in this process, each with its deployed function's environment and
only the endpoint variables pointing at moto and the emulator (the handlers stay unmodified); with
an IAM gate, every AWS request a handler makes is authorised as its function's role."""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localmode import ROOT
from localmode.aws.awsmodel import ApiError
from localmode.aws.iam.gate import IamGate

LAMBDAS_DIR = ROOT / "lambdas"
HANDLER_LOGGER = "sagemaker_pipeline"  # common.logs.LOGGER_NAME
ENVIRONMENT_MAX_BYTES = 4096  # Lambda quotas: 4 KB for all of a function's environment variables


def check_environment(variables: dict[str, Any]) -> None:
    """Lambda refuses a function whose variables (keys and values, measured as their JSON) pass 4 KB."""
    measured = json.dumps({key: str(value) for key, value in variables.items()}, separators=(",", ":"))
    if len(measured.encode()) > ENVIRONMENT_MAX_BYTES:
        raise ApiError(
            "InvalidParameterValueException",
            "Lambda was unable to configure your environment variables because the environment variables "
            f"you have provided exceeded the 4KB limit. String measured: {measured}",
        )


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object handlers may read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str
    started: float

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/{self.aws_request_id}"

    @property
    def function_version(self) -> str:
        return "$LATEST"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.started + self.timeout_seconds - time.monotonic()) * 1000))


def route_handler_logs(log_path: Path) -> Callable[[], None]:
    """Handlers log JSON lines; locally they go to a file instead of the demo's terminal. Returns the
    function that puts the handlers' logger back as it was."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger(HANDLER_LOGGER)
    saved = (list(logger.handlers), logger.level, logger.propagate)
    for existing in saved[0]:
        logger.removeHandler(existing)
    file_handler = logging.FileHandler(log_path, encoding="utf-8")
    file_handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(file_handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False

    def restore() -> None:
        logger.removeHandler(file_handler)
        file_handler.close()
        for handler in saved[0]:
            logger.addHandler(handler)
        logger.setLevel(saved[1])
        logger.propagate = saved[2]

    return restore


class _ConsistentEnviron(os._Environ):  # type: ignore[misc,name-defined]
    """os.environ whose whole-mapping reads (copy, items, keys, values, iteration) see one snapshot.

    The runner swaps each function's variables in and out of the process environment while other
    threads of local mode (the emulator's jobs, moto) create boto3 clients, which read the environment
    whole: urllib's proxy lookup iterates ``os.environ.items()`` and botocore's IMDS fetcher calls
    ``os.environ.copy()``. Plain os.environ lists its keys, then reads each one, so a variable the
    runner removed in between raised KeyError in that thread (a training job failed with
    ``KeyError: 'STACK_NAME'``). A dict copy of ``_data`` is one step under the GIL."""

    def _snapshot(self) -> dict[str, str]:
        data = self._data.copy()
        return {self.decodekey(key): self.decodevalue(value) for key, value in data.items()}

    def copy(self) -> dict[str, str]:
        return self._snapshot()

    def __iter__(self) -> Iterator[str]:
        return iter(self._snapshot())

    def keys(self) -> Any:
        return self._snapshot().keys()

    def items(self) -> Any:
        return self._snapshot().items()

    def values(self) -> Any:
        return self._snapshot().values()


def guard_environ() -> None:
    """Make os.environ's whole-mapping reads consistent for the rest of this process (see above)."""
    if type(os.environ) is os._Environ:  # type: ignore[attr-defined]
        os.environ.__class__ = _ConsistentEnviron


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class LambdaRunner:
    """Invokes deployed functions by name. One invocation at a time: os.environ is process-wide."""

    def __init__(
        self, *, lambda_client: Any, endpoints: dict[str, str], region: str, gate: IamGate | None = None
    ) -> None:
        self._lambda = lambda_client
        self._gate = gate
        self._endpoints = endpoints
        self._region = region
        self._lock = threading.Lock()
        self._configurations: dict[str, dict[str, Any]] = {}
        guard_environ()
        if str(LAMBDAS_DIR) not in sys.path:
            sys.path.insert(0, str(LAMBDAS_DIR))
        # A new world's functions start cold: nothing cached by another world's (the Price List's answers).
        importlib.import_module("common.pricing").reset()

    def configuration(self, function_name: str) -> dict[str, Any]:
        if function_name not in self._configurations:
            configuration = self._lambda.get_function_configuration(FunctionName=function_name)
            check_environment(configuration.get("Environment", {}).get("Variables", {}))
            self._configurations[function_name] = configuration
        return self._configurations[function_name]

    def forget_configurations(self) -> None:
        """After a stack update: the next invocation reads each function's configuration again."""
        self._configurations.clear()

    def function_environment(self, function_name: str) -> dict[str, str]:
        """The function's own variables plus what the Lambda service sets; endpoints point locally."""
        configuration = self.configuration(function_name)
        # Lambda hands every variable over as text (moto keeps template numbers as numbers)
        variables = {k: str(v) for k, v in configuration.get("Environment", {}).get("Variables", {}).items()}
        variables.update(
            {
                "AWS_REGION": self._region,
                "AWS_DEFAULT_REGION": self._region,
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "AWS_SESSION_TOKEN": "local",
                "AWS_LAMBDA_FUNCTION_NAME": configuration["FunctionName"],
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(configuration.get("MemorySize", 128)),
            }
        )
        variables.update(self._endpoints)
        return variables

    def invoke(self, function_name: str, event: Any) -> Any:
        configuration = self.configuration(function_name)
        module_name, _, attribute = configuration["Handler"].rpartition(".")
        context = LambdaContext(
            function_name=configuration["FunctionName"],
            invoked_function_arn=configuration["FunctionArn"],
            memory_limit_in_mb=configuration.get("MemorySize", 128),
            timeout_seconds=configuration.get("Timeout", 3),
            aws_request_id=str(uuid.uuid4()),
            started=time.monotonic(),
        )
        with self._lock, environment(self.function_environment(function_name)):
            clients = importlib.import_module("common.clients")
            clients.reset_clients()
            handler = getattr(importlib.import_module(module_name), attribute)
            authorised = (
                self._gate.acting_as(configuration["Role"], configuration["FunctionName"])
                if self._gate
                else nullcontext()
            )
            try:
                with authorised:
                    return handler(event, context)  # an unhandled exception reaches the caller, as in Lambda
            finally:
                clients.reset_clients()

    def find_function(self, handler: str, stack_name: str) -> str:
        """The deployed function of this stack whose Handler is `handler` (e.g. job_events.handler)."""
        paginator = self._lambda.get_paginator("list_functions")
        for page in paginator.paginate():
            for function in page["Functions"]:
                variables = function.get("Environment", {}).get("Variables", {})
                same_stack = variables.get("STACK_NAME") == stack_name or function["FunctionName"].startswith(
                    f"{stack_name}-"
                )
                if function["Handler"] == handler and same_stack:
                    return function["FunctionName"]
        raise LookupError(f"stack {stack_name} has no function with handler {handler}")
