"""train_trigger: the Train stage's CodePipeline Invoke action.

First invocation (no continuation token):
1. Parse the environment and UserParameters (common.train_request) strictly: a bad field fails the
   job naming it.
2. Read the run item (key = execution id from UserParameters, never from the event).
3. Decide the job name, ``names.resource_name(stack, execution_id, attempt)``:
   - the run item's attempt (1 when there is none) and DescribeTrainingJob by that name first;
   - a job that exists is adopted, whatever its state (a re-invocation, or a crash between
     CreateTrainingJob and the DynamoDB write), so no second job is ever started for it;
   - except a *stage retry*: the job ended Failed/Stopped and the run item says it was started for
     a different CodePipeline job id; then attempt + 1 (name suffix ``-rN``) is started.
   CreateTrainingJob answering ResourceInUse (a concurrent invocation) also adopts the job.
4. Snapshot the data: {key: versionId} of the current objects under the input prefix (at most
   ``MAX_RECORDED_OBJECTS``; the job reads the prefix, this is the record of what was there).
   No object there (e.g. the execution a new pipeline starts by itself): no job is started, the
   run is recorded Failed with "no training data under s3://...: upload data under <prefix>
   first", the owner gets the outcome email, and the action fails with that message.
5. Write the run item. A failed write is logged and never hides the job result: the continuation
   token alone carries what later invocations need.
6. Answer with a continuation token ``{"attempt": n, "job": name, "run": execution_id}``.

Later invocations (continuation token): the token must name exactly the job this stack would
have named for that execution id and attempt (a forged token fails the job). DescribeTrainingJob:
InProgress/Stopping -> continue; Completed -> success (outputs TRAINING_JOB_NAME, MODEL_ARTIFACT);
Failed/Stopped -> failure with SageMaker's reason and, for capacity or time limits, the stack
parameter to change. A terminal state is also recorded on the run item through
``runs.record_training_state`` (conditional writes: whoever records it first wins), so a
lost EventBridge event does not leave the run InProgress.

Contract additions written on the run item: ``codepipeline_job_id``, ``codepipeline_job_started_at``
and ``training_attempt``; once the job has ended, ``lifecycle_job`` (common.run_lifecycle).
The outcome email is sent here, after the run's cost and model version are recorded, so that it
carries them; job_events sends it only when this stage cannot (common.runs).
NOTIFICATION_TOPIC_ARN (optional) enables the AccessDenied email.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from botocore.exceptions import ClientError
from common import clients, codepipeline, names, run_lifecycle, runs, training_job, training_state
from common.codepipeline import CodePipelineJob, JobFailure
from common.errors import ConfigurationError, describe_error, error_code, is_capacity_error
from common.logs import Log
from common.sagemaker_resources import describe
from common.train_request import RunRequest
from common.training_settings import TrainingSettings

HANDLER = "train_trigger"
MAX_RECORDED_OBJECTS = 1000


@dataclass(frozen=True)
class Services:
    sagemaker: Any
    s3: Any
    table: Any
    logs: Any = None  # only when a declared metric was not captured (common.metric_warnings)

    @classmethod
    def create(cls, settings: TrainingSettings) -> Services:
        return cls(
            clients.client("sagemaker"),
            clients.client("s3"),
            clients.table(settings.table_name),
            clients.LazyClient("logs"),
        )


# ------------------------------------------------------------------------------------ first call
def describe_job(sagemaker: Any, name: str) -> dict[str, Any] | None:
    return describe(sagemaker.describe_training_job, TrainingJobName=name)


def snapshot_data(s3: Any, bucket: str, prefix: str, log: Log) -> dict[str, str]:
    """{key: versionId} of the current objects under the prefix (folder markers skipped)."""
    objects: dict[str, str] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for version in page.get("Versions", []):
            if version.get("IsLatest") and not version["Key"].endswith("/"):
                objects[version["Key"]] = version.get("VersionId") or "null"
                if len(objects) >= MAX_RECORDED_OBJECTS:
                    log.warning("data snapshot truncated", recorded=MAX_RECORDED_OBJECTS)
                    return objects
    return objects


def create_job(services: Services, settings: TrainingSettings, run: RunRequest, name: str, log: Log) -> str:
    """Start the job; returns its ARN. A concurrent invocation's job (ResourceInUse) is adopted."""
    try:
        return services.sagemaker.create_training_job(
            **training_job.training_request(settings, run.image_uri, run.execution_id, name)
        )["TrainingJobArn"]
    except ClientError as error:
        if error_code(error) == "ResourceInUse":
            log.info("training job already exists; adopting it", training_job_name=name)
            existing = describe_job(services.sagemaker, name)
            if existing:
                return existing["TrainingJobArn"]
        if is_capacity_error(error):
            raise JobFailure(
                f"SageMaker refused {settings.instance_count} x {settings.instance_type}: "
                f"{error.response['Error'].get('Message', '')}. {training_job.capacity_hint(settings)}"
            ) from error
        raise


def read_run(table: Any, run_id: str, log: Log) -> dict[str, Any]:
    try:
        return runs.read_item(table, run_id)
    except ClientError as error:
        log.error("run item not readable; continuing without it", error=describe_error(error))
        return {}


def choose_job(
    services: Services,
    settings: TrainingSettings,
    run: RunRequest,
    cp_job_id: str,
    item: Mapping[str, Any],
    log: Log,
) -> tuple[str, int, dict[str, Any] | None]:
    """(name, attempt, existing job description or None) under the attempt rule of this module."""
    attempt = int(item.get("training_attempt", 1)) if item.get("training_job_name") else 1
    name = names.resource_name(settings.stack_name, run.execution_id, attempt)
    existing = describe_job(services.sagemaker, name)
    recorded_job_id = item.get("codepipeline_job_id", "")
    stage_retry = (
        existing is not None
        and existing["TrainingJobStatus"] in ("Failed", "Stopped")
        and item.get("training_job_name") == name
        and recorded_job_id
        and recorded_job_id != cp_job_id
    )
    if stage_retry:
        attempt += 1
        name = names.resource_name(settings.stack_name, run.execution_id, attempt)
        log.info("stage retried after a failed job; starting a new attempt", attempt=attempt)
        existing = describe_job(services.sagemaker, name)
    return name, attempt, existing


def run_attributes(settings: TrainingSettings, run: RunRequest) -> dict[str, Any]:
    """What the run item records about the run itself, whether or not a job was started."""
    return {
        "trigger": run.trigger,
        "trigger_detail": run.trigger_detail,
        "git_commit": run.git_commit,
        "git_repository": settings.git_repository,
        "git_branch": settings.git_branch,
        "image_uri": run.image_uri,
        "image_digest": run.image_digest,
        "hyperparameters": settings.hyperparameters,
        "metric_definitions": settings.metric_definitions,  # what metric warnings compare with
        "instance_config": {
            "instance_type": settings.instance_type,
            "instance_count": settings.instance_count,
            "volume_size_gb": settings.volume_size_gb,
            "max_runtime_seconds": settings.max_runtime_seconds,
            "use_spot": settings.use_spot,
            "max_wait_seconds": settings.max_wait_seconds,
        },
        "updated_at": runs.now_iso(),
    }


def record_start(
    services: Services,
    settings: TrainingSettings,
    run: RunRequest,
    cp_job_id: str,
    name: str,
    attempt: int,
    arn: str,
    data_objects: dict[str, str] | None,
    log: Log,
) -> None:
    attributes: dict[str, Any] = {
        **run_attributes(settings, run),
        "training_job_name": name,
        "training_job_arn": arn,
        "training_attempt": attempt,
        "codepipeline_job_id": cp_job_id,
        # job_events leaves the outcome email to this stage until CodePipeline would have given up on it
        "codepipeline_job_started_at": runs.now_iso(),
    }
    if data_objects is not None:
        attributes["data_objects"] = data_objects
    try:
        try:
            # A run that failed before any job (no data) has no training_job_name: this job starts it.
            runs.update_item(
                services.table,
                run.execution_id,
                {
                    **attributes,
                    "status": "InProgress",
                    "started_at": runs.now_iso(),
                    "failure_reason": "",
                    "ended_at": "",
                },
                "attribute_not_exists(#status) OR #status IN (:pending, :in_progress)"
                " OR attribute_not_exists(training_job_name) OR training_job_name <> :name",
                pending="Pending",
                in_progress="InProgress",
                name=name,
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            # The job already reached a terminal status (recorded by job_events): keep it.
            runs.update_item(services.table, run.execution_id, attributes)
        log.info("run recorded", training_job_name=name)
    except ClientError as error:
        log.error("run item not written; the job result is reported anyway", error=describe_error(error))


def fail_without_data(
    job: CodePipelineJob, settings: TrainingSettings, run: RunRequest, services: Services
) -> NoReturn:
    """No object under the input prefix: a job could only fail, billed. Record it, email, fail."""
    where = settings.input_prefix or f"s3://{settings.input_bucket}/"
    reason = (
        f"no training data under s3://{settings.input_bucket}/{settings.input_prefix}: "
        f"upload data under {where} first"
    )
    try:
        runs.record_failure_before_training(
            run.execution_id,
            {**run_attributes(settings, run), "data_objects": {}},
            reason,
            job.job_id,
            runs.RecordSettings(
                settings.stack_name, settings.artifact_bucket, settings.topic_arn, settings.table_name
            ),
            services.table,
            job.log,
        )
    except ClientError as error:
        job.log.error("run item not written; the job result is reported anyway", error=describe_error(error))
    raise JobFailure(reason)


def start(job: CodePipelineJob, settings: TrainingSettings, run: RunRequest, services: Services) -> None:
    log = job.log
    item = read_run(services.table, run.execution_id, log)
    name, attempt, existing = choose_job(services, settings, run, job.job_id, item, log)
    log.bind(training_job_name=name)
    if existing is None:
        data_objects: dict[str, str] | None = snapshot_data(
            services.s3, settings.input_bucket, settings.input_prefix, log
        )
        if not data_objects:
            fail_without_data(job, settings, run, services)
        arn = create_job(services, settings, run, name, log)
        log.info("training job started", attempt=attempt, objects=len(data_objects or {}))
    else:
        arn = existing["TrainingJobArn"]
        log.info("training job exists; not starting another", status=existing["TrainingJobStatus"])
        same_job_recorded = item.get("training_job_name") == name and "data_objects" in item
        data_objects = (
            None
            if same_job_recorded
            else snapshot_data(services.s3, settings.input_bucket, settings.input_prefix, log)
        )
    record_start(services, settings, run, job.job_id, name, attempt, arn, data_objects, log)
    token = codepipeline.encode_token({"job": name, "attempt": attempt, "run": run.execution_id})
    job.succeed(f"Training job {name} started", continuation_token=token)


# ------------------------------------------------------------------------------------ later calls
def poll(
    token: Mapping[str, Any],
    job: CodePipelineJob,
    settings: TrainingSettings,
    run: RunRequest,
    services: Services,
) -> None:
    attempt = token.get("attempt")
    name = token.get("job")
    if (
        not isinstance(attempt, int)
        or isinstance(attempt, bool)
        or not 1 <= attempt <= 99
        or token.get("run") != run.execution_id
    ):
        raise ConfigurationError("the continuation token is not one this function wrote")
    if name != names.resource_name(settings.stack_name, run.execution_id, attempt):
        raise ConfigurationError("the continuation token is not one this function wrote")
    job.log.bind(training_job_name=name)
    described = describe_job(services.sagemaker, name)
    if described is None:
        raise JobFailure(f"Training job {name} no longer exists")
    status = described["TrainingJobStatus"]
    if status in ("InProgress", "Stopping"):
        job.succeed(
            f"Training job {name}: {described.get('SecondaryStatus', status)}",
            continuation_token=codepipeline.encode_token(token),
        )
        return
    stop = run_lifecycle.after_training(
        described,
        run.execution_id,
        run_lifecycle.LifecycleSettings.from_parameters(settings.stack_name, run.lifecycle),
        services.table,
        services.sagemaker,
        job.log,
    )
    try:
        runs.record_training_state(
            training_state.TrainingJobState.from_description(described),
            run.execution_id,
            runs.RecordSettings(
                settings.stack_name, settings.artifact_bucket, settings.topic_arn, settings.table_name
            ),
            runs.RecordServices(services.table, services.s3, services.logs),
            job.log,
        )
    except Exception as error:  # noqa: BLE001 - the run item is a record; the job result comes first
        job.log.error("terminal state not recorded", error=describe_error(error))
    if stop:
        raise JobFailure(stop)
    if status == "Completed":
        artifact = described.get("ModelArtifacts", {}).get("S3ModelArtifacts", "")
        metrics = ", ".join(
            f"{metric['MetricName']}={metric['Value']:g}"
            for metric in described.get("FinalMetricDataList", [])
        )
        job.succeed(
            f"Training job {name} completed. {metrics}".strip(),
            variables={"TRAINING_JOB_NAME": name, "MODEL_ARTIFACT": artifact},
        )
        return
    raise JobFailure(training_job.failure_message(name, described, settings))


# ---------------------------------------------------------------------------------------- handler
def core(run: RunRequest, settings: TrainingSettings, services: Services, job: CodePipelineJob) -> None:
    if run.continuation is None:
        start(job, settings, run, services)
    else:
        poll(run.continuation, job, settings, run, services)


def handler(event: Any, context: Any) -> None:
    codepipeline.run_job(event, HANDLER, RunRequest, TrainingSettings, Services, core)
