"""deploy_endpoint recovering the endpoint (issue 14): a Failed endpoint deleted and created again
(item 7), and an update whose smoke test failed rolled back to the config the endpoint served before
it, recorded on the run item and emailed (item 3)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import deploy_endpoint
import pytest
from botocore.stub import Stubber
from common import clients, names, sagemaker_resources
from common.endpoint_recovery import BY_SAGEMAKER, BY_SMOKE_TEST, ROLLBACK_DEPLOYMENT
from lambda_helpers import (
    ENDPOINT,
    EXECUTION_ID,
    INPUT_BUCKET,
    Intercept,
    client_error,
    create_release,
    deploy_job,
)
from test_deploy_endpoint import OLD_RELEASE, RELEASE, TOKEN, endpoint_state, trained  # noqa: F401 - the fixture, used by name

EARLIER_RELEASE = names.resource_name("demo-stack", "e0000000-0000-0000-0000-000000000000")
NOT_FOUND = client_error("ValidationException", f'Could not find endpoint "{ENDPOINT}".')


def token(**extra: str) -> str:
    fields = {"config": RELEASE, "endpoint": ENDPOINT, "run": EXECUTION_ID, **extra}
    return json.dumps(fields, separators=(",", ":"), sort_keys=True)


class Endpoint:
    """DescribeEndpoint answered from a script of states (the last one repeats)."""

    def __init__(self, *states: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        self.states = list(states)
        self.calls = Intercept(clients.client("sagemaker"), "DescribeEndpoint", self._answer)

    def _answer(self, params: dict[str, Any]) -> dict[str, Any]:
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return state(params)


@pytest.fixture
def sagemaker_calls() -> dict[str, Intercept]:
    sagemaker = clients.client("sagemaker")
    return {
        operation: Intercept(sagemaker, operation, lambda _params: {"EndpointArn": "arn:x"})
        for operation in ("CreateEndpoint", "UpdateEndpoint")
    } | {"DeleteEndpoint": Intercept(sagemaker, "DeleteEndpoint", lambda _params: {})}


@pytest.fixture
def smoke(aws, monkeypatch):
    monkeypatch.setenv("SMOKE_TEST_PAYLOAD_KEY", "smoke/payload.csv")
    aws.s3.put_object(Bucket=INPUT_BUCKET, Key="smoke/payload.csv", Body=b"5.1,3.5,1.4,0.2\n")
    create_release(aws.sagemaker, RELEASE)
    create_release(aws.sagemaker, OLD_RELEASE)


def failing_invoke(runtime: Stubber) -> None:
    runtime.add_client_error("invoke_endpoint", "ModelError", "Received server error (500) from primary", 424)


# ------------------------------------------------------------------------- item 7: Failed endpoint
@pytest.mark.usefixtures("trained")
def test_a_failed_endpoint_is_deleted_then_created_again_with_this_release(aws, results, sagemaker_calls):
    endpoint = Endpoint(
        endpoint_state("Failed", OLD_RELEASE, FailureReason="The primary container did not pass ping")
    )
    deploy_endpoint.handler(deploy_job(), None)

    outcome, params = results.only()
    assert outcome == "success" and params["continuationToken"] == token(phase="recreate")
    assert sagemaker_calls["DeleteEndpoint"].calls == [{"EndpointName": ENDPOINT}]
    assert sagemaker_calls["UpdateEndpoint"].calls == []  # AWS allows only DeleteEndpoint on Failed
    assert sagemaker_calls["CreateEndpoint"].calls == []  # not before the old one is gone
    assert aws.item()["deploy_status"] == "Recreating"

    endpoint.states = [endpoint_state("Deleting", OLD_RELEASE), NOT_FOUND]
    calls = sagemaker_calls
    results.clear()
    deploy_endpoint.handler(deploy_job(continuation=token(phase="recreate")), None)
    assert results.only()[1]["continuationToken"] == token(phase="recreate")  # still Deleting: wait
    assert calls["CreateEndpoint"].calls == []

    results.clear()
    deploy_endpoint.handler(deploy_job(continuation=token(phase="recreate")), None)
    outcome, params = results.only()
    assert outcome == "success" and params["continuationToken"] == TOKEN  # back to the rollout
    [create] = calls["CreateEndpoint"].calls
    assert create["EndpointName"] == ENDPOINT and create["EndpointConfigName"] == RELEASE
    assert {"Key": sagemaker_resources.STACK_TAG, "Value": "demo-stack"} in create["Tags"]
    item = aws.item()
    assert item["deploy_status"] == "Creating" and item["recreated_failed_endpoint"] is True


@pytest.mark.usefixtures("trained")
def test_an_endpoint_that_is_not_gone_after_its_deletion_fails_clearly(aws, results, sagemaker_calls):
    Endpoint(endpoint_state("Failed", OLD_RELEASE))
    deploy_endpoint.handler(deploy_job(continuation=token(phase="recreate")), None)
    outcome, params = results.only()
    assert outcome == "failure" and "is Failed after its deletion" in params["failureDetails"]["message"]
    assert sagemaker_calls["CreateEndpoint"].calls == []
    assert aws.item()["deploy_status"] == "Failed"


# ------------------------------------------------------------------ item 3: rollback after the smoke test
@pytest.mark.usefixtures("trained")
def test_an_update_remembers_the_config_the_endpoint_served(aws, results, sagemaker_calls):
    """'Previous' is what the endpoint serves when this run updates it. Here an earlier run's update
    (EARLIER_RELEASE) was rolled back by SageMaker, so the endpoint still serves OLD_RELEASE: a failed
    smoke test must go back to OLD_RELEASE, never to the release that never served."""
    aws.table.put_item(
        Item={"run_id": "earlier", "endpoint_config_name": EARLIER_RELEASE, "deploy_status": "RolledBack"}
    )
    Endpoint(endpoint_state("InService", OLD_RELEASE, FailureReason=f"Update to {EARLIER_RELEASE} failed"))
    deploy_endpoint.handler(deploy_job(), None)
    outcome, params = results.only()
    assert outcome == "success" and params["continuationToken"] == token(previous=OLD_RELEASE)
    [update] = sagemaker_calls["UpdateEndpoint"].calls
    assert update["EndpointConfigName"] == RELEASE
    assert aws.item()["previous_endpoint_config_name"] == OLD_RELEASE


@pytest.mark.usefixtures("trained")
def test_a_reinvocation_during_the_update_remembers_the_config_still_served(aws, results, sagemaker_calls):
    create_release(aws.sagemaker, RELEASE)
    Endpoint(
        endpoint_state("Updating", OLD_RELEASE, PendingDeploymentSummary={"EndpointConfigName": RELEASE})
    )
    deploy_endpoint.handler(deploy_job(), None)
    assert sagemaker_calls["UpdateEndpoint"].calls == []
    assert results.only()[1]["continuationToken"] == token(previous=OLD_RELEASE)


@pytest.mark.usefixtures("trained")
def test_a_failed_smoke_test_after_an_update_rolls_back_to_the_previous_config(
    aws, results, smoke, sagemaker_calls
):
    endpoint = Endpoint(endpoint_state("InService", RELEASE))
    with Stubber(clients.client("sagemaker-runtime")) as runtime:
        failing_invoke(runtime)
        deploy_endpoint.handler(deploy_job(continuation=token(previous=OLD_RELEASE)), None)

    outcome, params = results.only()
    rolling = json.loads(params["continuationToken"])
    assert outcome == "success" and rolling["phase"] == "rollback" and rolling["previous"] == OLD_RELEASE
    assert "ModelError" in rolling["reason"]
    assert sagemaker_calls["UpdateEndpoint"].calls == [
        {
            "EndpointName": ENDPOINT,
            "EndpointConfigName": OLD_RELEASE,
            "RetainAllVariantProperties": False,
            "DeploymentConfig": ROLLBACK_DEPLOYMENT,
        }
    ]
    item = aws.item()
    assert item["deploy_status"] == "RollingBack" and item["rollback"]["to_config"] == OLD_RELEASE
    assert aws.emails() == []  # not before it is over

    endpoint.states = [endpoint_state("Updating", RELEASE), endpoint_state("InService", OLD_RELEASE)]
    results.clear()
    deploy_endpoint.handler(deploy_job(continuation=params["continuationToken"]), None)
    assert results.only()[1]["continuationToken"] == params["continuationToken"]  # Updating: wait
    results.clear()
    deploy_endpoint.handler(deploy_job(continuation=params["continuationToken"]), None)

    outcome, params = results.only()
    message = params["failureDetails"]["message"]
    assert (
        outcome == "failure" and "Smoke test failed" in message and f"rolled back to {OLD_RELEASE}" in message
    )
    item = aws.item()
    assert item["deploy_status"] == "RolledBack"
    assert item["rollback"] == {
        "endpoint": ENDPOINT,
        "from_config": RELEASE,
        "to_config": OLD_RELEASE,
        "reason": rolling["reason"],
        "by": BY_SMOKE_TEST,
        "status": "RolledBack",
    }
    [(subject, body)] = aws.emails()
    assert subject == f"[demo-stack] Deploy rolled back: {ENDPOINT}"
    assert f"rolled back to {OLD_RELEASE}" in body and f"Rolled back:    {RELEASE}" in body
    assert "ModelError" in body and EXECUTION_ID in body


@pytest.mark.usefixtures("trained")
def test_a_rollback_sagemaker_refuses_is_recorded_and_emailed_as_failed(aws, results, smoke):
    Endpoint(endpoint_state("InService", RELEASE))
    Intercept(
        clients.client("sagemaker"), "UpdateEndpoint", client_error("ValidationException", "Cannot update")
    )
    with Stubber(clients.client("sagemaker-runtime")) as runtime:
        failing_invoke(runtime)
        deploy_endpoint.handler(deploy_job(continuation=token(previous=OLD_RELEASE)), None)
    outcome, params = results.only()
    assert (
        outcome == "failure"
        and f"could not be rolled back to {OLD_RELEASE}" in params["failureDetails"]["message"]
    )
    item = aws.item()
    assert item["deploy_status"] == "RollbackFailed" and "Cannot update" in item["rollback"]["reason"]
    [(subject, body)] = aws.emails()
    assert subject == f"[demo-stack] Deploy rollback FAILED: {ENDPOINT}" and "Cannot update" in body


@pytest.mark.usefixtures("trained")
def test_a_rollback_that_ends_on_another_config_is_a_failed_rollback(aws, results, smoke):
    Endpoint(endpoint_state("Failed", RELEASE, FailureReason="no capacity"))
    reason = "Smoke test failed: ModelError"
    deploy_endpoint.handler(
        deploy_job(continuation=token(phase="rollback", previous=OLD_RELEASE, reason=reason)), None
    )
    outcome, params = results.only()
    assert outcome == "failure" and "could not be rolled back" in params["failureDetails"]["message"]
    assert aws.item()["deploy_status"] == "RollbackFailed"
    assert "the rollback ended Failed: no capacity" in aws.item()["rollback"]["reason"]
    assert len(aws.emails()) == 1


@pytest.mark.usefixtures("trained")
def test_a_failed_smoke_test_on_a_new_endpoint_has_nothing_to_roll_back_to(
    aws, results, smoke, sagemaker_calls
):
    Endpoint(endpoint_state("InService", RELEASE))
    with Stubber(clients.client("sagemaker-runtime")) as runtime:
        failing_invoke(runtime)
        deploy_endpoint.handler(deploy_job(continuation=TOKEN), None)
    outcome, params = results.only()
    assert outcome == "failure" and "Smoke test failed" in params["failureDetails"]["message"]
    assert sagemaker_calls["UpdateEndpoint"].calls == []
    assert aws.item()["deploy_status"] == "Failed" and "rollback" not in aws.item()


@pytest.mark.usefixtures("trained")
def test_an_update_sagemaker_rolled_back_is_recorded_not_rolled_back_again(
    aws, results, smoke, sagemaker_calls
):
    """The update itself rolled back: the endpoint serves the config it served before, which is the
    'previous' recorded; no smoke test runs on it and no second rollback is started."""
    Endpoint(endpoint_state("InService", OLD_RELEASE, FailureReason="Update failed: ping health check"))
    with Stubber(clients.client("sagemaker-runtime")):  # no response queued: no invocation
        deploy_endpoint.handler(deploy_job(continuation=token(previous=OLD_RELEASE)), None)
    outcome, params = results.only()
    assert outcome == "failure" and f"rolled back to {OLD_RELEASE}" in params["failureDetails"]["message"]
    assert sagemaker_calls["UpdateEndpoint"].calls == []
    item = aws.item()
    assert item["deploy_status"] == "RolledBack"
    assert item["rollback"]["by"] == BY_SAGEMAKER and item["rollback"]["to_config"] == OLD_RELEASE
    [(subject, _body)] = aws.emails()
    assert subject == f"[demo-stack] Deploy rolled back: {ENDPOINT}"


@pytest.mark.parametrize(
    "fields",
    [
        {"phase": "rollback"},  # a rollback needs its target
        {"phase": "elsewhere"},
        {"previous": "not a name!"},
        {"extra": "x"},
    ],
)
@pytest.mark.usefixtures("trained")
def test_deploy_tokens_this_function_did_not_write_fail(aws, results, fields):
    deploy_endpoint.handler(deploy_job(continuation=token(**fields)), None)
    outcome, params = results.only()
    assert outcome == "failure" and "continuation token" in params["failureDetails"]["message"]
