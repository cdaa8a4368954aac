"""`launch-cicd-pipeline.sh redeploy`: bring back the endpoint the idle-endpoint guard deleted.

The guard tags the endpoint config the endpoint served with ``sagemaker-pipeline:idle-deleted-at``
before deleting the endpoint (lambdas/common/idle_endpoint.py); this creates the endpoint again from
the most recently marked config of the stack, tagged as the Deploy stage tags it, waits until it is
InService and removes the mark. An endpoint that exists is left alone.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

STACK_TAG = "sagemaker-pipeline:stack"
RUN_ID_TAG = "sagemaker-pipeline:run-id"
IDLE_DELETED_TAG = "sagemaker-pipeline:idle-deleted-at"  # lambdas/common/idle_endpoint.py


class RedeployError(Exception):
    """Nothing to redeploy, or SageMaker could not bring it back: the message says what to do."""


def stack_endpoint_name(cloudformation: Any, stack_name: str) -> str:
    outputs = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0].get("Outputs", [])
    for output in outputs:
        if output["OutputKey"] == "EndpointName":
            return str(output["OutputValue"])
    raise RedeployError(f"stack {stack_name} has no EndpointName output")


def marked_config(sagemaker: Any, stack_name: str) -> tuple[str, dict[str, str]]:
    """The newest endpoint config of this stack the guard marked, and its tags."""
    newest: tuple[str, str, dict[str, str]] | None = None
    for page in sagemaker.get_paginator("list_endpoint_configs").paginate():
        for entry in page.get("EndpointConfigs", []):
            tags = {
                tag["Key"]: tag["Value"]
                for tag in sagemaker.list_tags(ResourceArn=entry["EndpointConfigArn"]).get("Tags", [])
            }
            marked = tags.get(IDLE_DELETED_TAG)
            if tags.get(STACK_TAG) == stack_name and marked and (newest is None or marked > newest[0]):
                newest = (marked, entry["EndpointConfigName"], tags)
    if newest is None:
        raise RedeployError(
            f"no endpoint config of stack {stack_name} was left by the idle-endpoint guard; push a "
            "commit or retry the pipeline's Deploy stage to create the endpoint"
        )
    return newest[1], newest[2]


def redeploy(
    sagemaker: Any,
    stack_name: str,
    endpoint_name: str,
    say: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float = 30.0,
) -> str:
    """Create the endpoint from the marked config and wait for InService; returns the config name."""
    try:
        existing = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    except ClientError as error:
        if "Could not find" not in str(error):
            raise
        existing = None
    if existing is not None:
        raise RedeployError(
            f"endpoint {endpoint_name} exists ({existing['EndpointStatus']}, config "
            f"{existing['EndpointConfigName']}); nothing to redeploy"
        )
    config, tags = marked_config(sagemaker, stack_name)
    endpoint_tags = [{"Key": STACK_TAG, "Value": stack_name}]
    if RUN_ID_TAG in tags:
        endpoint_tags.append({"Key": RUN_ID_TAG, "Value": tags[RUN_ID_TAG]})
    sagemaker.create_endpoint(EndpointName=endpoint_name, EndpointConfigName=config, Tags=endpoint_tags)
    say(
        f"Creating endpoint {endpoint_name} from {config} "
        f"(marked by the idle guard at {tags[IDLE_DELETED_TAG]})"
    )
    while True:
        status = sagemaker.describe_endpoint(EndpointName=endpoint_name)
        if status["EndpointStatus"] == "InService":
            break
        if status["EndpointStatus"] not in ("Creating", "Updating"):
            raise RedeployError(
                f"endpoint {endpoint_name} is {status['EndpointStatus']}: {status.get('FailureReason', '')}"
            )
        sleep(poll_seconds)
    arn = sagemaker.describe_endpoint_config(EndpointConfigName=config)["EndpointConfigArn"]
    sagemaker.delete_tags(ResourceArn=arn, TagKeys=[IDLE_DELETED_TAG])
    say(f"Endpoint {endpoint_name} is InService with {config}")
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack-name", required=True)
    parser.add_argument("--region", required=True)
    args = parser.parse_args(argv)
    session = boto3.Session(region_name=args.region)
    try:
        endpoint = stack_endpoint_name(session.client("cloudformation"), args.stack_name)
        redeploy(session.client("sagemaker"), args.stack_name, endpoint)
    except (RedeployError, ClientError, BotoCoreError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
