"""deploy_endpoint: the Deploy stage's CodePipeline Invoke action.

First invocation (no continuation token):
1. Environment and UserParameters (``{"execution_id": ...}``) are parsed strictly; QUALITY_GATE
   (``metric >= value``, operators >= > <= <) is parsed at the edge, a bad one fails the job.
2. The run item gives the training job; DescribeTrainingJob is the authority for the model
   artifact and final metrics (the EventBridge record of the run may lag behind the Train stage).
3. Quality gate: the metric must be reported and pass, else deploy_status GateFailed + failure.
4. Model and EndpointConfig named ``names.resource_name(stack, execution_id)`` (one per run,
   created only when absent, tagged with the stack and run id; variant ``AllTraffic``).
5. The endpoint (stable name ENDPOINT_NAME): absent -> CreateEndpoint (deploy_status Creating);
   already on (or pending) this config -> adopted (a re-invocation); InService/OutOfService ->
   UpdateEndpoint with RetainAllVariantProperties false (the new config's instance count
   applies) and a BlueGreenUpdatePolicy (AllAtOnce,
   Canary 10 % then the rest, Linear 25 % steps) with AutoRollbackConfiguration on the alarms
   in ROLLBACK_ALARM_NAMES (deploy_status Updating); busy or Failed -> failure saying what to do.
6. Continuation token ``{"config": ..., "endpoint": ..., "run": ...}``.

Later invocations: Creating/Updating/SystemUpdating/RollingBack -> continue. InService on our
config -> optional smoke test (InvokeEndpoint with the S3 payload; content type from the file
extension), deploy_status InService, prune, success. InService on another config -> the update
was rolled back (alarm or failed update): deploy_status RolledBack, failure with the reason.
Failed -> deploy_status Failed, failure with SageMaker's reason.

A KMS key refused by an instance type with local NVMe storage is retried without it.
Pruning keeps the newest KEEP_LAST_RELEASES endpoint configs and models tagged with this stack,
and never the ones the endpoint uses or this run created; a pruning error is logged only.
Run item writes are logged on failure and never hide the job result. An empty ENDPOINT_NAME
records deploy_status Skipped and succeeds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from common import clients, codepipeline, names, runs, sagemaker_resources
from common.codepipeline import CodePipelineJob, JobEvent, JobFailure
from common.deploy_settings import DeploySettings, QualityGate
from common.errors import ConfigurationError, describe_error, error_code, is_capacity_error
from common.logs import Log
from common.sagemaker_resources import describe, stack_tags

HANDLER = "deploy_endpoint"
VARIANT_NAME = "AllTraffic"
BUSY_STATUSES = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")
WAIT_STATUSES = ("Creating", "Updating", "SystemUpdating", "RollingBack")
BAKE_SECONDS = 300
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
CONTENT_TYPES = {".csv": "text/csv", ".json": "application/json", ".npy": "application/x-npy"}


@dataclass(frozen=True)
class DeployRequest:
    run_id: str
    continuation: dict[str, Any] | None

    @classmethod
    def parse(cls, event: JobEvent) -> DeployRequest:
        run_id = codepipeline.execution_id(event.user_parameters({"execution_id": True})["execution_id"])
        return cls(run_id, event.continuation())


@dataclass(frozen=True)
class Services:
    sagemaker: Any
    runtime: Any
    s3: Any
    table: Any

    @classmethod
    def create(cls, settings: DeploySettings) -> Services:
        return cls(
            clients.client("sagemaker"),
            clients.LazyClient("sagemaker-runtime"),  # both only for the optional smoke test
            clients.LazyClient("s3"),
            clients.table(settings.table_name),
        )


def deployment_config(strategy: str, alarm_names: tuple[str, ...]) -> dict[str, Any]:
    """UpdateEndpoint DeploymentConfig for the chosen strategy, with alarm auto-rollback."""
    routing: dict[str, Any] = {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}
    if strategy == "Canary":
        routing = {
            "Type": "CANARY",
            "WaitIntervalInSeconds": BAKE_SECONDS,
            "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
        }
    elif strategy == "Linear":
        routing = {
            "Type": "LINEAR",
            "WaitIntervalInSeconds": BAKE_SECONDS,
            "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 25},
        }
    config: dict[str, Any] = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": BAKE_SECONDS if alarm_names else 0,
        }
    }
    if alarm_names:
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": name} for name in alarm_names]}
    return config


def capacity_hint(settings: DeploySettings) -> str:
    return (
        f"Change the stack parameter EndpointInstanceType (now {settings.instance_type}) or "
        f"EndpointInstanceCount (now {settings.instance_count}), or request a SageMaker quota increase."
    )


def set_deploy_status(table: Any, run_id: str, status: str, log: Log, **extra: str) -> None:
    try:
        runs.update_item(table, run_id, {"deploy_status": status, "updated_at": runs.now_iso(), **extra})
        log.info("deploy status recorded", deploy_status=status)
    except ClientError as error:
        log.error("deploy status not recorded", deploy_status=status, error=describe_error(error))


def _capacity_guard(error: ClientError, settings: DeploySettings) -> None:
    if is_capacity_error(error):
        raise JobFailure(
            f"SageMaker refused {settings.instance_count} x {settings.instance_type}: "
            f"{error.response['Error'].get('Message', '')}. {capacity_hint(settings)}"
        ) from error


# ------------------------------------------------------------------------------------ first call
def trained_model(services: Services, run_id: str) -> tuple[str, str, dict[str, Decimal]]:
    """(image URI, model artifact URI, final metrics) of the run's completed training job."""
    item = runs.read_item(services.table, run_id)
    if not item or not item.get("training_job_name"):
        raise JobFailure(f"No training job is recorded for run {run_id}: did the Train stage run?")
    described = describe(services.sagemaker.describe_training_job, TrainingJobName=item["training_job_name"])
    if not described or described["TrainingJobStatus"] != "Completed":
        state = described["TrainingJobStatus"] if described else "missing"
        raise JobFailure(f"Training job {item['training_job_name']} is {state}, not Completed")
    artifact = described.get("ModelArtifacts", {}).get("S3ModelArtifacts", "")
    if not artifact:
        raise JobFailure(f"Training job {item['training_job_name']} produced no model artifact")
    metrics = {
        metric["MetricName"]: Decimal(str(metric["Value"]))
        for metric in described.get("FinalMetricDataList", [])
    }
    image = item.get("image_uri") or described.get("AlgorithmSpecification", {}).get("TrainingImage", "")
    return str(image), artifact, metrics


def check_gate(gate: QualityGate, metrics: Mapping[str, Decimal]) -> str:
    """'' when the gate passes, else why it failed."""
    if gate.metric not in metrics:
        reported = ", ".join(sorted(metrics)) or "none"
        return f"Quality gate {gate} failed: metric {gate.metric!r} was not reported (reported: {reported})"
    if not gate.passes(metrics[gate.metric]):
        return f"Quality gate {gate} failed: {gate.metric} = {metrics[gate.metric]}"
    return ""


def create_endpoint_config(sagemaker: Any, config: dict[str, Any], log: Log) -> None:
    """CreateEndpointConfig; instance types with local NVMe storage refuse a KmsKeyId.

    Their instance storage is hardware-encrypted, so a ValidationException with a key set is
    retried once without it (the second error, if any, is the one reported).
    """
    try:
        sagemaker.create_endpoint_config(**config)
    except ClientError as error:
        if error_code(error) != "ValidationException" or "KmsKeyId" not in config:
            raise
        log.warning("endpoint config refused the KMS key; retrying without it", error=describe_error(error))
        sagemaker.create_endpoint_config(**{key: value for key, value in config.items() if key != "KmsKeyId"})


def ensure_model_and_config(
    services: Services,
    settings: DeploySettings,
    name: str,
    run_id: str,
    image: str,
    artifact: str,
    log: Log,
) -> None:
    tags = stack_tags(settings.stack_name, run_id)
    try:
        if not describe(services.sagemaker.describe_model, ModelName=name):
            container: dict[str, Any] = {"Image": image, "ModelDataUrl": artifact}
            if settings.model_environment:
                container["Environment"] = settings.model_environment
            services.sagemaker.create_model(
                ModelName=name,
                PrimaryContainer=container,
                ExecutionRoleArn=settings.role_arn,
                Tags=tags,
            )
        if not describe(services.sagemaker.describe_endpoint_config, EndpointConfigName=name):
            config: dict[str, Any] = {
                "EndpointConfigName": name,
                "ProductionVariants": [
                    {
                        "VariantName": VARIANT_NAME,
                        "ModelName": name,
                        "InitialInstanceCount": settings.instance_count,
                        "InstanceType": settings.instance_type,
                        "InitialVariantWeight": 1.0,
                    }
                ],
                "Tags": tags,
            }
            if settings.kms_key_arn:
                config["KmsKeyId"] = settings.kms_key_arn
            create_endpoint_config(services.sagemaker, config, log)
    except ClientError as error:
        _capacity_guard(error, settings)
        raise


def roll_out(services: Services, settings: DeploySettings, name: str, run_id: str, log: Log) -> str:
    """Create or update the endpoint onto config ``name``; returns the deploy status."""
    endpoint = describe(services.sagemaker.describe_endpoint, EndpointName=settings.endpoint_name)
    try:
        if endpoint is None:
            services.sagemaker.create_endpoint(
                EndpointName=settings.endpoint_name,
                EndpointConfigName=name,
                Tags=stack_tags(settings.stack_name, run_id),
            )
            log.info("endpoint creation started", endpoint=settings.endpoint_name)
            return "Creating"
        status = endpoint["EndpointStatus"]
        pending = endpoint.get("PendingDeploymentSummary", {}).get("EndpointConfigName")
        if name in (endpoint.get("EndpointConfigName"), pending):
            log.info("endpoint already on this release", status=status)
            return "Creating" if status == "Creating" else "Updating"
        if status in BUSY_STATUSES:
            raise JobFailure(
                f"Endpoint {settings.endpoint_name} is {status} with another release; "
                "retry this stage when it is InService"
            )
        if status == "Failed":
            raise JobFailure(
                f"Endpoint {settings.endpoint_name} is Failed "
                f"({endpoint.get('FailureReason', 'no reason')}): delete it (aws sagemaker delete-endpoint "
                f"--endpoint-name {settings.endpoint_name}) and retry this stage"
            )
        services.sagemaker.update_endpoint(
            EndpointName=settings.endpoint_name,
            EndpointConfigName=name,
            # False: the new config's variant (instance count, weight, data capture) replaces the old
            # one; True would keep the old DesiredInstanceCount and ignore a changed
            # EndpointInstanceCount. (No autoscaling policy exists whose scaled count to retain.)
            RetainAllVariantProperties=False,
            DeploymentConfig=deployment_config(settings.strategy, settings.alarm_names),
        )
        log.info("endpoint update started", endpoint=settings.endpoint_name, strategy=settings.strategy)
        return "Updating"
    except ClientError as error:
        _capacity_guard(error, settings)
        raise


def start(job: CodePipelineJob, settings: DeploySettings, run_id: str, services: Services) -> None:
    if not settings.endpoint_name:
        set_deploy_status(services.table, run_id, "Skipped", job.log)
        job.succeed("No endpoint configured; deployment skipped")
        return
    image, artifact, metrics = trained_model(services, run_id)
    if settings.gate:
        gate_failure = check_gate(settings.gate, metrics)
        if gate_failure:
            set_deploy_status(services.table, run_id, "GateFailed", job.log)
            raise JobFailure(gate_failure)
        job.log.info("quality gate passed", gate=str(settings.gate))
    name = names.resource_name(settings.stack_name, run_id)
    ensure_model_and_config(services, settings, name, run_id, image, artifact, job.log)
    status = roll_out(services, settings, name, run_id, job.log)
    set_deploy_status(
        services.table,
        run_id,
        status,
        job.log,
        endpoint_name=settings.endpoint_name,
        endpoint_config_name=name,
        model_name=name,
    )
    token = codepipeline.encode_token({"config": name, "endpoint": settings.endpoint_name, "run": run_id})
    job.succeed(f"Endpoint {settings.endpoint_name}: {status} with {name}", continuation_token=token)


# ------------------------------------------------------------------------------------ later calls
def smoke_test(services: Services, settings: DeploySettings) -> str:
    """'' when the endpoint answers the stored payload, else why not."""
    try:
        stored = services.s3.get_object(Bucket=settings.smoke_bucket, Key=settings.smoke_key)
        body = stored["Body"].read(MAX_PAYLOAD_BYTES + 1)
    except (ClientError, BotoCoreError) as error:
        return f"Smoke test payload s3://{settings.smoke_bucket}/{settings.smoke_key} unreadable: " + (
            describe_error(error)
        )
    if len(body) > MAX_PAYLOAD_BYTES:
        return "Smoke test payload is larger than the 6 MB InvokeEndpoint limit"
    extension = "." + settings.smoke_key.rsplit(".", 1)[-1].lower() if "." in settings.smoke_key else ""
    content_type = CONTENT_TYPES.get(extension, stored.get("ContentType") or "application/octet-stream")
    try:
        services.runtime.invoke_endpoint(
            EndpointName=settings.endpoint_name, ContentType=content_type, Body=body
        )
    except (ClientError, BotoCoreError) as error:
        return f"Smoke test failed: {describe_error(error)}"
    return ""


def poll(
    token: Mapping[str, Any],
    job: CodePipelineJob,
    settings: DeploySettings,
    run_id: str,
    services: Services,
) -> None:
    name = names.resource_name(settings.stack_name, run_id)
    if token != {"config": name, "endpoint": settings.endpoint_name, "run": run_id}:
        raise ConfigurationError("the continuation token is not one this function wrote")
    endpoint = describe(services.sagemaker.describe_endpoint, EndpointName=settings.endpoint_name)
    if endpoint is None:
        set_deploy_status(services.table, run_id, "Failed", job.log)
        raise JobFailure(f"Endpoint {settings.endpoint_name} disappeared during the deployment")
    status = endpoint["EndpointStatus"]
    if status in WAIT_STATUSES:
        job.succeed(
            f"Endpoint {settings.endpoint_name}: {status}",
            continuation_token=codepipeline.encode_token(token),
        )
        return
    reason = endpoint.get("FailureReason", "")
    hint = f" {capacity_hint(settings)}" if "capacity" in reason.lower() else ""
    if status == "InService" and endpoint.get("EndpointConfigName") != name:
        set_deploy_status(services.table, run_id, "RolledBack", job.log)
        alarms = ", ".join(settings.alarm_names) or "none configured"
        raise JobFailure(
            f"Endpoint {settings.endpoint_name} was rolled back to {endpoint.get('EndpointConfigName')} "
            f"(reason: {reason or 'a rollback alarm fired'}; alarms: {alarms}).{hint}"
        )
    if status != "InService":
        set_deploy_status(services.table, run_id, "Failed", job.log)
        raise JobFailure(
            f"Endpoint {settings.endpoint_name} is {status}: {reason or 'no reason given'}.{hint}"
        )
    if settings.smoke_key:
        failure = smoke_test(services, settings)
        if failure:
            set_deploy_status(services.table, run_id, "Failed", job.log)
            raise JobFailure(f"{failure} (endpoint {settings.endpoint_name} now serves {name})")
        job.log.info("smoke test passed")
    set_deploy_status(services.table, run_id, "InService", job.log)
    try:
        prune(services.sagemaker, settings, endpoint["EndpointConfigName"], job.log)
    except (ClientError, BotoCoreError) as error:
        job.log.warning("old releases not pruned", error=describe_error(error))
    job.succeed(
        f"Endpoint {settings.endpoint_name} InService with {name}",
        variables={"ENDPOINT_NAME": settings.endpoint_name, "ENDPOINT_CONFIG_NAME": name},
    )


def prune(sagemaker: Any, settings: DeploySettings, current_config: str, log: Log) -> list[str]:
    """Delete this stack's endpoint configs and models beyond the newest N; returns what went."""
    return sagemaker_resources.prune_releases(
        sagemaker, settings.stack_name, settings.keep_last, current_config, log
    )


# ---------------------------------------------------------------------------------------- handler
def core(request: DeployRequest, settings: DeploySettings, services: Services, job: CodePipelineJob) -> None:
    if request.continuation is None:
        start(job, settings, request.run_id, services)
    else:
        poll(request.continuation, job, settings, request.run_id, services)


def handler(event: Any, context: Any) -> None:
    codepipeline.run_job(event, HANDLER, DeployRequest, DeploySettings, Services, core)
