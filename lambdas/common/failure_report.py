"""What a failure email explains beyond SageMaker's FailureReason: the last lines of the training job's
log stream, and console links to the job, that log stream, the pipeline execution and the run record.

The log is read with logs:GetLogEvents on the job's own stream (found by DescribeLogStreams with the
job name as prefix, in /aws/sagemaker/TrainingJobs only). A log that cannot be read is said so.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from common.errors import describe_error
from common.logs import Log
from common.metric_warnings import LOG_GROUP, last_log_lines

LOG_TAIL_LINES = 20


def log_tail(logs: Any, job_name: str, log: Log) -> dict[str, Any]:
    """The run item's ``log_stream`` and ``log_tail`` (its last 20 lines), or ``log_tail_error``."""
    if logs is None or not job_name:
        return {}
    try:
        stream, lines = last_log_lines(logs, job_name, LOG_TAIL_LINES)
    except (ClientError, BotoCoreError) as error:
        log.warning("training log not read", error=describe_error(error))
        return {"log_tail_error": f"the training log could not be read: {describe_error(error)}"[:500]}
    if not stream:
        return {"log_tail_error": f"no log stream of {job_name} in {LOG_GROUP}"}
    return {"log_stream": stream, "log_tail": lines}


def _console_escape(text: str) -> str:
    """CloudWatch's console fragment escapes '%' as '$25' after URL-encoding."""
    return urllib.parse.quote(text, safe="").replace("%", "$25")


def console_links(
    item: Mapping[str, Any], stack_name: str, table_name: str, region: str, base: str
) -> list[str]:
    """Console links for the run: its training job, its log stream, its pipeline execution, its record."""
    job, run_id = str(item.get("training_job_name", "")), str(item.get("run_id", ""))
    stream = str(item.get("log_stream", ""))
    links = []
    if job:
        links.append(f"  Training job:       {base}/sagemaker/home?region={region}#/jobs/{job}")
        group = _console_escape(LOG_GROUP)
        if stream:
            links.append(
                f"  Log stream:         {base}/cloudwatch/home?region={region}#logsV2:log-groups/log-group/"
                f"{group}/log-events/{_console_escape(stream)}"
            )
        else:
            links.append(
                f"  Logs:               {base}/cloudwatch/home?region={region}#logsV2:log-groups/log-group/"
                f"{group}$3FlogStreamNameFilter$3D{job}"
            )
    if run_id:
        links.append(
            f"  Pipeline execution: {base}/codesuite/codepipeline/pipelines/{stack_name}/executions/"
            f"{run_id}/timeline?region={region}"
        )
    if table_name and run_id:
        links.append(
            f"  Run record:         {base}/dynamodbv2/home?region={region}#edit-item?"
            f"table={table_name}&itemMode=2&pk={run_id}"
        )
    return links


def log_tail_lines(item: Mapping[str, Any]) -> list[str]:
    """The email's log section from the run item ([] when the run carries none)."""
    if item.get("log_tail"):
        lines = list(item["log_tail"])
        return [f"Last {len(lines)} lines of {LOG_GROUP} {item.get('log_stream', '')}:"] + [
            f"  {line}" for line in lines
        ]
    if item.get("log_tail_error"):
        return [f"Training log: {item['log_tail_error']}"]
    return []
