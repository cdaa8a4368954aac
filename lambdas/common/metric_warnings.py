"""Metrics a run declared in MetricDefinitions that its training log never printed.

SageMaker captures a metric only when its regex matches a line of the training log; one that never
matches is simply absent from FinalMetricDataList, and the run would pass in silence (a quality gate
on it then fails with "not reported", without saying why). Each such metric becomes a warning on
the run item and in the outcome email, naming its regex and quoting the last lines of the log.

The log is the job's CloudWatch Logs stream ``<job name>/algo-1-<epoch>`` in
``/aws/sagemaker/TrainingJobs``: DescribeLogStreams finds it by prefix and GetLogEvents reads its
last lines (from the tail, so a long log costs one page). Both are granted only on that log group.
A log that cannot be read still gives the warning, saying so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from common.errors import describe_error, error_code
from common.logs import Log

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
LAST_LINES = 10
LINE_CHARS = 300
MAX_WARNINGS = 10  # MetricDefinitions allows 40; the item and the email stay small


def declared(definitions: Any) -> list[tuple[str, str]]:
    """(Name, Regex) of each well-formed MetricDefinitions entry (a description's or the run item's)."""
    found = []
    for entry in definitions if isinstance(definitions, list | tuple) else []:
        if (
            isinstance(entry, Mapping)
            and isinstance(entry.get("Name"), str)
            and isinstance(entry.get("Regex"), str)
        ):
            found.append((entry["Name"], entry["Regex"]))
    return found


def last_log_lines(logs: Any, job_name: str, count: int = LAST_LINES) -> tuple[str, list[str]]:
    """(stream name, its last ``count`` lines) of the job's first host; ('', []) when it has no log."""
    try:
        streams = logs.describe_log_streams(
            logGroupName=LOG_GROUP, logStreamNamePrefix=f"{job_name}/", limit=50
        ).get("logStreams", [])
    except ClientError as error:
        if error_code(error) != "ResourceNotFoundException":  # no training job has logged yet
            raise
        streams = []
    if not streams:
        return "", []
    stream = sorted(item["logStreamName"] for item in streams)[0]  # algo-1 first
    events = logs.get_log_events(
        logGroupName=LOG_GROUP, logStreamName=stream, limit=count, startFromHead=False
    ).get("events", [])
    return stream, [str(event.get("message", "")).rstrip("\n")[:LINE_CHARS] for event in events][-count:]


def metric_warnings(
    job_name: str, definitions: Iterable[tuple[str, str]], captured: Iterable[str], logs: Any, log: Log
) -> list[str]:
    """One warning per declared metric the job did not capture; [] when every one was."""
    names = set(captured)
    missing = [(name, regex) for name, regex in definitions if name not in names]
    if not missing:
        return []
    if logs is None:
        tail = "(the training log was not read)"
    else:
        try:
            stream, lines = last_log_lines(logs, job_name)
            tail = (
                f"Last {len(lines)} lines of {LOG_GROUP} {stream}:\n"
                + "\n".join(f"  {line}" for line in lines)
                if lines
                else f"(no log stream of {job_name} in {LOG_GROUP})"
                if not stream
                else f"(the log stream {stream} is empty)"
            )
        except (ClientError, BotoCoreError) as error:
            log.warning("training log not read", error=describe_error(error))
            tail = f"(the training log could not be read: {describe_error(error)})"
    warnings = [
        f"Metric {name!r} is declared in MetricDefinitions (regex {regex!r}) but the training log never "
        f"printed a line it matches, so no value was captured. {tail}"
        for name, regex in missing[:MAX_WARNINGS]
    ]
    if len(missing) > MAX_WARNINGS:
        others = ", ".join(name for name, _regex in missing[MAX_WARNINGS:])
        warnings.append(
            f"{len(missing) - MAX_WARNINGS} more declared metrics were not captured either: {others}"
        )
    log.warning("declared metrics not captured", metrics=[name for name, _regex in missing])
    return warnings
