"""The Train stage records the run's cost and registers its model version when the job ends
(lambdas/common/run_lifecycle.py, called by train_trigger), with moto's SageMaker registry and an
intercepted Price List (moto has none)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import job_events
import pytest
import train_trigger
from common import clients, names, pricing, runs
from lambda_helpers import EXECUTION_ID, MODEL_BUCKET, Intercept, client_error, pipeline_job

from tests.lambdas.test_deploy_endpoint import trained  # noqa: F401 - fixture
from tests.lambdas.test_pricing import price_entry
from tests.lambdas.test_train_trigger import described, training_data  # noqa: F401 - fixture

GROUP = names.model_package_group("demo-stack")


@pytest.fixture
def price_list():
    pricing.reset()
    price = Intercept(
        clients.client("pricing", "eu-central-1"),
        "GetProducts",
        lambda params: {"PriceList": [price_entry("0.128")]},
    )
    yield price
    pricing.reset()


def finish(aws, results, monkeypatch, status="Completed", gate="", manual="false", before_poll=None, **extra):
    lifecycle = {
        "quality_gate": gate,
        "require_manual_approval": manual,
        "endpoint_instance_type": "ml.m5.large",
        "endpoint_instance_count": "2",
        "endpoint_name": "demo-stack-endpoint",
    }
    train_trigger.handler(pipeline_job(**lifecycle), None)
    token = results.only()[1]["continuationToken"]
    results.clear()
    final = described(
        status,
        BillableTimeInSeconds=600,
        TrainingTimeInSeconds=600,
        ModelArtifacts={"S3ModelArtifacts": f"s3://{MODEL_BUCKET}/m.tar.gz"},
        FinalMetricDataList=[{"MetricName": "validation:accuracy", "Value": 0.9}],
        **extra,
    )
    Intercept(clients.client("sagemaker"), "DescribeTrainingJob", lambda _p: final)
    if before_poll:
        before_poll(final)
    train_trigger.handler(pipeline_job(continuation=token, **lifecycle), None)
    return results.only()


def state_change(described_job):
    return {"detail-type": job_events.DETAIL_TYPE, "source": "aws.sagemaker", "detail": described_job}


@pytest.mark.usefixtures("training_data")
@pytest.mark.parametrize("status", ["Completed", "Failed"])
def test_the_outcome_email_waits_for_the_train_stage_and_carries_version_cost_and_endpoint(
    aws, results, monkeypatch, price_list, status
):
    early = []
    # EventBridge brings the job's end to job_events before the Train stage's next poll.
    finish(
        aws,
        results,
        monkeypatch,
        status=status,
        FailureReason="AlgorithmError: bad row",
        before_poll=lambda final: early.append(job_events.handler(state_change(final), None)),
    )
    assert early == [{"outcome": "recorded"}]  # recorded, but the email is left to the Train stage
    [(subject, body)] = aws.emails()
    assert f"Training {status}" in subject
    assert "Training cost:  0.0213 USD at 0.128 USD/hour" in body
    if status == "Completed":
        assert "Model version:  1 (Approved)" in body
        assert "Endpoint:       demo-stack-endpoint (not deployed yet)" in body
        assert (
            "aws sagemaker-runtime invoke-endpoint --region eu-west-1 --endpoint-name demo-stack-endpoint"
            in body
        )
    else:
        assert "Failure reason: AlgorithmError: bad row" in body and "Model version" not in body
    # A late duplicate event sends nothing more.
    final = described(status, FailureReason="AlgorithmError: bad row")
    assert job_events.handler(state_change(final), None) == {"outcome": "duplicate"}
    assert len(aws.emails()) == 1


@pytest.mark.usefixtures("training_data")
def test_job_events_sends_the_email_the_train_stage_could_not(aws, results, monkeypatch, price_list):
    publishes = Intercept(
        clients.client("sns"), "Publish", client_error("InternalError", "SNS down", status=500)
    )
    outcome, _params = finish(aws, results, monkeypatch)
    assert outcome == "success"  # the record never hides the job's result
    assert len(publishes.calls) == 1 and "notified_job" not in aws.item()
    publishes.respond = None

    assert job_events.handler(state_change(described("Completed")), None) == {"outcome": "duplicate+notified"}
    [(_subject, body)] = aws.emails()
    assert "Model version:  1 (Approved)" in body


@pytest.mark.usefixtures("training_data")
def test_job_events_emails_alone_once_the_train_stage_is_past_codepipelines_24_hours(
    aws, results, monkeypatch, price_list
):
    train_trigger.handler(pipeline_job(), None)
    started = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=24, minutes=1)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    runs.update_item(aws.table, EXECUTION_ID, {"codepipeline_job_started_at": started})
    final = described("Completed", FinalMetricDataList=[{"MetricName": "validation:accuracy", "Value": 0.9}])
    assert job_events.handler(state_change(final), None) == {"outcome": "recorded+notified"}
    [(subject, _body)] = aws.emails()
    assert "Training Completed" in subject


@pytest.mark.usefixtures("training_data")
@pytest.mark.parametrize(
    ("gate", "manual", "status"),
    [
        ("validation:accuracy >= 0.8", "false", "Approved"),
        ("validation:accuracy >= 0.8", "true", "PendingManualApproval"),
        ("validation:accuracy >= 0.95", "true", "Rejected"),
    ],
)
def test_a_completed_run_is_costed_and_registered_with_the_status_the_gate_gives(
    aws, results, monkeypatch, price_list, gate, manual, status
):
    outcome, params = finish(aws, results, monkeypatch, gate=gate, manual=manual)
    if status == "Rejected":  # nobody is asked to approve it: the Train stage stops the pipeline
        assert outcome == "failure" and "registered Rejected" in params["failureDetails"]["message"]
    else:
        assert outcome == "success"
    item = aws.item()
    assert item["cost"]["training_usd"] == Decimal("0.0213")  # 600 s x 1 x 0.128 / 3600
    assert item["cost"]["endpoint_usd_per_hour"] == Decimal("0.256")  # 2 x 0.128
    [request] = [call for call in price_list.calls if call["Filters"][2]["Value"] == "Training"]
    assert request["Filters"][0] == {"Type": "TERM_MATCH", "Field": "regionCode", "Value": "eu-west-1"}
    assert item["model_approval_status"] == status and item["model_version"] == 1
    version = aws.sagemaker.describe_model_package(ModelPackageName=item["model_package_arn"])
    assert version["ModelApprovalStatus"] == status
    assert version["ModelPackageGroupName"] == GROUP


@pytest.mark.usefixtures("training_data")
def test_a_failed_run_is_costed_but_registers_nothing(aws, results, monkeypatch, price_list):
    outcome, _params = finish(aws, results, monkeypatch, status="Failed", FailureReason="AlgorithmError: x")
    assert outcome == "failure"
    item = aws.item()
    assert item["cost"]["training_usd"] == Decimal("0.0213")
    assert "model_package_arn" not in item


@pytest.mark.usefixtures("training_data")
def test_a_price_list_the_role_may_not_read_leaves_the_cost_unknown(aws, results, monkeypatch):
    pricing.reset()
    Intercept(
        clients.client("pricing", "eu-central-1"),
        "GetProducts",
        lambda _p: {"Error": {"Code": "AccessDeniedException", "Message": "denied"}},
    )
    outcome, _params = finish(aws, results, monkeypatch)
    assert outcome == "success"
    cost = aws.item()["cost"]
    assert cost["training_usd"] == "unknown" and cost["endpoint_usd_per_hour"] == "unknown"


# ------------------------------------------------------------------ the Deploy stage and the version
@pytest.fixture
def registered(aws):
    """A run item linking a version of the stack's group (in moto's registry)."""
    from common import registry
    from lambda_helpers import EXECUTION_ID, IMAGE_URI

    from tests.lambdas.test_deploy_endpoint import ARTIFACT

    aws.sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)

    def register(status: str) -> str:
        arn = aws.sagemaker.create_model_package(
            ModelPackageGroupName=GROUP,
            ModelApprovalStatus=status,
            InferenceSpecification={
                "Containers": [{"Image": IMAGE_URI, "ModelDataUrl": ARTIFACT}],
                "SupportedContentTypes": registry.CONTENT_TYPES,
                "SupportedResponseMIMETypes": registry.CONTENT_TYPES,
            },
            Tags=[{"Key": "sagemaker-pipeline:stack", "Value": "demo-stack"}],
        )["ModelPackageArn"]
        aws.table.update_item(
            Key={"run_id": EXECUTION_ID},
            UpdateExpression="SET model_package_arn = :arn",
            ExpressionAttributeValues={":arn": arn},
        )
        return arn

    return register


@pytest.mark.usefixtures("trained")
def test_the_deploy_stage_approves_the_runs_pending_version_and_deploys_it(aws, results, registered):
    import deploy_endpoint
    from lambda_helpers import deploy_job

    arn = registered("PendingManualApproval")
    deploy_endpoint.handler(deploy_job(), None)
    assert results.only()[0] == "success"
    assert aws.sagemaker.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] == "Approved"
    assert aws.item()["model_approval_status"] == "Approved"


@pytest.mark.usefixtures("trained")
def test_the_deploy_stage_refuses_a_rejected_version(aws, results, registered):
    import deploy_endpoint
    from lambda_helpers import deploy_job

    registered("Rejected")
    models = Intercept(clients.client("sagemaker"), "CreateModel")
    deploy_endpoint.handler(deploy_job(), None)
    outcome, params = results.only()
    assert outcome == "failure" and "Rejected" in params["failureDetails"]["message"]
    assert aws.item()["deploy_status"] == "GateFailed" and models.calls == []


def test_a_warm_pools_retained_time_is_billed_at_the_training_price():
    from common.run_lifecycle import warm_pool_retained_seconds

    assert (
        warm_pool_retained_seconds({"WarmPoolStatus": {"ResourceRetainedBillableTimeInSeconds": 300}}) == 300
    )
    assert warm_pool_retained_seconds({"WarmPoolStatus": {"Status": "Available"}}) == 0  # not known yet
    assert warm_pool_retained_seconds({}) == 0
    assert pricing.training_cost(pricing.Price(Decimal("0.128"), "ml.m5.large"), 600, 1, 300) == Decimal(
        "0.0320"
    )
