"""The idle-endpoint guard's decision and action: an endpoint of this stack that served no request
for IdleEndpointHours is deleted (its model and endpoint config are kept), the config it served is
marked for ``launch-cicd-pipeline.sh redeploy``, and the owner gets an email saying how to bring it
back.

The guard reads the endpoint's ``AWS/SageMaker`` ``Invocations`` metric (the AllTraffic variant)
summed over the idle window. An endpoint created or updated within the window is never idle yet:
the window starts when it last changed. Everything takes ``now`` from the caller, so a test drives
it on a fake clock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from common.endpoint_variants import VARIANT_NAME
from common.logs import Log
from common.sagemaker_resources import describe, ignore_missing, tagged_with_stack

IDLE_DELETED_TAG = "sagemaker-pipeline:idle-deleted-at"  # on the endpoint config it served
NAMESPACE = "AWS/SageMaker"
METRIC = "Invocations"
PERIOD_SECONDS = 3600

KEPT, DELETED, ABSENT = "kept", "deleted", "absent"


@dataclass(frozen=True)
class Verdict:
    action: str  # kept, deleted or absent
    reason: str
    config: str = ""


def invocations(cloudwatch: Any, endpoint_name: str, start: dt.datetime, end: dt.datetime) -> float:
    """Requests the endpoint served between ``start`` and ``end`` (hourly sums, added)."""
    answer = cloudwatch.get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName=METRIC,
        Dimensions=[
            {"Name": "EndpointName", "Value": endpoint_name},
            {"Name": "VariantName", "Value": VARIANT_NAME},
        ],
        StartTime=start,
        EndTime=end,
        Period=PERIOD_SECONDS,
        Statistics=["Sum"],
    )
    return sum(point.get("Sum", 0.0) for point in answer.get("Datapoints", []))


def restore_command(stack_name: str, region: str) -> str:
    return f"./launch-cicd-pipeline.sh redeploy --stack-name {stack_name} --region {region}"


def email(stack_name: str, endpoint_name: str, config: str, hours: int, region: str) -> tuple[str, str]:
    subject = f"[{stack_name}] Idle endpoint {endpoint_name} deleted"
    body = (
        f"Endpoint {endpoint_name} of stack {stack_name} served no request for {hours} hours "
        f"(the stack's IdleEndpointHours), so it was deleted to stop its instance-hour charges.\n\n"
        f"Its model and endpoint configuration ({config}) are kept. To bring it back as it was, run\n\n"
        f"    {restore_command(stack_name, region)}\n\n"
        "or push a commit (the next deployment creates it again). Set IdleEndpointHours=0 to turn "
        "the guard off."
    )
    return subject, body


def check(
    sagemaker: Any,
    cloudwatch: Any,
    stack_name: str,
    endpoint_name: str,
    idle_hours: int,
    now: dt.datetime,
    log: Log,
) -> Verdict:
    """Delete the endpoint when it has been idle for ``idle_hours``; the verdict says what happened."""
    endpoint = describe(sagemaker.describe_endpoint, EndpointName=endpoint_name)
    if endpoint is None:
        return Verdict(ABSENT, "no endpoint")
    if endpoint["EndpointStatus"] != "InService":
        return Verdict(KEPT, f"endpoint is {endpoint['EndpointStatus']}")
    if not tagged_with_stack(sagemaker, endpoint["EndpointArn"], stack_name):
        return Verdict(KEPT, "endpoint not created by this stack")
    window_start = now - dt.timedelta(hours=idle_hours)
    changed = endpoint.get("LastModifiedTime") or endpoint.get("CreationTime")
    if changed is not None and changed > window_start:
        return Verdict(KEPT, f"endpoint changed within the last {idle_hours} hours")
    served = invocations(cloudwatch, endpoint_name, window_start, now)
    if served > 0:
        return Verdict(KEPT, f"{served:.0f} invocations in the last {idle_hours} hours")
    config = endpoint["EndpointConfigName"]
    config_arn = sagemaker.describe_endpoint_config(EndpointConfigName=config)["EndpointConfigArn"]
    # Marked before the delete: a guard that dies in between leaves a mark and a live endpoint,
    # never a deleted endpoint nobody can find the config of.
    sagemaker.add_tags(
        ResourceArn=config_arn,
        Tags=[{"Key": IDLE_DELETED_TAG, "Value": now.strftime("%Y-%m-%dT%H:%M:%SZ")}],
    )
    ignore_missing(sagemaker.delete_endpoint, EndpointName=endpoint_name)
    log.info("idle endpoint deleted", endpoint=endpoint_name, config=config, idle_hours=idle_hours)
    return Verdict(DELETED, f"no invocations in {idle_hours} hours", config)
