"""The CodePipeline job-worker calls (PutJobSuccessResult / PutJobFailureResult) moto lacks, recorded."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from localmode.aws.awsmodel import ApiError


@dataclass
class JobResult:
    job_id: str
    succeeded: bool
    continuation_token: str | None = None
    output_variables: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    failure_type: str = ""
    failure_message: str = ""


class CodePipelineJobs:
    """Jobs the player opened for one action invocation; each accepts exactly one result."""

    LOCAL_OPERATIONS = ("PutJobSuccessResult", "PutJobFailureResult")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: set[str] = set()
        self.results: dict[str, JobResult] = {}

    def open(self, job_id: str) -> None:
        with self._lock:
            self._open.add(job_id)

    def result(self, job_id: str) -> JobResult | None:
        with self._lock:
            return self.results.get(job_id)

    def handles(self, operation: str) -> bool:
        return operation in self.LOCAL_OPERATIONS

    def handle(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        job_id = params["jobId"]
        if operation == "PutJobSuccessResult":
            details = params.get("executionDetails", {})
            result = JobResult(
                job_id,
                True,
                continuation_token=params.get("continuationToken"),
                output_variables=params.get("outputVariables", {}),
                summary=details.get("summary", ""),
            )
        else:
            details = params["failureDetails"]
            result = JobResult(
                job_id, False, failure_type=details["type"], failure_message=details["message"]
            )
        with self._lock:
            if job_id not in self._open and job_id not in self.results:
                raise ApiError("JobNotFoundException", f"Job {job_id} not found")
            if job_id in self.results:
                raise ApiError("InvalidJobStateException", f"Job {job_id} already has a result")
            self._open.discard(job_id)
            self.results[job_id] = result
        return {}
