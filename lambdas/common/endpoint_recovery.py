"""Getting the endpoint back to a release that serves: a Failed endpoint deleted and created again,
and an update whose smoke test failed rolled back to the config the endpoint served before it.

A Failed endpoint cannot be updated: "DeleteEndpoint is the only operation that can be performed on
a failed endpoint" (SageMaker API reference, DescribeEndpoint: EndpointStatus). It is deleted, and
once it is gone (DeleteEndpoint is asynchronous: the endpoint shows Deleting first) created again
with this run's config and tags.

A rollback is an UpdateEndpoint back to the previous config, all at once and without alarms: the
previous release already served this endpoint, and a rollback that itself rolled back would leave
the failing release in place.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import ClientError

from common import failure_text
from common.errors import describe_error, is_access_denied
from common.logs import Log
from common.sagemaker_resources import describe, ignore_missing

ROLLBACK_DEPLOYMENT = {
    "BlueGreenUpdatePolicy": {
        "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0},
        "TerminationWaitInSeconds": 0,
    }
}
BY_SMOKE_TEST = "deploy_endpoint, after the smoke test failed"
BY_SAGEMAKER = "SageMaker, during the update"


@dataclass(frozen=True)
class Rollback:
    """One rollback of the endpoint, as the run item's ``rollback`` map records it."""

    endpoint: str
    from_config: str  # this run's release, the one rolled back
    to_config: str  # what the endpoint served before this run's update
    reason: str
    by: str
    status: str  # RollingBack, RolledBack or RollbackFailed

    def record(self) -> dict[str, str]:
        return asdict(self)


def delete_failed(sagemaker: Any, endpoint: dict[str, Any], log: Log) -> None:
    """DeleteEndpoint on a Failed endpoint (already gone counts as deleted)."""
    ignore_missing(sagemaker.delete_endpoint, EndpointName=endpoint["EndpointName"])
    log.warning(
        "failed endpoint deleted; it is created again once gone",
        endpoint=endpoint["EndpointName"],
        reason=failure_text.cap(str(endpoint.get("FailureReason", "")), 500),
    )


def recreate(sagemaker: Any, endpoint_name: str, config: str, tags: list[dict[str, str]], log: Log) -> str:
    """After ``delete_failed``: CreateEndpoint once the endpoint is gone ('Creating'), else the
    endpoint's status (Deleting while SageMaker still deletes it)."""
    endpoint = describe(sagemaker.describe_endpoint, EndpointName=endpoint_name)
    if endpoint is not None:
        return str(endpoint["EndpointStatus"])
    sagemaker.create_endpoint(EndpointName=endpoint_name, EndpointConfigName=config, Tags=tags)
    log.info("endpoint created again", endpoint=endpoint_name, config=config)
    return "Creating"


def start_rollback(sagemaker: Any, endpoint_name: str, previous: str, log: Log) -> str:
    """UpdateEndpoint back to ``previous``; '' once started, else why SageMaker refused it."""
    try:
        sagemaker.update_endpoint(
            EndpointName=endpoint_name,
            EndpointConfigName=previous,
            RetainAllVariantProperties=False,
            DeploymentConfig=ROLLBACK_DEPLOYMENT,
        )
    except ClientError as error:
        if is_access_denied(error):
            raise  # the template is wrong: the handler's boundary emails the missing permission
        log.error("rollback refused", endpoint=endpoint_name, error=describe_error(error))
        return describe_error(error)
    log.warning("rolling the endpoint back", endpoint=endpoint_name, to=previous)
    return ""
