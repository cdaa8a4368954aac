"""job_events: EventBridge "SageMaker Training Job State Change" -> run item + one email per outcome.

- Only this stack's jobs: the event's ``Tags`` must carry ``sagemaker-pipeline:stack = STACK_NAME``
  (when the event has no tags, the name must start with this stack's resource prefix), and the
  run is found through the GSI ``by-training-job``. Anything else is ignored with one log line.
- The state is written with ``runs.record_training_state``: conditional writes, so events of an
  earlier attempt never touch a later one and a duplicate or late event never changes a terminal
  status; one email per terminal state, claimed on the item, even with duplicate events or several
  recorders (train_trigger records terminal states it sees while polling). The email waits for the
  Train stage, which sends it with the run's cost and model version; this function sends it only
  when the Train stage has recorded them or can no longer come (``runs.notify_once``).
- Malformed or foreign events are logged and ignored (never raised). A missing environment
  variable or an AWS error after the client's retries is raised, so the invocation counts as an
  error and EventBridge's asynchronous retry runs it again (all writes are idempotent).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common import clients, names, pipeline_metrics, runs, training_state
from common.errors import ConfigurationError
from common.logs import Log
from common.settings import env_text

HANDLER = "job_events"
DETAIL_TYPE = "SageMaker Training Job State Change"


class Ignored(Exception):
    """The event is not one to act on: the log line to write, with its fields."""

    def __init__(self, message: str, **fields: str) -> None:
        super().__init__(message)
        self.fields = fields


@dataclass(frozen=True)
class StateChange:
    """A training job state change event of some stack."""

    state: training_state.TrainingJobState

    @classmethod
    def parse(cls, event: Any) -> StateChange:
        detail = event.get("detail") if isinstance(event, Mapping) else None
        if (
            not isinstance(event, Mapping)
            or event.get("detail-type") != DETAIL_TYPE
            or not isinstance(detail, Mapping)
        ):
            raise Ignored("not a SageMaker Training Job State Change event; ignored")
        try:
            return cls(training_state.TrainingJobState.from_description(detail, detail.get("Tags")))
        except ConfigurationError as error:
            raise Ignored("malformed training job event ignored", reason=str(error)) from None


def settings_from_environment() -> runs.RecordSettings:
    return runs.RecordSettings(
        stack_name=env_text("STACK_NAME"),
        artifact_bucket=env_text("MODEL_ARTIFACT_BUCKET"),
        topic_arn=env_text("NOTIFICATION_TOPIC_ARN"),
        table_name=env_text("METADATA_TABLE"),
    )


def services_for(settings: runs.RecordSettings) -> runs.RecordServices:
    return runs.RecordServices(
        clients.table(settings.table_name),
        clients.client("s3"),
        clients.LazyClient("logs"),
        clients.LazyClient("cloudwatch"),
    )


def core(change: StateChange, settings: runs.RecordSettings, services: runs.RecordServices, log: Log) -> str:
    state = change.state
    log.bind(training_job_name=state.name)
    foreign_tag = state.stack_tag is not None and state.stack_tag != settings.stack_name
    if foreign_tag or (
        state.stack_tag is None and not state.name.startswith(names.resource_prefix(settings.stack_name))
    ):
        log.info("training job of another stack ignored")
        return "ignored"
    run_id = runs.find_run_id(services.table, state.name)
    if not run_id:
        log.info("no run item for this training job; ignored")
        return "ignored"
    log.bind(run_id=run_id)
    outcome = runs.record_training_state(state, run_id, settings, services, log, wait_for_train_stage=True)
    if state.terminal and services.cloudwatch is not None:
        # No cost per run yet: TrainingCostUSD is published once the run records one.
        pipeline_metrics.publish_training_outcome(
            services.cloudwatch, services.table, run_id, settings.stack_name, state, None, log
        )
    return outcome


def handler(event: Any, context: Any) -> dict[str, str]:
    log = Log(HANDLER)
    try:
        settings = settings_from_environment()
        change = StateChange.parse(event)
    except Ignored as ignored:
        log.warning(str(ignored), **ignored.fields)
        return {"outcome": "ignored"}
    except ConfigurationError as error:
        log.error("bad configuration; event not recorded", reason=str(error))
        raise
    return {"outcome": core(change, settings, services_for(settings), log)}
