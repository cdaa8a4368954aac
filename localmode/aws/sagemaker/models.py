"""Models and endpoint configurations, what an endpoint is deployed from: Create, Describe, Delete, List."""

from __future__ import annotations

import copy
from typing import Any

from localmode.aws.awsmodel import ApiError
from localmode.aws.sagemaker.core import BackendCore, now
from localmode.aws.sagemaker.listing import paginate, with_next_token

SERVERLESS_MEMORY_STEP = 1024


def check_variant(variant: dict[str, Any], model: dict[str, Any]) -> None:
    """CreateEndpointConfig's cross-field rules for one production variant (docs/aws-rules.md):
    instance-based (InstanceType and InitialInstanceCount) or serverless (ServerlessConfig), never
    both; serverless memory in 1 GB steps; no serverless variant for a model placed in a VPC."""
    name = variant["VariantName"]
    serverless = variant.get("ServerlessConfig")
    instance_fields = [key for key in ("InstanceType", "InitialInstanceCount") if key in variant]
    if serverless is None:
        if len(instance_fields) < 2:
            raise ApiError(
                "ValidationException",
                f"Production variant {name} needs InstanceType and InitialInstanceCount, "
                "or ServerlessConfig.",
            )
        return
    if instance_fields:
        raise ApiError(
            "ValidationException",
            f"Production variant {name} has ServerlessConfig and {', '.join(instance_fields)}: a serverless "
            "variant takes no instance type or instance count.",
        )
    memory = serverless["MemorySizeInMB"]
    if memory % SERVERLESS_MEMORY_STEP:
        raise ApiError(
            "ValidationException",
            f"ServerlessConfig.MemorySizeInMB {memory} of variant {name} must be one of 1024, 2048, 3072, "
            "4096, 5120 or 6144.",
        )
    if model.get("VpcConfig"):
        raise ApiError(
            "ValidationException",
            f"Model {model['ModelName']} has a VpcConfig: serverless endpoints do not support VPC "
            "configuration.",
        )


class ModelOperations(BackendCore):
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
            for optional in ("ExecutionRoleArn", "VpcConfig"):
                if optional in params:
                    model[optional] = params[optional]
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
        page, token = paginate(models, params, "ModelName")
        summaries = [{key: model[key] for key in ("ModelName", "ModelArn", "CreationTime")} for model in page]
        return with_next_token({"Models": copy.deepcopy(summaries)}, token)

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
                check_variant(variant, self.models[variant["ModelName"]])
            config = {
                "EndpointConfigName": name,
                "EndpointConfigArn": self.arn("endpoint-config", name),
                "ProductionVariants": params["ProductionVariants"],
                "CreationTime": now(),
            }
            if params.get("KmsKeyId"):
                config["KmsKeyId"] = params["KmsKeyId"]
            if params.get("DataCaptureConfig"):
                config["DataCaptureConfig"] = params["DataCaptureConfig"]
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
        page, token = paginate(configs, params, "EndpointConfigName")
        keys = ("EndpointConfigName", "EndpointConfigArn", "CreationTime")
        return with_next_token(
            {"EndpointConfigs": copy.deepcopy([{k: c[k] for k in keys} for c in page])}, token
        )
