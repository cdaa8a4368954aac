"""`rollback` (scripts/rollback.py): what it redeploys, and every case where it refuses before touching
the endpoint (a run in progress, a busy endpoint, a version whose image or artifact is gone)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from common import registry

from scripts import rollback
from scripts.rollback import RollbackRefused


def version(number: int, run_id: str = "") -> registry.Version:
    return registry.Version(
        arn=f"arn:aws:sagemaker:eu-west-1:123456789012:model-package/life-models/{number}",
        number=number,
        status="Approved",
        image=f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/life:sha{number}",
        artifact=f"s3://artifacts/run-{number}/model.tar.gz",
        run_id=run_id or f"run-{number}",
    )


VERSIONS = [version(3), version(2), version(1)]


@pytest.mark.parametrize(
    ("serving", "to", "chosen"),
    [
        (VERSIONS[0], "", 2),
        (VERSIONS[1], "", 1),
        (None, "", 3),
        (VERSIONS[0], "1", 1),
        (VERSIONS[0], "run-2", 2),
    ],
)
def test_the_previous_or_the_named_approved_version_is_chosen(serving, to, chosen):
    assert rollback.choose_version(VERSIONS, serving, to).number == chosen


@pytest.mark.parametrize(
    ("versions", "serving", "to", "message"),
    [
        ([], None, "", "no approved version"),
        (VERSIONS, VERSIONS[2], "", "oldest approved version"),
        (VERSIONS, VERSIONS[0], "9", "no approved version has that number or run id"),
    ],
)
def test_no_version_to_go_back_to_is_refused(versions, serving, to, message):
    with pytest.raises(RollbackRefused, match=message):
        rollback.choose_version(versions, serving, to)


def error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "Call")


class Fake:
    """A client whose named calls return answers or raise errors, and which records every call."""

    def __init__(self, **answers: Any) -> None:
        self.answers = answers
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        def call(**_params: Any) -> Any:
            self.calls.append(name)
            answer = self.answers[name]
            if isinstance(answer, Exception):
                raise answer
            return answer

        return call


def world(
    busy: list[str] | None = None, endpoint_status: str = "InService", **clients: Any
) -> rollback.World:
    settings = rollback.settings_from_function(
        {
            "STACK_NAME": "life",
            "METADATA_TABLE": "runs",
            "SAGEMAKER_ROLE_ARN": "arn:aws:iam::123456789012:role/x",
            "ENDPOINT_NAME": "life-endpoint",
            "ENDPOINT_INSTANCE_TYPE": "ml.m5.large",
            "ENDPOINT_INSTANCE_COUNT": 1,
        }
    )
    sagemaker = Fake(describe_endpoint={"EndpointStatus": endpoint_status, "EndpointConfigName": "c"})
    return rollback.World(
        sagemaker=sagemaker,
        table=None,
        s3=clients.get("s3", Fake(head_object={})),
        ecr=clients.get("ecr", Fake(describe_images={"imageDetails": [{}]})),
        sns=None,
        pricing=None,
        region="eu-west-1",
        settings=settings,
        pipeline_busy=lambda: busy or [],
    )


def test_a_run_in_progress_is_waited_for_never_raced():
    refused = world(busy=["exec-1 (deploying)"])
    with pytest.raises(RollbackRefused, match=r"exec-1 \(deploying\) is in progress"):
        rollback.rollback(refused, "", print, rollback.Log("test"))
    assert refused.sagemaker.calls == []  # the endpoint was not even looked at


@pytest.mark.parametrize("status", ["Updating", "Creating", "RollingBack", "Failed"])
def test_an_endpoint_that_is_not_in_service_is_refused(status):
    busy = world(endpoint_status=status)
    with pytest.raises(RollbackRefused, match=f"is {status}"):
        rollback.rollback(busy, "", print, rollback.Log("test"))
    assert busy.sagemaker.calls == ["describe_endpoint"]


def test_a_version_whose_artifact_is_gone_is_refused():
    gone = world(s3=Fake(head_object=error("404")))
    with pytest.raises(RollbackRefused, match=r"model artifact s3://artifacts/run-2/model\.tar\.gz is gone"):
        rollback.check_release_exists(gone, version(2))


@pytest.mark.parametrize("answer", [error("ImageNotFoundException"), {"imageDetails": []}])
def test_a_version_whose_image_is_gone_is_refused(answer):
    gone = world(ecr=Fake(describe_images=answer))
    with pytest.raises(RollbackRefused, match=r"image .*life:sha2 is gone"):
        rollback.check_release_exists(gone, version(2))
    assert gone.ecr.calls == ["describe_images"]


def test_the_launch_script_takes_to_only_with_rollback(launch):
    result = launch("status", "--to", "3")
    assert result.returncode == 2 and "--to only goes with rollback" in result.stderr
    assert "rollback [--to VERSION|RUN_ID]" in launch("--help").stdout
