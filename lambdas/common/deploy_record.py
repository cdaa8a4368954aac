"""What the Deploy stage writes on the run item (``deploy_status`` and its details), and the email
that tells the owner the endpoint was rolled back. A failed write or email is logged and never hides
the job's result."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from common import notify, runs
from common.endpoint_recovery import Rollback
from common.errors import describe_error
from common.logs import Log


def set_deploy_status(table: Any, run_id: str, status: str, log: Log, **extra: Any) -> None:
    try:
        runs.update_item(table, run_id, {"deploy_status": status, "updated_at": runs.now_iso(), **extra})
        log.info("deploy status recorded", deploy_status=status)
    except ClientError as error:
        log.error("deploy status not recorded", deploy_status=status, error=describe_error(error))


def record_rollback(
    table: Any, topic_arn: str, stack_name: str, run_id: str, rollback: Rollback, log: Log
) -> None:
    """deploy_status = the rollback's status, the ``rollback`` map, and (once it is over) the email."""
    set_deploy_status(table, run_id, rollback.status, log, rollback=rollback.record())
    if rollback.status == "RollingBack":
        return
    subject, body = notify.rollback_email(rollback.record(), stack_name, run_id, notify.region())
    notify.publish(topic_arn, subject, body, log)
