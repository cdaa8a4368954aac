"""drift_check: scheduled; compares the endpoint's captured requests with its training data.

Each run (an EventBridge schedule, every DRIFT_CHECK_HOURS hours):
1. DescribeEndpoint: nothing to check unless the endpoint is InService.
2. The baseline, per release: ``drift/baselines/<endpoint config>.json`` in the model bucket,
   computed once from the training data under the input prefix (headerless CSV, label first) and
   stored, so later checks of the same release compare against the same numbers.
3. The captured requests of the last DRIFT_CHECK_HOURS hours, from the data-capture destination
   (``<capture prefix><endpoint>/<variant>/yyyy/mm/dd/hh/*.jsonl``, SageMaker's layout).
4. The report ``drift/reports/<endpoint>/<time>.json``, the metrics FeatureDriftScore,
   DriftViolations and CapturedRequests (namespace SageMakerPipeline, dimension EndpointName; the
   template's alarm watches DriftViolations), and, when a feature drifted, an email naming it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from common import clients, drift
from common.errors import ConfigurationError, describe_error, error_code
from common.logs import Log
from common.notify import publish
from common.sagemaker_resources import describe
from common.settings import env_int, env_text

HANDLER = "drift_check"
METRIC_NAMESPACE = "SageMakerPipeline"
VARIANT_NAME = "AllTraffic"
BASELINE_PREFIX = "drift/baselines/"
REPORT_PREFIX = "drift/reports/"
# Bounds what one check reads, so a check finishes inside the function's timeout.
MAX_TRAINING_BYTES = 64 * 1024 * 1024
MAX_CAPTURE_OBJECTS = 2000


@dataclass(frozen=True)
class DriftSettings:
    stack_name: str
    endpoint_name: str
    model_bucket: str
    training_bucket: str
    training_prefix: str
    capture_bucket: str
    capture_prefix: str
    topic_arn: str
    window_hours: int
    threshold: float

    @classmethod
    def from_environment(cls) -> DriftSettings:
        threshold_text = env_text("DRIFT_THRESHOLD")
        try:
            threshold = float(threshold_text)
        except ValueError:
            raise ConfigurationError(f"DRIFT_THRESHOLD={threshold_text!r} is not a number") from None
        if not threshold > 0:
            raise ConfigurationError(f"DRIFT_THRESHOLD={threshold_text} must be greater than 0")
        return cls(
            stack_name=env_text("STACK_NAME"),
            endpoint_name=env_text("ENDPOINT_NAME"),
            model_bucket=env_text("MODEL_ARTIFACT_BUCKET"),
            training_bucket=env_text("TRAINING_INPUT_BUCKET"),
            training_prefix=env_text("TRAINING_INPUT_PREFIX", required=False),
            capture_bucket=env_text("CAPTURE_BUCKET"),
            capture_prefix=env_text("CAPTURE_PREFIX", required=False),
            topic_arn=env_text("NOTIFICATION_TOPIC_ARN", required=False),
            window_hours=env_int("DRIFT_CHECK_HOURS", minimum=1, maximum=168, default=24),
            threshold=threshold,
        )


@dataclass(frozen=True)
class Services:
    s3: Any
    sagemaker: Any
    cloudwatch: Any

    @classmethod
    def create(cls) -> Services:
        return cls(
            s3=clients.LazyClient("s3"),
            sagemaker=clients.LazyClient("sagemaker"),
            cloudwatch=clients.LazyClient("cloudwatch"),
        )


def _keys(s3: Any, bucket: str, prefix: str, limit: int) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [item["Key"] for item in page.get("Contents", []) if not item["Key"].endswith("/")]
        if len(keys) >= limit:
            return keys[:limit]
    return keys


def _read(s3: Any, bucket: str, key: str) -> str:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")


def load_or_make_baseline(s3: Any, settings: DriftSettings, config_name: str, log: Log) -> dict:
    key = f"{BASELINE_PREFIX}{config_name}.json"
    try:
        return json.loads(_read(s3, settings.model_bucket, key))
    except ClientError as error:
        if error_code(error) not in ("NoSuchKey", "404"):
            raise
    texts, size = [], 0
    for data_key in _keys(s3, settings.training_bucket, settings.training_prefix, MAX_CAPTURE_OBJECTS):
        if data_key.endswith(".csv") and size < MAX_TRAINING_BYTES:
            texts.append(_read(s3, settings.training_bucket, data_key))
            size += len(texts[-1])
    if not texts:
        raise drift.DriftInputError(
            f"no *.csv training data under s3://{settings.training_bucket}/{settings.training_prefix} "
            "to compute the drift baseline from"
        )
    baseline = drift.baseline_from_training_csv(texts)
    s3.put_object(Bucket=settings.model_bucket, Key=key, Body=json.dumps(baseline).encode())
    log.info("drift baseline computed", key=key, rows=baseline["rows"])
    return baseline


def hour_prefixes(settings: DriftSettings, now: dt.datetime) -> list[str]:
    """SageMaker writes captures under yyyy/mm/dd/hh (UTC) of the request: the window's hours."""
    base = f"{settings.capture_prefix}{settings.endpoint_name}/{VARIANT_NAME}/"
    hours = [now - dt.timedelta(hours=offset) for offset in range(settings.window_hours + 1)]
    return [base + hour.strftime("%Y/%m/%d/%H/") for hour in reversed(hours)]


def captured_rows(s3: Any, settings: DriftSettings, now: dt.datetime) -> list[list[float]]:
    rows: list[list[float]] = []
    for prefix in hour_prefixes(settings, now):
        for key in _keys(s3, settings.capture_bucket, prefix, MAX_CAPTURE_OBJECTS):
            rows += drift.captured_rows(_read(s3, settings.capture_bucket, key))
    return rows


def put_metrics(cloudwatch: Any, settings: DriftSettings, report: drift.DriftReport | None) -> None:
    dimensions = [{"Name": "EndpointName", "Value": settings.endpoint_name}]
    data = [{"MetricName": "CapturedRequests", "Value": float(report.rows if report else 0), "Unit": "Count"}]
    if report:
        data += [
            {"MetricName": "FeatureDriftScore", "Value": report.score, "Unit": "None"},
            {"MetricName": "DriftViolations", "Value": float(len(report.violations)), "Unit": "Count"},
        ]
    cloudwatch.put_metric_data(
        Namespace=METRIC_NAMESPACE, MetricData=[{**item, "Dimensions": dimensions} for item in data]
    )


def email_body(settings: DriftSettings, report: drift.DriftReport, report_uri: str) -> str:
    lines = [
        f"Requests to endpoint {settings.endpoint_name} (stack {settings.stack_name}) have drifted from "
        f"the training data: {len(report.violations)} feature(s) moved more than {settings.threshold:g} "
        f"standard deviations, over {report.rows} captured rows of the last {settings.window_hours} h.",
        "",
        *(violation.describe() for violation in report.violations),
        "",
        f"Full report: {report_uri}",
        "If the new inputs are expected, upload training data that covers them under the training "
        "prefix: the data trigger retrains and the next release gets a new baseline.",
    ]
    return "\n".join(lines)


def check(services: Services, settings: DriftSettings, now: dt.datetime, log: Log) -> dict[str, Any]:
    endpoint = describe(services.sagemaker.describe_endpoint, EndpointName=settings.endpoint_name)
    if endpoint is None:
        log.info("no endpoint; no drift check", endpoint=settings.endpoint_name)
        return {"status": "skipped", "reason": "no endpoint"}
    if endpoint["EndpointStatus"] != "InService":
        log.info("endpoint not in service; no drift check", status=endpoint["EndpointStatus"])
        return {"status": "skipped", "reason": f"endpoint {endpoint['EndpointStatus']}"}
    baseline = drift.baseline_features(
        load_or_make_baseline(services.s3, settings, endpoint["EndpointConfigName"], log)
    )
    rows = captured_rows(services.s3, settings, now)
    if not rows:
        put_metrics(services.cloudwatch, settings, None)
        return {"status": "no-data"}
    report = drift.compare(baseline, rows, settings.threshold)
    key = f"{REPORT_PREFIX}{settings.endpoint_name}/{now.strftime('%Y-%m-%dT%H-%M-%SZ')}.json"
    document = {"endpoint": settings.endpoint_name, "endpointConfig": endpoint["EndpointConfigName"]}
    services.s3.put_object(
        Bucket=settings.model_bucket, Key=key, Body=json.dumps({**document, **report.as_json()}).encode()
    )
    put_metrics(services.cloudwatch, settings, report)
    report_uri = f"s3://{settings.model_bucket}/{key}"
    log.info("drift checked", rows=report.rows, score=report.score, violations=len(report.violations))
    if report.violations:
        subject = f"[{settings.stack_name}] Input drift on {settings.endpoint_name}"
        publish(settings.topic_arn, subject, email_body(settings, report, report_uri), log)
    return {"status": "drift" if report.violations else "ok", "score": report.score, "report": report_uri}


def handle(
    event: Any,
    *,
    settings: Callable[[], DriftSettings],
    services: Callable[[], Services],
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> dict[str, Any]:
    log = Log(HANDLER)
    try:
        return check(services(), settings(), now(), log)
    except (ConfigurationError, drift.DriftInputError) as error:
        log.error("drift check cannot run", error=str(error))
        return {"status": "error", "reason": str(error)}
    except (ClientError, BotoCoreError) as error:
        log.error("drift check failed", error=describe_error(error))
        raise  # the schedule's retry policy runs it again; the error is in the function's metrics


def handler(event: Any, context: Any) -> dict[str, Any]:
    return handle(event, settings=DriftSettings.from_environment, services=Services.create)
