"""Fixtures for the Lambda handler tests: moto-backed AWS with the stack's resources and environment."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from common import clients
from lambda_helpers import (
    ENVIRONMENT,
    EXECUTION_ID,
    REGION,
    TABLE,
    CapturingServer,
    Intercept,
    PipelineResults,
)
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends

from tests.stack_fixture import create_buckets, create_run_table


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    return ENVIRONMENT


@pytest.fixture
def aws(lambda_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[SimpleNamespace]:
    """moto with the stack's table, buckets and topic.

    Building boto3 clients dominates test time, so the handlers' cached clients are kept across
    tests (moto intercepts every client while a mock is active and starts each one empty) and the
    fixture uses them too; interceptors are detached after each test.
    """
    with mock_aws():
        table = clients.table(TABLE)
        dynamodb = table.meta.client
        create_run_table(dynamodb)
        s3 = clients.client("s3")
        create_buckets(s3)
        topic_arn = clients.client("sns").create_topic(Name="demo-stack-notifications")["TopicArn"]
        monkeypatch.setenv("NOTIFICATION_TOPIC_ARN", topic_arn)
        yield SimpleNamespace(
            s3=s3,
            sagemaker=clients.client("sagemaker"),
            table=table,
            topic_arn=topic_arn,
            emails=lambda: [
                (subject, message)
                for _id, message, subject, _attributes, _group in sns_backends[DEFAULT_ACCOUNT_ID][REGION]
                .topics[topic_arn]
                .sent_notifications
            ],
            item=lambda run_id=EXECUTION_ID: table.get_item(Key={"run_id": run_id}).get("Item"),
        )
    Intercept.remove_all()


@pytest.fixture
def fresh_clients(lambda_env: dict[str, str]) -> Iterator[None]:
    """Clients built for this test only (it changes endpoints or registers interceptors)."""
    clients.reset_clients()
    yield
    Intercept.remove_all()
    clients.reset_clients()


@pytest.fixture
def results(aws: SimpleNamespace) -> PipelineResults:
    return PipelineResults()


@pytest.fixture
def http_server() -> Iterator[CapturingServer]:
    with CapturingServer() as server:
        yield server
