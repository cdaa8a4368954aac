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
   in ROLLBACK_ALARM_NAMES (deploy_status Updating, previous_endpoint_config_name = the config it
   served); busy -> failure saying what to do; Failed -> DeleteEndpoint (the only operation AWS
   allows on a Failed endpoint), deploy_status Recreating, CreateEndpoint once it is gone.
6. Continuation token: ``common.deploy_progress`` (this run's config, the phase, the previous config).

Later invocations: Creating/Updating/SystemUpdating/RollingBack -> continue. InService on our
config -> optional smoke test (InvokeEndpoint with the S3 payload; content type from the file
extension), deploy_status InService, prune, success. A failed smoke test after an update rolls the
endpoint back to the previous config (deploy_status RollingBack, then RolledBack or RollbackFailed,
the ``rollback`` map on the run item, an email) and fails; after a create it fails (Failed).
InService on another config -> SageMaker rolled the update back (alarm or failed update): it serves
what it served before; deploy_status RolledBack, the ``rollback`` map, an email, failure with the
reason. Failed -> deploy_status Failed, failure with SageMaker's reason (the next run recovers it).

A KMS key refused by an instance type with local NVMe storage is retried without it.
Pruning keeps the newest KEEP_LAST_RELEASES endpoint configs and models tagged with this stack,
and never the ones the endpoint uses or this run created; a pruning error is logged only.
Run item writes are logged on failure and never hide the job result. An empty ENDPOINT_NAME
records deploy_status Skipped and succeeds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from common import (
    autoscaling,
    clients,
    codepipeline,
    endpoint_recovery,
    names,
    registry,
    runs,
    sagemaker_resources,
)
from common.blue_green import deployment_config
from common.codepipeline import CodePipelineJob, JobEvent, JobFailure
from common.deploy_progress import RECREATE, ROLLBACK, DeployProgress
from common.deploy_record import record_rollback, set_deploy_status
from common.deploy_settings import DeploySettings
from common.endpoint_recovery import BY_SAGEMAKER, BY_SMOKE_TEST, Rollback
from common.endpoint_variants import conversion_problem
from common.errors import describe_error, is_capacity_error
from common.logs import Log
from common.release import ensure_model_and_config
from common.sagemaker_resources import describe, stack_tags
from common.smoke_test import smoke_test
from common.trained_model import check_gate, trained_model

HANDLER = "deploy_endpoint"
BUSY_STATUSES = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")
WAIT_STATUSES = ("Creating", "Updating", "SystemUpdating", "RollingBack")


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
    # Application Auto Scaling, around updates and with autoscaling on (built on first use)
    autoscaling: Any = field(default_factory=lambda: clients.LazyClient("application-autoscaling"))

    @classmethod
    def create(cls, settings: DeploySettings) -> Services:
        return cls(
            clients.client("sagemaker"),
            clients.LazyClient("sagemaker-runtime"),  # both only for the optional smoke test
            clients.LazyClient("s3"),
            clients.table(settings.table_name),
        )


def capacity_hint(settings: DeploySettings) -> str:
    return (
        f"Change the stack parameter EndpointInstanceType (now {settings.instance_type}) or "
        f"EndpointInstanceCount (now {settings.instance_count}), or request a SageMaker quota increase."
    )


def _capacity_guard(error: ClientError, settings: DeploySettings) -> None:
    if is_capacity_error(error):
        raise JobFailure(
            f"SageMaker refused {settings.instance_count} x {settings.instance_type}: "
            f"{error.response['Error'].get('Message', '')}. {capacity_hint(settings)}"
        ) from error


# ------------------------------------------------------------------------------------ first call
def roll_out(
    services: Services, settings: DeploySettings, progress: DeployProgress, log: Log
) -> tuple[str, DeployProgress]:
    """Create or update the endpoint onto this run's config; the deploy status and the progress."""
    name, run_id = progress.config, progress.run
    endpoint = describe(services.sagemaker.describe_endpoint, EndpointName=settings.endpoint_name)
    try:
        if endpoint is None:
            services.sagemaker.create_endpoint(
                EndpointName=settings.endpoint_name,
                EndpointConfigName=name,
                Tags=stack_tags(settings.stack_name, run_id),
            )
            log.info("endpoint creation started", endpoint=settings.endpoint_name)
            return "Creating", progress
        status, current = endpoint["EndpointStatus"], endpoint.get("EndpointConfigName", "")
        pending = endpoint.get("PendingDeploymentSummary", {}).get("EndpointConfigName")
        if name in (current, pending):
            log.info("endpoint already on this release", status=status)
            if status == "Creating":
                return "Creating", progress
            return "Updating", progress.moved(previous=current if pending == name and current != name else "")
        if status in BUSY_STATUSES:
            raise JobFailure(
                f"Endpoint {settings.endpoint_name} is {status} with another release; "
                "retry this stage when it is InService"
            )
        if status == "Failed":
            endpoint_recovery.delete_failed(services.sagemaker, endpoint, log)
            return "Recreating", progress.moved(phase=RECREATE)
        update: dict[str, Any] = {"EndpointName": settings.endpoint_name, "EndpointConfigName": name}
        current_config = describe(services.sagemaker.describe_endpoint_config, EndpointConfigName=current)
        if settings.serverless:
            problem = conversion_problem(settings.endpoint_name, current_config, serverless=True)
            if problem:
                raise JobFailure(problem)
            update["RetainAllVariantProperties"] = False
        else:
            type_changes = autoscaling.instance_type_of(current_config) != settings.instance_type
            if type_changes or not settings.autoscaling.enabled:
                autoscaling.deregister(services.autoscaling, settings.endpoint_name, log)
            update.update(autoscaling.update_arguments(settings.autoscaling, type_changes))
            # blue/green with alarm rollback shifts traffic between instances
            update["DeploymentConfig"] = deployment_config(settings.strategy, settings.alarm_names)
        services.sagemaker.update_endpoint(**update)
        log.info("endpoint update started", endpoint=settings.endpoint_name, strategy=settings.strategy)
        # What the endpoint serves now is what a failed smoke test rolls back to: never an earlier
        # run's release that SageMaker itself rolled back and that therefore never served.
        return "Updating", progress.moved(previous=current)
    except ClientError as error:
        _capacity_guard(error, settings)
        raise


def start(job: CodePipelineJob, settings: DeploySettings, run_id: str, services: Services) -> None:
    if not settings.endpoint_name:
        set_deploy_status(services.table, run_id, "Skipped", job.log)
        job.succeed("No endpoint configured; deployment skipped")
        return
    image, artifact, metrics = trained_model(services.table, services.sagemaker, run_id)
    version = registered_version(services, run_id, job.log)
    if version is not None:
        image, artifact = version.image, version.artifact
    if settings.gate:
        gate_failure = check_gate(settings.gate, metrics)
        if gate_failure:
            set_deploy_status(services.table, run_id, "GateFailed", job.log)
            raise JobFailure(gate_failure)
        job.log.info("quality gate passed", gate=str(settings.gate))
    name = names.resource_name(settings.stack_name, run_id)
    try:
        ensure_model_and_config(services.sagemaker, settings, name, run_id, image, artifact, job.log)
    except ClientError as error:
        _capacity_guard(error, settings)
        raise
    status, progress = roll_out(
        services, settings, DeployProgress(name, settings.endpoint_name, run_id), job.log
    )
    recorded = {"endpoint_name": settings.endpoint_name, "endpoint_config_name": name, "model_name": name}
    if progress.previous:
        recorded["previous_endpoint_config_name"] = progress.previous
    set_deploy_status(services.table, run_id, status, job.log, **recorded)
    job.succeed(
        f"Endpoint {settings.endpoint_name}: {status} with {name}", continuation_token=progress.encode()
    )


def registered_version(services: Services, run_id: str, log: Log) -> registry.Version | None:
    """The run's model version, approved for this deployment (a pending one: the pipeline's approval
    has passed); a Rejected one fails the deployment. None for a run registered nothing."""
    arn = runs.read_item(services.table, run_id).get("model_package_arn")
    if not arn:
        return None
    version = registry.describe_version(services.sagemaker, str(arn))
    try:
        return registry.approve_for_deploy(services.sagemaker, services.table, run_id, version, log)
    except JobFailure:
        set_deploy_status(services.table, run_id, "GateFailed", log)
        raise


# ------------------------------------------------------------------------------------ later calls
def wait(job: CodePipelineJob, progress: DeployProgress, status: str) -> None:
    job.succeed(f"Endpoint {progress.endpoint}: {status}", continuation_token=progress.encode())


def poll_recreate(
    progress: DeployProgress, job: CodePipelineJob, settings: DeploySettings, services: Services
) -> None:
    """The Failed endpoint was deleted: create it again once it is gone."""
    tags = stack_tags(settings.stack_name, progress.run)
    status = endpoint_recovery.recreate(services.sagemaker, progress.endpoint, progress.config, tags, job.log)
    if status == "Deleting":
        wait(job, progress, status)
        return
    if status != "Creating":
        set_deploy_status(services.table, progress.run, "Failed", job.log)
        raise JobFailure(
            f"Endpoint {progress.endpoint} is {status} after its deletion (it was Failed); delete it "
            f"(aws sagemaker delete-endpoint --endpoint-name {progress.endpoint}) and retry this stage"
        )
    set_deploy_status(services.table, progress.run, "Creating", job.log, recreated_failed_endpoint=True)
    wait(job, progress.moved(phase="rollout"), status)


def poll_rollback(
    progress: DeployProgress,
    endpoint: dict[str, Any] | None,
    job: CodePipelineJob,
    settings: DeploySettings,
    services: Services,
) -> None:
    """Our UpdateEndpoint back to the previous config: wait for it, record it, email, fail the job."""
    status = endpoint["EndpointStatus"] if endpoint else "missing"
    if status in WAIT_STATUSES:
        wait(job, progress, status)
        return
    done = (
        status == "InService"
        and endpoint is not None
        and endpoint.get("EndpointConfigName") == progress.previous
    )
    reason = (
        progress.reason
        if done
        else f"{progress.reason}; the rollback ended {status}: "
        + str((endpoint or {}).get("FailureReason", "no reason given"))
    )
    finish_rollback(
        progress, reason, BY_SMOKE_TEST, "RolledBack" if done else "RollbackFailed", settings, services, job
    )


def finish_rollback(
    progress: DeployProgress,
    reason: str,
    by: str,
    status: str,
    settings: DeploySettings,
    services: Services,
    job: CodePipelineJob,
) -> None:
    rollback = Rollback(progress.endpoint, progress.config, progress.previous, reason, by, status)
    record_rollback(services.table, settings.topic_arn, settings.stack_name, progress.run, rollback, job.log)
    if status == "RolledBack":
        raise JobFailure(f"{reason}. Endpoint {progress.endpoint} was rolled back to {progress.previous}.")
    raise JobFailure(
        f"{reason}. Endpoint {progress.endpoint} could not be rolled back to {progress.previous}."
    )


def poll(
    token: Mapping[str, Any],
    job: CodePipelineJob,
    settings: DeploySettings,
    run_id: str,
    services: Services,
) -> None:
    name = names.resource_name(settings.stack_name, run_id)
    progress = DeployProgress.parse(token, DeployProgress(name, settings.endpoint_name, run_id))
    if progress.phase == RECREATE:
        poll_recreate(progress, job, settings, services)
        return
    endpoint = describe(services.sagemaker.describe_endpoint, EndpointName=settings.endpoint_name)
    if progress.phase == ROLLBACK:
        poll_rollback(progress, endpoint, job, settings, services)
        return
    if endpoint is None:
        set_deploy_status(services.table, run_id, "Failed", job.log)
        raise JobFailure(f"Endpoint {settings.endpoint_name} disappeared during the deployment")
    status = endpoint["EndpointStatus"]
    if status in WAIT_STATUSES:
        wait(job, progress, status)
        return
    reason = endpoint.get("FailureReason", "")
    hint = f" {capacity_hint(settings)}" if "capacity" in reason.lower() else ""
    if status == "InService" and endpoint.get("EndpointConfigName") != name:
        # SageMaker rolled this update back itself: the endpoint already serves what it served before.
        alarms = ", ".join(settings.alarm_names) or "none configured"
        serving = str(endpoint.get("EndpointConfigName"))
        finish_rollback(
            progress.moved(previous=serving),
            f"Endpoint {settings.endpoint_name} was rolled back to {serving} "
            f"(reason: {reason or 'a rollback alarm fired'}; alarms: {alarms}).{hint}",
            BY_SAGEMAKER,
            "RolledBack",
            settings,
            services,
            job,
        )
    if status != "InService":
        set_deploy_status(services.table, run_id, "Failed", job.log)
        raise JobFailure(
            f"Endpoint {settings.endpoint_name} is {status}: {reason or 'no reason given'}.{hint}"
        )
    if settings.smoke_key:
        failure = smoke_test(
            services.s3, services.runtime, settings.endpoint_name, settings.smoke_bucket, settings.smoke_key
        )
        if failure and progress.previous:
            roll_back(progress.moved(reason=failure), job, settings, services)
            return
        if failure:  # a new endpoint: there is no earlier release to go back to
            set_deploy_status(services.table, run_id, "Failed", job.log)
            raise JobFailure(f"{failure} (endpoint {settings.endpoint_name} now serves {name})")
        job.log.info("smoke test passed")
    if settings.autoscaling.enabled:
        autoscaling.register(services.autoscaling, settings.endpoint_name, settings.autoscaling, job.log)
    set_deploy_status(services.table, run_id, "InService", job.log)
    try:
        prune(services.sagemaker, settings, endpoint["EndpointConfigName"], job.log)
    except (ClientError, BotoCoreError) as error:
        job.log.warning("old releases not pruned", error=describe_error(error))
    job.succeed(
        f"Endpoint {settings.endpoint_name} InService with {name}",
        variables={"ENDPOINT_NAME": settings.endpoint_name, "ENDPOINT_CONFIG_NAME": name},
    )


def roll_back(
    progress: DeployProgress, job: CodePipelineJob, settings: DeploySettings, services: Services
) -> None:
    """The smoke test failed on an updated endpoint: back to the config it served before."""
    refused = endpoint_recovery.start_rollback(
        services.sagemaker, progress.endpoint, progress.previous, job.log
    )
    if refused:
        reason = f"{progress.reason}; the rollback was refused: {refused}"
        finish_rollback(progress, reason, BY_SMOKE_TEST, "RollbackFailed", settings, services, job)
    rollback = Rollback(
        progress.endpoint, progress.config, progress.previous, progress.reason, BY_SMOKE_TEST, "RollingBack"
    )
    record_rollback(services.table, settings.topic_arn, settings.stack_name, progress.run, rollback, job.log)
    wait(job, progress.moved(phase=ROLLBACK), "rolling back")


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
