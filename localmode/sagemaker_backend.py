"""The SageMaker control plane the handlers use, run locally: training jobs, models, configs, endpoints."""

from __future__ import annotations

import copy
import datetime as dt
import logging
import queue
import re
import shutil
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from localmode.awsmodel import ApiError
from localmode.hosting import ModelLoadError, ModelServer
from localmode.runtimes import ImageCatalog
from localmode.spawner import Spawner
from localmode.training import (
    MetricScanner,
    TrainingProcess,
    extract_model,
    failure_reason,
    package_model,
    prepare_tree,
    s3_prefix,
)

LOG = logging.getLogger(__name__)
TERMINAL_TRAINING_STATUSES = ("Completed", "Failed", "Stopped")
EVENT_DETAIL_TYPE = "SageMaker Training Job State Change"

EventSink = Callable[[dict[str, Any]], None]


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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


class SageMakerBackend:
    def __init__(
        self,
        *,
        region: str,
        account_id: str,
        workdir: Path,
        images: ImageCatalog,
        s3_factory: Callable[[], Any],
        on_event: EventSink,
        serve_timeout_seconds: float = 60.0,
    ) -> None:
        self.region = region
        self.account_id = account_id
        self.workdir = workdir
        self.images = images
        self._s3_factory = s3_factory
        self._on_event = on_event
        self._serve_timeout = serve_timeout_seconds
        self._lock = threading.RLock()
        self.training_jobs: dict[str, dict[str, Any]] = {}
        self.models: dict[str, dict[str, Any]] = {}
        self.endpoint_configs: dict[str, dict[str, Any]] = {}
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.tags: dict[str, list[dict[str, str]]] = {}
        self._training_processes: dict[str, TrainingProcess] = {}
        self._servers: dict[str, ModelServer] = {}
        self._threads: list[threading.Thread] = []
        self._generation: dict[str, int] = {}
        self._events: queue.Queue[tuple[dict[str, Any] | None, threading.Event]] = queue.Queue()
        self._delivery = threading.Thread(target=self._deliver_events, daemon=True, name="event-delivery")
        self._delivery.start()
        self._spawner = Spawner()

    # -- plumbing ---------------------------------------------------------------------------------

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

    def arn(self, kind: str, name: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{self.account_id}:{kind}/{name.lower()}"

    def _start_thread(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads = [item for item in self._threads if item.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _emit(self, event: dict[str, Any], wait: bool = False) -> None:
        """Hand the event to the delivery thread (in order, like one EventBridge rule target). Never
        deliver on an API request's thread: the target may be calling this very API right now."""
        delivered = threading.Event()
        self._events.put((event, delivered))
        if wait:
            delivered.wait()

    def _deliver_events(self) -> None:
        while True:
            event, delivered = self._events.get()
            if event is None:
                delivered.set()
                return
            try:
                self._on_event(event)
            except Exception:  # the event target failing must not take the job down with it
                LOG.exception("event delivery failed for %s", event["resources"])
            delivered.set()

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
        self._events.put((None, threading.Event()))
        self._delivery.join(timeout=15)
        self._spawner.stop()

    # -- tags ------------------------------------------------------------------------------------

    def _set_tags(self, arn: str, tags: list[dict[str, str]] | None) -> None:
        merged = {tag["Key"]: tag["Value"] for tag in self.tags.get(arn, [])}
        merged.update({tag["Key"]: tag["Value"] for tag in tags or []})
        self.tags[arn] = [{"Key": key, "Value": value} for key, value in merged.items()]

    def _known_arns(self) -> set[str]:
        items = [*self.training_jobs.values(), *self.models.values(), *self.endpoint_configs.values()]
        items += list(self.endpoints.values())
        arn_keys = ("TrainingJobArn", "ModelArn", "EndpointConfigArn", "EndpointArn")
        return {item[key] for item in items for key in arn_keys if key in item}

    def op_add_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if params["ResourceArn"] not in self._known_arns():
                raise ApiError("ResourceNotFound", f"Resource {params['ResourceArn']} not found")
            self._set_tags(params["ResourceArn"], params["Tags"])
            return {"Tags": copy.deepcopy(self.tags[params["ResourceArn"]])}

    def op_list_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return {"Tags": copy.deepcopy(self.tags.get(params["ResourceArn"], []))}

    def op_delete_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            drop = set(params["TagKeys"])
            self.tags[params["ResourceArn"]] = [
                tag for tag in self.tags.get(params["ResourceArn"], []) if tag["Key"] not in drop
            ]
        return {}

    # -- listing ---------------------------------------------------------------------------------

    @staticmethod
    def _page(
        items: list[dict[str, Any]], params: dict[str, Any], name_key: str, status_key: str = ""
    ) -> tuple[list, str | None]:
        """NameContains, SortBy (Name | CreationTime | Status), SortOrder, MaxResults and NextToken."""
        if params.get("NameContains"):
            items = [item for item in items if params["NameContains"] in item[name_key]]
        key = {"Name": name_key, "Status": status_key or "CreationTime"}.get(
            params.get("SortBy", ""), "CreationTime"
        )
        items = sorted(
            items,
            key=lambda item: item.get(key) or "",
            reverse=params.get("SortOrder", "Descending") == "Descending",
        )
        start = int(params.get("NextToken") or 0)
        size = params.get("MaxResults", 10)
        following = start + size
        return items[start:following], (str(following) if following < len(items) else None)

    @staticmethod
    def _with_token(result: dict[str, Any], token: str | None) -> dict[str, Any]:
        if token:
            result["NextToken"] = token
        return result

    # -- training jobs ---------------------------------------------------------------------------

    def op_create_training_job(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["TrainingJobName"]
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
        self._emit(event)
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
        page, token = self._page(jobs, params, "TrainingJobName", "TrainingJobStatus")
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
        return self._with_token({"TrainingJobSummaries": copy.deepcopy(summaries)}, token)

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
            prepare_tree(base_dir, request, self._s3_factory())
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
        self._finish_training(name, outcome_status, secondary, reason, metrics.values, started)

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
            self._s3_factory().put_object(Bucket=bucket, Key=key, Body=body, **extra)
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
                final["FailureReason"] = reason
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
        self._emit(event, wait=True)
        with self._lock:
            self.training_jobs[name] = final

    # -- models and endpoint configs -------------------------------------------------------------

    def op_create_model(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["ModelName"]
        with self._lock:
            if name in self.models:
                raise ApiError(
                    "ValidationException",
                    f'Cannot create already existing model "{self.arn("model", name)}".',
                )
            container = params.get("PrimaryContainer") or (params.get("Containers") or [None])[0]
            if container is None:
                raise ApiError("ValidationException", "PrimaryContainer or Containers is required")
            model = {
                "ModelName": name,
                "ModelArn": self.arn("model", name),
                "PrimaryContainer": container,
                "CreationTime": now(),
            }
            if "ExecutionRoleArn" in params:
                model["ExecutionRoleArn"] = params["ExecutionRoleArn"]
            self.models[name] = model
            self._set_tags(model["ModelArn"], params.get("Tags"))
            return {"ModelArn": model["ModelArn"]}

    def op_describe_model(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            model = self.models.get(params["ModelName"])
            if model is None:
                raise ApiError(
                    "ValidationException", f'Could not find model "{self.arn("model", params["ModelName"])}".'
                )
            return copy.deepcopy(model)

    def op_delete_model(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            model = self.models.pop(params["ModelName"], None)
            if model is None:
                raise ApiError(
                    "ValidationException", f'Could not find model "{self.arn("model", params["ModelName"])}".'
                )
            self.tags.pop(model["ModelArn"], None)
        return {}

    def op_list_models(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            models = list(self.models.values())
        page, token = self._page(models, params, "ModelName")
        summaries = [{key: model[key] for key in ("ModelName", "ModelArn", "CreationTime")} for model in page]
        return self._with_token({"Models": copy.deepcopy(summaries)}, token)

    def op_create_endpoint_config(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["EndpointConfigName"]
        with self._lock:
            if name in self.endpoint_configs:
                raise ApiError(
                    "ValidationException",
                    "Cannot create already existing endpoint configuration "
                    f'"{self.arn("endpoint-config", name)}".',
                )
            for variant in params["ProductionVariants"]:
                if variant["ModelName"] not in self.models:
                    raise ApiError(
                        "ValidationException",
                        f'Could not find model "{self.arn("model", variant["ModelName"])}".',
                    )
            config = {
                "EndpointConfigName": name,
                "EndpointConfigArn": self.arn("endpoint-config", name),
                "ProductionVariants": params["ProductionVariants"],
                "CreationTime": now(),
            }
            if params.get("KmsKeyId"):
                config["KmsKeyId"] = params["KmsKeyId"]
            self.endpoint_configs[name] = config
            self._set_tags(config["EndpointConfigArn"], params.get("Tags"))
            return {"EndpointConfigArn": config["EndpointConfigArn"]}

    def _config_or_error(self, name: str) -> dict[str, Any]:
        config = self.endpoint_configs.get(name)
        if config is None:
            raise ApiError(
                "ValidationException",
                f'Could not find endpoint configuration "{self.arn("endpoint-config", name)}".',
            )
        return config

    def op_describe_endpoint_config(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._config_or_error(params["EndpointConfigName"]))

    def op_delete_endpoint_config(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            config = self._config_or_error(params["EndpointConfigName"])
            del self.endpoint_configs[params["EndpointConfigName"]]
            self.tags.pop(config["EndpointConfigArn"], None)
        return {}

    def op_list_endpoint_configs(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            configs = list(self.endpoint_configs.values())
        page, token = self._page(configs, params, "EndpointConfigName")
        keys = ("EndpointConfigName", "EndpointConfigArn", "CreationTime")
        return self._with_token(
            {"EndpointConfigs": copy.deepcopy([{k: c[k] for k in keys} for c in page])}, token
        )

    # -- endpoints -------------------------------------------------------------------------------

    def _endpoint_or_error(self, name: str) -> dict[str, Any]:
        endpoint = self.endpoints.get(name)
        if endpoint is None:
            raise ApiError("ValidationException", f'Could not find endpoint "{self.arn("endpoint", name)}".')
        return endpoint

    def _variants(self, config: dict[str, Any]) -> list[dict[str, Any]]:
        variants = []
        for variant in config["ProductionVariants"]:
            image = (
                self.models[variant["ModelName"]]["PrimaryContainer"]["Image"]
                if variant["ModelName"] in self.models
                else ""
            )
            count = variant.get("InitialInstanceCount", 1)
            weight = float(variant.get("InitialVariantWeight", 1.0))
            variants.append(
                {
                    "VariantName": variant["VariantName"],
                    "DeployedImages": [
                        {"SpecifiedImage": image, "ResolvedImage": image, "ResolutionTime": now()}
                    ],
                    "CurrentWeight": weight,
                    "DesiredWeight": weight,
                    "CurrentInstanceCount": count,
                    "DesiredInstanceCount": count,
                }
            )
        return variants

    def op_create_endpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["EndpointName"]
        with self._lock:
            if name in self.endpoints:
                raise ApiError(
                    "ValidationException",
                    f'Cannot create already existing endpoint "{self.arn("endpoint", name)}".',
                )
            self._config_or_error(params["EndpointConfigName"])
            created = now()
            endpoint = {
                "EndpointName": name,
                "EndpointArn": self.arn("endpoint", name),
                "EndpointConfigName": params["EndpointConfigName"],
                "EndpointStatus": "Creating",
                "CreationTime": created,
                "LastModifiedTime": created,
            }
            self.endpoints[name] = endpoint
            self._set_tags(endpoint["EndpointArn"], params.get("Tags"))
            generation = self._generation[name] = self._generation.get(name, 0) + 1
        self._start_thread(self._deploy, name, params["EndpointConfigName"], generation, None)
        return {"EndpointArn": endpoint["EndpointArn"]}

    def op_update_endpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["EndpointName"]
        with self._lock:
            endpoint = self._endpoint_or_error(name)
            if endpoint["EndpointStatus"] != "InService":
                raise ApiError(
                    "ValidationException",
                    f'Cannot update in-progress endpoint "{endpoint["EndpointArn"]}" '
                    f"(status {endpoint['EndpointStatus']}).",
                )
            self._config_or_error(params["EndpointConfigName"])
            previous = endpoint["EndpointConfigName"]
            endpoint["EndpointStatus"] = "Updating"
            endpoint["LastModifiedTime"] = now()
            endpoint.pop("FailureReason", None)
            if params.get("DeploymentConfig"):
                endpoint["LastDeploymentConfig"] = params["DeploymentConfig"]
            generation = self._generation[name] = self._generation.get(name, 0) + 1
        self._start_thread(self._deploy, name, params["EndpointConfigName"], generation, previous)
        return {"EndpointArn": endpoint["EndpointArn"]}

    def _start_server(self, endpoint_name: str, config_name: str, generation: int) -> ModelServer:
        with self._lock:
            config = copy.deepcopy(self._config_or_error(config_name))
            variant = config["ProductionVariants"][0]
            model = self.models.get(variant["ModelName"])
            if model is None:
                raise ModelLoadError(f"Could not find model {variant['ModelName']}")
            container = copy.deepcopy(model["PrimaryContainer"])
        runtime = self.images.resolve(container["Image"])
        base_dir = self.workdir / "endpoints" / endpoint_name / f"{generation:03d}-{config_name}"
        shutil.rmtree(base_dir, ignore_errors=True)
        (base_dir / "model").mkdir(parents=True)
        if container.get("ModelDataUrl"):
            bucket, key = s3_prefix(container["ModelDataUrl"])
            archive = base_dir / "model.tar.gz"
            try:
                self._s3_factory().download_file(bucket, key, str(archive))
            except Exception as error:
                raise ModelLoadError(
                    f"Could not download model data from {container['ModelDataUrl']}: {error}"
                ) from error
            extract_model(archive, base_dir / "model")
        server = ModelServer(runtime, base_dir, container.get("Environment", {}), self._spawner.popen)
        try:
            server.wait_healthy(self._serve_timeout)
        except ModelLoadError:
            server.stop()
            raise
        return server

    def _deploy(self, name: str, config_name: str, generation: int, previous_config: str | None) -> None:
        try:
            server = self._start_server(name, config_name, generation)
            error = None
        except (ModelLoadError, ApiError) as failure:
            server, error = None, getattr(failure, "message", None) or str(failure)
        except Exception as failure:
            LOG.exception("endpoint %s could not be deployed", name)
            server, error = None, f"InternalServerError: {failure}"
        retired = None
        with self._lock:
            endpoint = self.endpoints.get(name)
            current = endpoint is not None and self._generation.get(name) == generation
            if not current:
                retired = server  # deleted or superseded while starting
            elif server is not None:
                retired = self._servers.get(name)
                self._servers[name] = server
                endpoint["EndpointConfigName"] = config_name
                endpoint["EndpointStatus"] = "InService"
                endpoint["ProductionVariants"] = self._variants(self.endpoint_configs[config_name])
                endpoint.pop("FailureReason", None)
            elif previous_config is not None and name in self._servers:
                # Blue/green: the old fleet keeps serving and the endpoint rolls back to it.
                endpoint["EndpointConfigName"] = previous_config
                endpoint["EndpointStatus"] = "InService"
                endpoint["FailureReason"] = f"Update to {config_name} failed and was rolled back: {error}"
            else:
                endpoint["EndpointStatus"] = "Failed"
                endpoint["FailureReason"] = error
            if endpoint is not None and current:
                endpoint["LastModifiedTime"] = now()
        if retired is not None:
            retired.stop()

    def op_describe_endpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._endpoint_or_error(params["EndpointName"]))

    def op_delete_endpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["EndpointName"]
        with self._lock:
            endpoint = self._endpoint_or_error(name)
            del self.endpoints[name]
            self.tags.pop(endpoint["EndpointArn"], None)
            self._generation[name] = self._generation.get(name, 0) + 1
            server = self._servers.pop(name, None)
        if server is not None:
            server.stop()
        return {}

    def op_list_endpoints(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            endpoints = list(self.endpoints.values())
        if params.get("StatusEquals"):
            endpoints = [item for item in endpoints if item["EndpointStatus"] == params["StatusEquals"]]
        page, token = self._page(endpoints, params, "EndpointName", "EndpointStatus")
        keys = ("EndpointName", "EndpointArn", "CreationTime", "LastModifiedTime", "EndpointStatus")
        return self._with_token({"Endpoints": copy.deepcopy([{k: e[k] for k in keys} for e in page])}, token)

    # -- runtime ---------------------------------------------------------------------------------

    def invoke_endpoint(
        self, name: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            endpoint = self.endpoints.get(name)
            server = self._servers.get(name)
        if endpoint is None:
            raise ApiError("ValidationError", f"Endpoint {name} of account {self.account_id} not found.")
        if server is None:
            raise ApiError(
                "ValidationError", f"Endpoint {name} is not in service (status {endpoint['EndpointStatus']})."
            )
        return server.invoke(body, headers)


class _StoppedBeforeStart(Exception):
    pass
