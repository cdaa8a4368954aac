"""idle_guard: the hourly idle-endpoint check (EventBridge schedule, only with IdleEndpointHours > 0).

An endpoint of this stack with no invocation for IDLE_HOURS is deleted, the config it served is
marked for ``launch-cicd-pipeline.sh redeploy``, and the owner is emailed how to bring it back
(``common.idle_endpoint``). A busy, young, missing or foreign endpoint is left alone with one log
line. AWS errors are raised, so the invocation counts as failed and the next hour tries again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from common import clients, notify
from common.deploy_settings import check_endpoint_name
from common.idle_endpoint import DELETED, Verdict, check, email
from common.logs import Log
from common.settings import env_int, env_text

HANDLER = "idle_guard"


@dataclass(frozen=True)
class IdleSettings:
    stack_name: str
    endpoint_name: str
    idle_hours: int
    topic_arn: str
    region: str

    @classmethod
    def from_environment(cls) -> IdleSettings:
        endpoint_name = env_text("ENDPOINT_NAME")
        check_endpoint_name(endpoint_name)
        return cls(
            stack_name=env_text("STACK_NAME"),
            endpoint_name=endpoint_name,
            idle_hours=env_int("IDLE_HOURS", minimum=1, maximum=720),
            topic_arn=env_text("NOTIFICATION_TOPIC_ARN", required=False),
            region=env_text("AWS_REGION"),
        )


@dataclass(frozen=True)
class Services:
    sagemaker: Any
    cloudwatch: Any

    @classmethod
    def create(cls) -> Services:
        return cls(clients.client("sagemaker"), clients.client("cloudwatch"))


def core(settings: IdleSettings, services: Services, now: dt.datetime, log: Log) -> Verdict:
    verdict = check(
        services.sagemaker,
        services.cloudwatch,
        settings.stack_name,
        settings.endpoint_name,
        settings.idle_hours,
        now,
        log,
    )
    if verdict.action == DELETED:
        subject, body = email(
            settings.stack_name, settings.endpoint_name, verdict.config, settings.idle_hours, settings.region
        )
        notify.publish(settings.topic_arn, subject, body, log)
    else:
        log.info(
            "endpoint kept", endpoint=settings.endpoint_name, action=verdict.action, reason=verdict.reason
        )
    return verdict


def handle(event: Any, *, services: Callable[[], Services], now: Callable[[], dt.datetime]) -> dict[str, str]:
    log = Log(HANDLER)
    settings = IdleSettings.from_environment()
    verdict = core(settings, services(), now(), log)
    return {"action": verdict.action, "reason": verdict.reason}


def tick_time(event: Any) -> dt.datetime:
    """The schedule tick's own time (a scheduled event's "time"), else the clock: the idle window ends
    when the tick was due, however late the invocation runs."""
    text = event.get("time") if isinstance(event, dict) else None
    if isinstance(text, str):
        try:
            when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            when = None
        if when is not None and when.tzinfo is not None:
            return when
    return dt.datetime.now(dt.UTC)


def handler(event: Any, context: Any) -> dict[str, str]:
    return handle(event, services=Services.create, now=lambda: tick_time(event))
