"""Endpoints: CreateEndpoint, UpdateEndpoint (blue/green, rolled back when the new model fails to load),
DescribeEndpoint, DeleteEndpoint, ListEndpoints, and InvokeEndpoint on the model server in service."""

from __future__ import annotations

import copy
import logging
import shutil
import time
from typing import Any

from localmode.aws.awsmodel import ApiError
from localmode.aws.sagemaker.core import now
from localmode.aws.sagemaker.data_capture import Sampler, capture_key, capture_record
from localmode.aws.sagemaker.endpoint_metrics import (
    INSTANCE_NAMESPACE,
    INVOCATION_NAMESPACE,
    UtilizationSampler,
    invocation_metrics,
)
from localmode.aws.sagemaker.hosting import ModelLoadError, ModelServer
from localmode.aws.sagemaker.listing import paginate, with_next_token
from localmode.aws.sagemaker.models import ModelOperations
from localmode.aws.sagemaker.training import extract_model, s3_prefix

LOG = logging.getLogger(__name__)
VARIANT = "AllTraffic"  # the one variant the stack's endpoint configs have
RETAINABLE_PROPERTIES = frozenset({"DesiredInstanceCount", "DesiredWeight", "DataCaptureConfig"})


def retained_properties(params: dict[str, Any]) -> frozenset[str]:
    """UpdateEndpoint: with RetainAllVariantProperties the endpoint keeps its variants' properties,
    except those listed in ExcludeRetainedVariantProperties, which the new config sets; without it
    (the default) the new config's properties apply."""
    if not params.get("RetainAllVariantProperties"):
        return frozenset()
    excluded = {item["VariantPropertyType"] for item in params.get("ExcludeRetainedVariantProperties", [])}
    return RETAINABLE_PROPERTIES - excluded


def check_traffic_routing(deployment_config: dict[str, Any] | None, counts: dict[str, int]) -> None:
    """Canary and linear blue/green shifting move a share of the new fleet first: the canary at most 50%
    and each linear step 10-50% of the variant's instance count (TrafficRoutingConfig reference), so a
    variant needs more than one instance."""
    routing = ((deployment_config or {}).get("BlueGreenUpdatePolicy") or {}).get(
        "TrafficRoutingConfiguration"
    )
    kind = (routing or {}).get("Type")
    if kind not in ("CANARY", "LINEAR"):
        return
    size_field, low = ("CanarySize", 0.0) if kind == "CANARY" else ("LinearStepSize", 10.0)
    size = routing.get(size_field)
    for variant, count in counts.items():
        if count < 2:
            raise ApiError(
                "ValidationException",
                f"{kind} traffic routing needs more than one instance: variant {variant} has an instance "
                f"count of {count}, and {size_field} must be at most 50% of it. Use ALL_AT_ONCE or more "
                "instances.",
            )
        if size is None:
            continue
        percent = size["Value"] * 100.0 / count if size["Type"] == "INSTANCE_COUNT" else float(size["Value"])
        if not low <= percent <= 50.0:
            bounds = "at most 50%" if kind == "CANARY" else "10-50%"
            raise ApiError(
                "ValidationException",
                f"{size_field} ({size['Type']} {size['Value']}) must be {bounds} of variant {variant}'s "
                f"instance count ({count}).",
            )


def check_no_conversion_to_serverless(current: dict[str, Any], new: dict[str, Any]) -> None:
    """An instance-based endpoint cannot be converted to a serverless one (Serverless Inference,
    feature exclusions); UpdateEndpoint onto a serverless config from an instance one is refused."""
    serverless = any("ServerlessConfig" in variant for variant in new["ProductionVariants"])
    instance_based = any("ServerlessConfig" not in variant for variant in current["ProductionVariants"])
    if serverless and instance_based:
        raise ApiError(
            "ValidationException",
            f"Endpoint configuration {new['EndpointConfigName']} is serverless: an endpoint created from "
            "an instance-based configuration cannot be converted to a serverless endpoint. Delete the "
            "endpoint and create it from the serverless configuration.",
        )


class EndpointOperations(ModelOperations):
    def _endpoint_or_error(self, name: str) -> dict[str, Any]:
        endpoint = self.endpoints.get(name)
        if endpoint is None:
            raise ApiError("ValidationException", f'Could not find endpoint "{self.arn("endpoint", name)}".')
        return endpoint

    def _variants(
        self,
        config: dict[str, Any],
        current: list[dict[str, Any]] | None = None,
        retain: frozenset[str] = frozenset(),
    ) -> list[dict[str, Any]]:
        kept = {variant["VariantName"]: variant for variant in current or []}
        variants = []
        for variant in config["ProductionVariants"]:
            image = (
                self.models[variant["ModelName"]]["PrimaryContainer"]["Image"]
                if variant["ModelName"] in self.models
                else ""
            )
            count = variant.get("InitialInstanceCount", 1)
            weight = float(variant.get("InitialVariantWeight", 1.0))
            previous = kept.get(variant["VariantName"])
            if previous is not None and "DesiredInstanceCount" in retain:
                count = previous["DesiredInstanceCount"]
            if previous is not None and "DesiredWeight" in retain:
                weight = previous["DesiredWeight"]
            described = {
                "VariantName": variant["VariantName"],
                "DeployedImages": [
                    {"SpecifiedImage": image, "ResolvedImage": image, "ResolutionTime": now()}
                ],
                "CurrentWeight": weight,
                "DesiredWeight": weight,
            }
            if "ServerlessConfig" in variant:  # DescribeEndpoint reports the serverless config, no instances
                described["CurrentServerlessConfig"] = dict(variant["ServerlessConfig"])
                described["DesiredServerlessConfig"] = dict(variant["ServerlessConfig"])
            else:
                described["CurrentInstanceCount"] = described["DesiredInstanceCount"] = count
            variants.append(described)
        return variants

    def op_create_endpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["EndpointName"]
        with self._lock:
            if name in self.endpoints:
                raise ApiError(
                    "ValidationException",
                    f'Cannot create already existing endpoint "{self.arn("endpoint", name)}".',
                )
            config = self._config_or_error(params["EndpointConfigName"])
            check_traffic_routing(
                params.get("DeploymentConfig"), self._instance_counts(self._variants(config))
            )
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
            if endpoint["EndpointStatus"] == "Failed":
                # DescribeEndpoint reference, EndpointStatus: "DeleteEndpoint is the only operation that
                # can be performed on a failed endpoint" (docs/aws-rules.md).
                raise ApiError(
                    "ValidationException",
                    f'Cannot update endpoint "{endpoint["EndpointArn"]}": it is Failed, and DeleteEndpoint '
                    "is the only operation that can be performed on a failed endpoint.",
                )
            if endpoint["EndpointStatus"] != "InService":
                raise ApiError(
                    "ValidationException",
                    f'Cannot update in-progress endpoint "{endpoint["EndpointArn"]}" '
                    f"(status {endpoint['EndpointStatus']}).",
                )
            config = self._config_or_error(params["EndpointConfigName"])
            current_config = self._config_or_error(endpoint["EndpointConfigName"])
            check_no_conversion_to_serverless(current_config, config)
            self._check_scaled_instance_types(name, current_config, config)
            retain = retained_properties(params)
            variants = self._variants(config, endpoint.get("ProductionVariants"), retain)
            check_traffic_routing(params.get("DeploymentConfig"), self._instance_counts(variants))
            previous = endpoint["EndpointConfigName"]
            endpoint["EndpointStatus"] = "Updating"
            endpoint["LastModifiedTime"] = now()
            endpoint.pop("FailureReason", None)
            if params.get("DeploymentConfig"):
                endpoint["LastDeploymentConfig"] = params["DeploymentConfig"]
            generation = self._generation[name] = self._generation.get(name, 0) + 1
        self._start_thread(self._deploy, name, params["EndpointConfigName"], generation, previous, retain)
        return {"EndpointArn": endpoint["EndpointArn"]}

    def _check_scaled_instance_types(self, name: str, current: dict[str, Any], new: dict[str, Any]) -> None:
        """An update that changes the instance type of a variant registered with Application Auto
        Scaling fails ("Update endpoints that use auto scaling"): deregister it first."""
        types = {
            variant["VariantName"]: variant.get("InstanceType") for variant in current["ProductionVariants"]
        }
        for variant in new["ProductionVariants"]:
            before = types.get(variant["VariantName"])
            resource_id = f"endpoint/{name}/variant/{variant['VariantName']}"
            if before and variant.get("InstanceType") != before and self._is_scalable_target(resource_id):
                raise ApiError(
                    "ValidationException",
                    f"The variant {variant['VariantName']} of endpoint {name} is a target of automatic "
                    f"scaling and the update changes its instance type ({before} to "
                    f"{variant.get('InstanceType')}): deregister the scalable target "
                    "(DeregisterScalableTarget) before the update and register it again after.",
                )

    @staticmethod
    def _instance_counts(variants: list[dict[str, Any]]) -> dict[str, int]:
        return {
            variant["VariantName"]: variant["DesiredInstanceCount"]
            for variant in variants
            if "DesiredInstanceCount" in variant
        }

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
                self._s3_factory(model.get("ExecutionRoleArn", "")).download_file(bucket, key, str(archive))
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

    def _deploy(
        self,
        name: str,
        config_name: str,
        generation: int,
        previous_config: str | None,
        retain: frozenset[str] = frozenset(),
    ) -> None:
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
                endpoint["ProductionVariants"] = self._variants(
                    self.endpoint_configs[config_name], endpoint.get("ProductionVariants"), retain
                )
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
        page, token = paginate(endpoints, params, "EndpointName", "EndpointStatus")
        keys = ("EndpointName", "EndpointArn", "CreationTime", "LastModifiedTime", "EndpointStatus")
        return with_next_token({"Endpoints": copy.deepcopy([{k: e[k] for k in keys} for e in page])}, token)

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
        started = time.perf_counter()
        answer = server.invoke(body, headers)
        self._publish_metrics(name, server, answer[0], time.perf_counter() - started)
        self._capture(name, endpoint["EndpointConfigName"], body, headers, answer)
        return answer

    def _publish_metrics(self, name: str, server: ModelServer, status: int, seconds: float) -> None:
        """What SageMaker publishes for the invocation, to CloudWatch (never fails the invocation)."""
        if self._metrics_factory is None:
            return
        with self._lock:
            sampler = self._utilization.get(name)
            if sampler is None or sampler.pid != server.process.pid:
                sampler = self._utilization[name] = UtilizationSampler(server.process.pid)
        utilization = sampler.sample(name, VARIANT)
        try:
            if self._metrics is None:
                self._metrics = self._metrics_factory()
            self._metrics.put_metric_data(
                Namespace=INVOCATION_NAMESPACE,
                MetricData=invocation_metrics(name, VARIANT, status, seconds, 0.0),
            )
            if utilization:
                self._metrics.put_metric_data(Namespace=INSTANCE_NAMESPACE, MetricData=utilization)
        except Exception:
            LOG.warning("endpoint metrics of %s not published", name, exc_info=True)

    def _capture(
        self,
        name: str,
        config_name: str,
        body: bytes,
        headers: dict[str, str],
        answer: tuple[int, dict[str, str], bytes],
    ) -> None:
        """Data capture of a successful invocation, written as the model's execution role."""
        status, response_headers, response_body = answer
        with self._lock:
            config = self.endpoint_configs.get(config_name, {})
            capture = config.get("DataCaptureConfig")
            if status != 200 or not capture or not capture.get("EnableCapture", True):
                return
            sampler = self._samplers.setdefault(config_name, Sampler(capture["InitialSamplingPercentage"]))
            if not sampler.take():
                return
            variant = config["ProductionVariants"][0]
            role = self.models.get(variant["ModelName"], {}).get("ExecutionRoleArn", "")
        when = now()
        record = capture_record(
            capture,
            (body, _header(headers, "Content-Type")),
            (response_body, _header(response_headers, "Content-Type")),
            when,
        )
        bucket, prefix = s3_prefix(capture["DestinationS3Uri"])
        key = capture_key(prefix, name, variant["VariantName"], when)
        try:
            self._s3_factory(role).put_object(Bucket=bucket, Key=key, Body=(record + "\n").encode())
        except Exception:  # AWS drops a capture it cannot write; the invocation still answers
            LOG.warning("data capture of %s not written to s3://%s/%s", name, bucket, key, exc_info=True)


def _header(headers: dict[str, str], name: str) -> str:
    return next((value for key, value in headers.items() if key.lower() == name.lower()), "")
