"""The SageMaker control plane the handlers use, run locally: its parts' operations called by name,
and one shutdown for the jobs, model servers and threads they leave running."""

from __future__ import annotations

import re
from typing import Any

from localmode.aws.awsmodel import ApiError
from localmode.aws.sagemaker.endpoints import EndpointOperations
from localmode.aws.sagemaker.registry import RegistryOperations
from localmode.aws.sagemaker.tags import TagOperations
from localmode.aws.sagemaker.training_jobs import TrainingJobOperations


class SageMakerBackend(TrainingJobOperations, EndpointOperations, RegistryOperations, TagOperations):
    """The operation classes on their shared core; operation CreateTrainingJob is op_create_training_job."""

    @staticmethod
    def method_name(operation: str) -> str:
        return "op_" + re.sub(r"(?<!^)([A-Z])", r"_\1", operation).lower()

    def handle(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        method = getattr(self, self.method_name(operation), None)
        if method is None:
            raise ApiError(
                "UnknownOperationException", f"The local SageMaker emulator does not implement {operation}"
            )
        return method(params)

    def shutdown(self) -> None:
        with self._lock:
            processes = list(self._training_processes.values())
            servers = list(self._servers.values())
            self._servers.clear()
        for process in processes:
            process.stop()
        for server in servers:
            server.stop()
        for thread in list(self._threads):
            thread.join(timeout=15)
        self._events.stop()
        self._spawner.stop()
