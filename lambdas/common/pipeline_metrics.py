"""The pipeline's own CloudWatch metrics (namespace SageMakerPipeline), read by the stack's dashboard.

Per training job that reaches a terminal state, once (claimed on the run item, so a duplicate event
counts nothing twice): PipelineRuns (1, dimensions StackName and Status), TrainingDurationSeconds
and TrainingBillableSeconds (dimension StackName), and TrainingCostUSD when the cost is known.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from common.errors import describe_error, is_condition_failed
from common.logs import Log
from common.runs import update_item
from common.training_state import TrainingJobState

NAMESPACE = "SageMakerPipeline"


def _seconds_between(started: str, ended: str) -> float | None:
    try:
        start = dt.datetime.fromisoformat(started.replace("Z", "+00:00"))
        end = dt.datetime.fromisoformat(ended.replace("Z", "+00:00"))
    except ValueError:
        return None
    return max((end - start).total_seconds(), 0.0)


def training_outcome_metrics(
    stack_name: str, state: TrainingJobState, cost_usd: float | None
) -> list[dict[str, Any]]:
    """The MetricData of one training job's outcome."""
    stack = [{"Name": "StackName", "Value": stack_name}]
    data: list[dict[str, Any]] = [
        {
            "MetricName": "PipelineRuns",
            "Dimensions": [*stack, {"Name": "Status", "Value": state.status}],
            "Value": 1.0,
            "Unit": "Count",
        }
    ]
    duration = (
        _seconds_between(state.started_at, state.ended_at) if state.started_at and state.ended_at else None
    )
    if duration is not None:
        data.append(
            {
                "MetricName": "TrainingDurationSeconds",
                "Dimensions": stack,
                "Value": duration,
                "Unit": "Seconds",
            }
        )
    if state.billable_seconds is not None:
        data.append(
            {
                "MetricName": "TrainingBillableSeconds",
                "Dimensions": stack,
                "Value": float(state.billable_seconds),
                "Unit": "Seconds",
            }
        )
    if cost_usd is not None:
        data.append(
            {"MetricName": "TrainingCostUSD", "Dimensions": stack, "Value": float(cost_usd), "Unit": "None"}
        )
    return data


def publish_training_outcome(
    cloudwatch: Any,
    table: Any,
    run_id: str,
    stack_name: str,
    state: TrainingJobState,
    cost_usd: float | None,
    log: Log,
) -> bool:
    """Publish the job's outcome metrics once; False when already published or CloudWatch refused
    (logged: a missing data point never fails the recording of the run)."""
    try:
        update_item(
            table,
            run_id,
            {"metrics_published_job": state.name},
            "training_job_name = :name AND (attribute_not_exists(metrics_published_job)"
            " OR metrics_published_job <> :name)",
            name=state.name,
        )
    except ClientError as error:
        if is_condition_failed(error):
            return False
        raise
    try:
        cloudwatch.put_metric_data(
            Namespace=NAMESPACE, MetricData=training_outcome_metrics(stack_name, state, cost_usd)
        )
    except (ClientError, BotoCoreError) as error:
        log.error("pipeline metrics not published", error=describe_error(error))
        return False
    return True
