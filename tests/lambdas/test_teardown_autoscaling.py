"""teardown and endpoint autoscaling (issue 16 item 10): the deleted endpoint's scalable target goes
with it; another stack's endpoint keeps its own."""

from __future__ import annotations

import teardown
from common import autoscaling, clients
from lambda_helpers import ENDPOINT, create_release
from test_teardown_handler import (
    FOREIGN,
    Context,
    deployed,  # noqa: F401 (a fixture, used by name)
    request,
    tagged,
)

TARGET = f"endpoint/{ENDPOINT}/variant/AllTraffic"


def register_target() -> None:
    clients.client("application-autoscaling").register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=TARGET,
        ScalableDimension=autoscaling.DIMENSION,
        MinCapacity=1,
        MaxCapacity=4,
    )


def targets() -> list:
    found = clients.client("application-autoscaling").describe_scalable_targets(ServiceNamespace="sagemaker")
    return found["ScalableTargets"]


def test_delete_deregisters_the_autoscaled_endpoints_target(aws, deployed, http_server):  # noqa: F811
    register_target()
    assert teardown.handler(request(http_server, "cfn_delete"), Context()) == "SUCCESS"
    assert aws.sagemaker.list_endpoints()["Endpoints"] == []
    assert targets() == []


def test_the_target_of_another_stacks_endpoint_is_left_alone(aws, http_server):
    create_release(aws.sagemaker, FOREIGN, stack=None)
    aws.sagemaker.create_endpoint(
        EndpointName=ENDPOINT, EndpointConfigName=FOREIGN, Tags=tagged("someone-else")
    )
    register_target()
    assert teardown.handler(request(http_server, "cfn_delete"), Context()) == "SUCCESS"
    assert [target["ResourceId"] for target in targets()] == [TARGET]
