"""A training job's log in CloudWatch Logs, where SageMaker puts it: log group
/aws/sagemaker/TrainingJobs, stream ``<job name>/algo-1-<epoch seconds>`` (one per host), so that
what the handlers read from it in AWS (the tail of a log that missed a declared metric) they read
locally too."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
BATCH = 1000  # PutLogEvents takes at most 10,000 events and 1 MB per call
MESSAGE_CHARS = 8000


def stream_name(job_name: str, started: dt.datetime) -> str:
    return f"{job_name}/algo-1-{int(started.timestamp())}"


def publish_training_log(logs: Any, job_name: str, log_path: Path, started: dt.datetime) -> str:
    """Every line of the job's log as one event of its stream; returns the stream's name."""
    try:
        logs.create_log_group(logGroupName=LOG_GROUP)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceAlreadyExistsException":
            raise
    stream = stream_name(job_name, started)
    logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
    moment = int(time.time() * 1000)
    lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines() if log_path.is_file() else []
    events = [{"timestamp": moment, "message": (line or " ")[:MESSAGE_CHARS]} for line in lines]
    for start in range(0, len(events), BATCH):
        logs.put_log_events(
            logGroupName=LOG_GROUP, logStreamName=stream, logEvents=events[start : start + BATCH]
        )
    return stream
