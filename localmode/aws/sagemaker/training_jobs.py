"""Training jobs: CreateTrainingJob, DescribeTrainingJob, ListTrainingJobs, StopTrainingJob, each job
run on a thread of its own (training.py) and its state changes sent as EventBridge events."""

from __future__ import annotations

import copy
import datetime as dt
import logging
import shutil
import threading
import uuid
from pathlib import Path
from typing import Any

from lambdas.common.failure_text import cap
from lambdas.common.names import has_local_nvme_storage
from localmode.aws.awsmodel import ApiError
from localmode.aws.sagemaker.core import BackendCore, now
from localmode.aws.sagemaker.listing import paginate, with_next_token
from localmode.aws.sagemaker.training import (
    FAILURE_REASON_LIMIT,
    MetricScanner,
    TrainingProcess,
    failure_reason,
    package_model,
    prepare_tree,
    s3_prefix,
)
from localmode.aws.sagemaker.training_logs import publish_training_log

LOG = logging.getLogger(__name__)
EVENT_DETAIL_TYPE = "SageMaker Training Job State Change"


def _epoch_millis(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, dict):
        return {key: _epoch_millis(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_epoch_millis(item) for item in value]
    return value


def training_event(
    description: dict[str, Any], tags: list[dict[str, str]], region: str, account: str
) -> dict:
    """The EventBridge event SageMaker emits: detail is the job description, times in epoch milliseconds."""
    detail = _epoch_millis(copy.deepcopy(description))
    detail["Tags"] = {tag["Key"]: tag["Value"] for tag in tags}
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": EVENT_DETAIL_TYPE,
        "source": "aws.sagemaker",
        "account": account,
        "time": now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [description["TrainingJobArn"]],
        "detail": detail,
    }


class _StoppedBeforeStart(Exception):
    pass


def check_training_request(params: dict[str, Any]) -> None:
    """CreateTrainingJob's cross-field rules that botocore's model cannot carry (docs/aws-rules.md)."""
    resources = params["ResourceConfig"]
    instance_type = resources.get("InstanceType", "")
    if resources.get("VolumeKmsKeyId") and has_local_nvme_storage(instance_type):
        raise ApiError(
            "ValidationException",
            f"Instance type {instance_type} has local instance storage, which is encrypted by a hardware "
            "module on the instance: you can't request a VolumeKmsKeyId with it.",
        )
    stopping = params["StoppingCondition"]
    max_wait = stopping.get("MaxWaitTimeInSeconds")
    if max_wait is not None:
        if not params.get("EnableManagedSpotTraining"):
            raise ApiError(
                "ValidationException",
                "StoppingCondition.MaxWaitTimeInSeconds is only valid with managed spot training: "
                "set EnableManagedSpotTraining to true or remove MaxWaitTimeInSeconds.",
            )
        max_runtime = stopping.get("MaxRuntimeInSeconds")
        if max_runtime is not None and max_wait < max_runtime:
            raise ApiError(
                "ValidationException",
                f"StoppingCondition.MaxWaitTimeInSeconds ({max_wait}) must be equal to or greater than "
                f"MaxRuntimeInSeconds ({max_runtime}).",
            )


class TrainingJobOperations(BackendCore):
    def op_create_training_job(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["TrainingJobName"]
        check_training_request(params)
        created = now()
        with self._lock:
            if name in self.training_jobs:
                raise ApiError(
                    "ResourceInUse",
                    f"Training job names must be unique within an AWS account and region, and a training "
                    f"job with this name already exists ({self.arn('training-job', name)})",
                )
            description = {
                "TrainingJobName": name,
                "TrainingJobArn": self.arn("training-job", name),
                "ModelArtifacts": {"S3ModelArtifacts": ""},
                "TrainingJobStatus": "InProgress",
                "SecondaryStatus": "Starting",
                "HyperParameters": params.get("HyperParameters", {}),
                "AlgorithmSpecification": params["AlgorithmSpecification"],
                "RoleArn": params["RoleArn"],
                "InputDataConfig": params.get("InputDataConfig", []),
                "OutputDataConfig": params["OutputDataConfig"],
                "ResourceConfig": params["ResourceConfig"],
                "StoppingCondition": params["StoppingCondition"],
                "CreationTime": created,
                "LastModifiedTime": created,
                "SecondaryStatusTransitions": [
                    {
                        "Status": "Starting",
                        "StartTime": created,
                        "StatusMessage": "Preparing the instances for training",
                    }
                ],
                "EnableManagedSpotTraining": params.get("EnableManagedSpotTraining", False),
            }
            if params.get("Environment"):
                description["Environment"] = params["Environment"]
            self.training_jobs[name] = description
            self._set_tags(description["TrainingJobArn"], params.get("Tags"))
            event = training_event(
                description, self.tags[description["TrainingJobArn"]], self.region, self.account_id
            )
        self._events.emit(event)
        self._start_thread(self._run_training, name)
        return {"TrainingJobArn": description["TrainingJobArn"]}

    def op_describe_training_job(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            job = self.training_jobs.get(params["TrainingJobName"])
            if job is None:
                raise ApiError("ValidationException", "Requested resource not found.")
            return copy.deepcopy(job)

    def op_list_training_jobs(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            jobs = list(self.training_jobs.values())
        if params.get("StatusEquals"):
            jobs = [job for job in jobs if job["TrainingJobStatus"] == params["StatusEquals"]]
        page, token = paginate(jobs, params, "TrainingJobName", "TrainingJobStatus")
        summary_keys = (
            "TrainingJobName",
            "TrainingJobArn",
            "CreationTime",
            "TrainingEndTime",
            "LastModifiedTime",
        )
        summaries = [
            {key: job[key] for key in (*summary_keys, "TrainingJobStatus", "SecondaryStatus") if key in job}
            for job in page
        ]
        return with_next_token({"TrainingJobSummaries": copy.deepcopy(summaries)}, token)

    def op_stop_training_job(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["TrainingJobName"]
        with self._lock:
            job = self.training_jobs.get(name)
            if job is None:
                raise ApiError("ValidationException", "Requested resource not found.")
            if job["TrainingJobStatus"] != "InProgress":
                raise ApiError(
                    "ValidationException",
                    f"The job status is {job['TrainingJobStatus']}; it cannot be stopped.",
                )
            job["TrainingJobStatus"] = "Stopping"
            self._transition(job, "Stopping", "Stopping the training job")
            process = self._training_processes.get(name)
        if process is not None:
            threading.Thread(target=process.stop, daemon=True).start()
        return {}

    def _transition(self, job: dict[str, Any], secondary: str, message: str) -> None:
        moment = now()
        transitions = job["SecondaryStatusTransitions"]
        if transitions and "EndTime" not in transitions[-1]:
            transitions[-1]["EndTime"] = moment
        if secondary not in ("Completed", "Failed", "Stopped"):
            transitions.append({"Status": secondary, "StartTime": moment, "StatusMessage": message})
        else:
            transitions.append(
                {"Status": secondary, "StartTime": moment, "EndTime": moment, "StatusMessage": message}
            )
        job["SecondaryStatus"] = secondary
        job["LastModifiedTime"] = moment

    def _update_job(self, name: str, secondary: str, message: str) -> dict[str, Any]:
        with self._lock:
            job = self.training_jobs[name]
            self._transition(job, secondary, message)
            return job

    def _run_training(self, name: str) -> None:
        with self._lock:
            request = copy.deepcopy(self.training_jobs[name])
        base_dir = self.workdir / "training" / name
        shutil.rmtree(base_dir, ignore_errors=True)
        base_dir.mkdir(parents=True)
        metrics = MetricScanner(request["AlgorithmSpecification"].get("MetricDefinitions", []))
        outcome_status, reason, secondary = "Failed", "", "Failed"
        started = None
        runtime_exceeded = threading.Event()
        try:
            runtime = self.images.resolve(request["AlgorithmSpecification"]["TrainingImage"])
            self._update_job(name, "Downloading", "Downloading input data")
            prepare_tree(base_dir, request, self._s3_factory(request["RoleArn"]))
            started = now()
            with self._lock:
                job = self.training_jobs[name]
                job["TrainingStartTime"] = started
                self._transition(job, "Training", "Training image download completed. Training in progress.")
                if job["TrainingJobStatus"] == "Stopping":
                    raise _StoppedBeforeStart
                argv, env = runtime.command("train", base_dir, None, request.get("Environment", {}))
                process = TrainingProcess(argv, env, base_dir, base_dir / "train.log", self._spawner.popen)
                self._training_processes[name] = process
            limit = request["StoppingCondition"].get("MaxRuntimeInSeconds")
            timer = (
                threading.Timer(limit, lambda: (runtime_exceeded.set(), process.stop())) if limit else None
            )
            if timer:
                timer.daemon = True
                timer.start()
            code = process.stream(metrics.feed)
            if timer:
                timer.cancel()
            if runtime_exceeded.is_set():
                outcome_status, secondary = "Stopped", "MaxRuntimeExceeded"
                reason = f"Training job reached its MaxRuntimeInSeconds ({limit} s) and was stopped"
            elif process.stop_requested.is_set():
                outcome_status, secondary = "Stopped", "Stopped"
            elif code == 0:
                self._update_job(name, "Uploading", "Uploading generated training model")
                artifact = self._upload_model(request, base_dir)
                with self._lock:
                    self.training_jobs[name]["ModelArtifacts"] = {"S3ModelArtifacts": artifact}
                outcome_status, secondary = "Completed", "Completed"
            else:
                reason = failure_reason(base_dir, code)
        except _StoppedBeforeStart:
            outcome_status, secondary = "Stopped", "Stopped"
        except ApiError as error:
            reason = f"ClientError: {error.message}"
        except Exception as error:
            LOG.exception("training job %s could not run", name)
            reason = f"InternalServerError: the local emulator could not run the job: {error}"
        finally:
            with self._lock:
                self._training_processes.pop(name, None)
        if started is not None:
            self._publish_log(name, request["RoleArn"], base_dir / "train.log", started)
        self._finish_training(name, outcome_status, secondary, reason, metrics.values, started)

    def _publish_log(self, name: str, role_arn: str, log_path: Path, started: dt.datetime) -> None:
        """The job's log into CloudWatch Logs before its terminal state shows, as SageMaker streams it."""
        if self._logs_factory is None:
            return
        try:
            publish_training_log(self._logs_factory(role_arn), name, log_path, started)
        except Exception:
            LOG.warning("the log of training job %s was not written to CloudWatch Logs", name, exc_info=True)

    def _upload_model(self, request: dict[str, Any], base_dir: Path) -> str:
        archive = package_model(base_dir)
        bucket, prefix = s3_prefix(request["OutputDataConfig"]["S3OutputPath"])
        key = "/".join(
            part for part in (prefix.rstrip("/"), request["TrainingJobName"], "output/model.tar.gz") if part
        )
        extra = {}
        if request["OutputDataConfig"].get("KmsKeyId"):
            extra = {
                "ServerSideEncryption": "aws:kms",
                "SSEKMSKeyId": request["OutputDataConfig"]["KmsKeyId"],
            }
        with archive.open("rb") as body:
            self._s3_factory(request["RoleArn"]).put_object(Bucket=bucket, Key=key, Body=body, **extra)
        return f"s3://{bucket}/{key}"

    def _finish_training(
        self, name: str, status: str, secondary: str, reason: str, metrics: dict[str, float], started: Any
    ) -> None:
        ended = now()
        with self._lock:
            final = copy.deepcopy(self.training_jobs[name])
            self._transition(final, secondary, reason or f"Training job {status.lower()}")
            final["TrainingJobStatus"] = status
            final["TrainingEndTime"] = ended
            if reason:
                final["FailureReason"] = cap(reason, FAILURE_REASON_LIMIT)
            if metrics:
                final["FinalMetricDataList"] = [
                    {"MetricName": metric, "Value": value, "Timestamp": ended}
                    for metric, value in metrics.items()
                ]
            if started is not None:
                seconds = max(1, int((ended - started).total_seconds()))
                final["TrainingTimeInSeconds"] = seconds
                final["BillableTimeInSeconds"] = seconds
            event = training_event(
                final, self.tags.get(final["TrainingJobArn"], []), self.region, self.account_id
            )
        # The state change event is delivered before DescribeTrainingJob shows the terminal status, so a
        # pipeline that sees Completed also sees the run item the event wrote (EventBridge is faster than
        # CodePipeline's polling in AWS too).
        self._events.emit(event, wait=True)
        with self._lock:
            self.training_jobs[name] = final
