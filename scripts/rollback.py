"""`launch-cicd-pipeline.sh rollback [--to VERSION|RUN_ID]`: put the stable endpoint back on the previous
(or the named) approved model version, through the Deploy stage's own blue/green path.

1. The target: ``--to`` a version number or the run id that registered it; by default the newest approved
   version older than the one the endpoint serves now. Only Approved versions of the stack's group.
2. Serialised with the pipeline: refused while a pipeline execution is in progress or the endpoint is not
   InService (a deploy in progress keeps it Creating/Updating, and a deploy that starts during the
   rollback finds it Updating and fails its stage saying to retry, so the two never interleave).
3. Refused, saying which, when the version's image (ECR) or model artifact (S3) is gone.
4. A new run (trigger ``rollback``, a fresh run id) gets a Model and an EndpointConfig rebuilt from the
   version with the Deploy stage's settings (read from the deploy function's environment), the endpoint
   is updated with the stack's deployment strategy, waited on until InService, older releases are pruned
   as after a deploy, the run is recorded with the endpoint's price, and the owner is emailed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "lambdas") not in sys.path:
    sys.path.insert(0, str(ROOT / "lambdas"))

from botocore.exceptions import ClientError  # noqa: E402
from common import names, pricing, registry, runs, sagemaker_resources  # noqa: E402
from common.blue_green import deployment_config  # noqa: E402
from common.deploy_settings import DeploySettings  # noqa: E402
from common.logs import Log  # noqa: E402
from common.release import ensure_model_and_config  # noqa: E402

BUSY_PIPELINE = ("InProgress", "Stopping")


class RollbackRefused(Exception):
    """Why the rollback did not start: printed as one line, exit 1, nothing changed."""


@dataclass
class World:
    """The clients and names the rollback works with (AWS with the caller's credentials, or a kept
    local world)."""

    sagemaker: Any
    table: Any
    s3: Any
    ecr: Any
    sns: Any
    pricing: Any
    region: str
    settings: DeploySettings
    pipeline_busy: Callable[[], list[str]]  # what is in progress: pipeline executions, runs
    sleep: Callable[[float], None] = time.sleep
    wait_seconds: float = 1800


def settings_from_function(environment: Mapping[str, str]) -> DeploySettings:
    """The Deploy stage's settings, from its function's environment variables."""

    @contextmanager
    def environ(values: Mapping[str, str]) -> Iterator[None]:
        saved = dict(os.environ)
        os.environ.update({key: str(value) for key, value in values.items()})
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)

    with environ(environment):
        return DeploySettings.from_environment()


def serving_run(world: World) -> tuple[str, str]:
    """(endpoint config, run id of the release) the endpoint serves; refuses a busy or absent endpoint."""
    name = world.settings.endpoint_name
    endpoint = sagemaker_resources.describe(world.sagemaker.describe_endpoint, EndpointName=name)
    if endpoint is None:
        raise RollbackRefused(f"endpoint {name} does not exist: there is nothing to roll back")
    if endpoint["EndpointStatus"] != "InService":
        raise RollbackRefused(
            f"endpoint {name} is {endpoint['EndpointStatus']}: a deployment is in progress or failed; "
            "roll back once it is InService"
        )
    config = endpoint["EndpointConfigName"]
    tags = world.sagemaker.list_tags(ResourceArn=endpoint["EndpointArn"]).get("Tags", [])
    config_arn = world.sagemaker.describe_endpoint_config(EndpointConfigName=config)["EndpointConfigArn"]
    config_tags = world.sagemaker.list_tags(ResourceArn=config_arn).get("Tags", []) or tags
    run_id = next((tag["Value"] for tag in config_tags if tag["Key"] == sagemaker_resources.RUN_ID_TAG), "")
    return config, run_id


def choose_version(
    versions: list[registry.Version], serving_version: registry.Version | None, to: str
) -> registry.Version:
    if not versions:
        raise RollbackRefused("the model registry has no approved version to roll back to")
    if to:
        for version in versions:
            if to in (str(version.number), version.run_id):
                return version
        known = ", ".join(f"{version.number} (run {version.run_id})" for version in versions[:10])
        raise RollbackRefused(f"--to {to}: no approved version has that number or run id (approved: {known})")
    older = [v for v in versions if serving_version is None or v.number < serving_version.number]
    if not older:
        raise RollbackRefused(
            "the endpoint serves the oldest approved version: there is no previous one (name one with --to)"
        )
    return older[0]


def check_release_exists(world: World, version: registry.Version) -> None:
    """Refuses when the version's model artifact or image is gone (an S3 lifecycle, the ECR policy)."""
    bucket, _, key = version.artifact.removeprefix("s3://").partition("/")
    try:
        world.s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        raise RollbackRefused(
            f"version {version.number}'s model artifact {version.artifact} is gone "
            f"({error.response['Error'].get('Code')}): it cannot be redeployed"
        ) from None
    repository_uri, _, tag = version.image.rpartition(":")
    repository = repository_uri.split("/", 1)[1] if "/" in repository_uri else repository_uri
    try:
        found = world.ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
    except ClientError as error:
        raise RollbackRefused(
            f"version {version.number}'s image {version.image} is gone "
            f"({error.response['Error'].get('Code')}): it cannot be redeployed"
        ) from None
    if not found.get("imageDetails"):
        raise RollbackRefused(
            f"version {version.number}'s image {version.image} is gone: it cannot be redeployed"
        )


def wait_in_service(world: World, config: str) -> str:
    waited = 0.0
    while True:
        endpoint = world.sagemaker.describe_endpoint(EndpointName=world.settings.endpoint_name)
        status = endpoint["EndpointStatus"]
        if status not in ("Creating", "Updating", "SystemUpdating", "RollingBack"):
            return (
                status
                if endpoint.get("EndpointConfigName") == config
                else f"{status} (rolled back by SageMaker)"
            )
        if waited >= world.wait_seconds:
            return f"{status} (still, after {int(waited)} s)"
        world.sleep(5)
        waited += 5


def rollback(world: World, to: str, write: Callable[[str], None], log: Log) -> dict[str, Any]:
    """Roll the endpoint back; returns the rollback run's item. RollbackRefused when it must not start."""
    busy = world.pipeline_busy()
    if busy:
        raise RollbackRefused(
            f"pipeline execution {busy[0]} is in progress: roll back when it has finished "
            "(a rollback never races a deployment)"
        )
    settings = world.settings
    serving_config, serving_run_id = serving_run(world)
    group = names.model_package_group(settings.stack_name)
    versions = registry.approved_versions(world.sagemaker, group)
    serving_arn = (
        runs.read_item(world.table, serving_run_id).get("model_package_arn") if serving_run_id else None
    )
    serving_version = next((v for v in versions if v.arn == serving_arn), None)
    version = choose_version(versions, serving_version, to)
    check_release_exists(world, version)
    run_id = str(uuid.uuid4())
    name = names.resource_name(settings.stack_name, run_id)
    started = runs.now_iso()
    cost = pricing.run_cost(
        world.pricing, world.region, {}, settings.instance_type, settings.instance_count, log
    )
    runs.update_item(
        world.table,
        run_id,
        {
            "trigger": "rollback",
            "trigger_detail": f"model version {version.number} (run {version.run_id}), was {serving_config}",
            "status": "Completed",
            "started_at": started,
            "model_package_arn": version.arn,
            "model_version": version.number,
            "model_approval_status": version.status,
            "image_uri": version.image,
            "model_artifact_uri": version.artifact,
            "rolled_back_from": serving_config,
            "endpoint_name": settings.endpoint_name,
            "endpoint_config_name": name,
            "deploy_status": "Updating",
            "cost": {**cost.as_item(), "training_usd": 0},
        },
    )
    write(
        f"Rolling endpoint {settings.endpoint_name} back to version {version.number} (run {version.run_id})"
    )
    ensure_model_and_config(world.sagemaker, settings, name, run_id, version.image, version.artifact, log)
    world.sagemaker.update_endpoint(
        EndpointName=settings.endpoint_name,
        EndpointConfigName=name,
        RetainAllVariantProperties=False,
        DeploymentConfig=deployment_config(settings.strategy, settings.alarm_names),
    )
    status = wait_in_service(world, name)
    deploy_status = "InService" if status == "InService" else "Failed"
    ended = runs.now_iso()
    item = runs.update_item(
        world.table,
        run_id,
        {
            "deploy_status": deploy_status,
            "ended_at": ended,
            "updated_at": ended,
            "status": "Completed" if deploy_status == "InService" else "Failed",
        },
    )
    if deploy_status == "InService":
        sagemaker_resources.prune_releases(
            world.sagemaker, settings.stack_name, settings.keep_last, name, log
        )
    notify_owner(world, item, status)
    write(f"Endpoint {settings.endpoint_name}: {status} with {name} (run {run_id}, trigger rollback)")
    if deploy_status != "InService":
        raise RollbackRefused(f"the rollback ended {status}; the endpoint serves what SageMaker left it on")
    return item


def notify_owner(world: World, item: Mapping[str, Any], status: str) -> None:
    if not world.settings.topic_arn:
        return
    endpoint = world.settings.endpoint_name
    body = "\n".join(
        [
            f"Endpoint {endpoint} was rolled back to model version {item.get('model_version')}: {status}.",
            "",
            f"Stack:          {world.settings.stack_name}",
            f"Run id:         {item.get('run_id')} (trigger rollback)",
            f"Model version:  {item.get('model_version')} {item.get('model_package_arn')}",
            f"Rolled back:    {item.get('rolled_back_from')}",
            f"Serving now:    {item.get('endpoint_config_name')}",
            f"Endpoint price: {(item.get('cost') or {}).get('endpoint_usd_per_hour', 'unknown')} USD/hour",
            "Invoke:         aws sagemaker-runtime invoke-endpoint --region "
            f"{world.region} --endpoint-name {endpoint} --content-type text/csv "
            "--body fileb://payload.csv /dev/stdout",
        ]
    )
    subject = f"[{world.settings.stack_name}] Rollback {status}: {endpoint}"[:100]
    world.sns.publish(TopicArn=world.settings.topic_arn, Subject=subject, Message=body + "\n")


def runs_in_progress(table: Any) -> list[str]:
    """Runs the table shows training or deploying (the local world's stand-in for the pipeline state)."""
    busy = []
    for item in table.scan().get("Items", []):
        training = item.get("status") in ("Pending", "InProgress")
        deploying = item.get("deploy_status") in ("Creating", "Updating", "Recreating", "RollingBack")
        if not str(item.get("run_id", "#")).startswith("#") and (training or deploying):
            busy.append(f"{item['run_id']} ({'training' if training else 'deploying'})")
    return busy


def parser(prog: str = "launch-cicd-pipeline.sh rollback") -> argparse.ArgumentParser:
    found = argparse.ArgumentParser(prog=prog, description="Redeploy an earlier approved model version.")
    found.add_argument("--to", default="", help="a model version number or the run id that registered it")
    return found


def aws_world(stack_name: str, region: str) -> World:
    import boto3

    def client(service: str, region_name: str = region) -> Any:
        return boto3.client(service, region_name=region_name)

    cloudformation = client("cloudformation")
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    outputs = {item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs", [])}
    functions = client("lambda")
    environment = deploy_function_environment(functions, stack_name)
    codepipeline = client("codepipeline")

    table = boto3.resource("dynamodb", region_name=region).Table(outputs["MetaDataStore"])

    def pipeline_busy() -> list[str]:
        listed = codepipeline.list_pipeline_executions(pipelineName=stack_name, maxResults=20)
        executions = [
            item["pipelineExecutionId"]
            for item in listed.get("pipelineExecutionSummaries", [])
            if item.get("status") in BUSY_PIPELINE
        ]
        return executions or runs_in_progress(table)

    return World(
        sagemaker=client("sagemaker"),
        table=table,
        s3=client("s3"),
        ecr=client("ecr"),
        sns=client("sns"),
        pricing=client("pricing", pricing.pricing_region(region)),
        region=region,
        settings=settings_from_function(environment),
        pipeline_busy=pipeline_busy,
    )


def deploy_function_environment(functions: Any, stack_name: str) -> dict[str, str]:
    for page in functions.get_paginator("list_functions").paginate():
        for function in page["Functions"]:
            variables = function.get("Environment", {}).get("Variables", {})
            if (
                function.get("Handler") == "deploy_endpoint.handler"
                and variables.get("STACK_NAME") == stack_name
            ):
                return variables
    raise RollbackRefused(
        f"stack {stack_name} has no deploy function: was it deployed with DeployEndpoint=true?"
    )


def main(argv: list[str] | None = None) -> int:
    arguments_parser = parser()
    arguments_parser.add_argument("--stack-name", required=True)
    arguments_parser.add_argument("--region", required=True)
    arguments = arguments_parser.parse_args(argv)
    try:
        world = aws_world(arguments.stack_name, arguments.region)
        rollback(world, arguments.to, print, Log("rollback"))
    except RollbackRefused as refused:
        print(f"error: rollback refused: {refused}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
