"""AddTags, ListTags and DeleteTags on any of the account's SageMaker resources."""

from __future__ import annotations

import copy
from typing import Any

from localmode.aws.awsmodel import ApiError
from localmode.aws.sagemaker.core import BackendCore


class TagOperations(BackendCore):
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
