"""The pipeline player with stand-in handlers: job events, continuation tokens, variables, failures."""

from __future__ import annotations

import json
from typing import Any

import pytest

from localmode.aws.codepipeline_jobs import CodePipelineJobs
from localmode.pipeline.player import Execution, PipelinePlayer, StageFailed

DEFINITION = {
    "name": "p",
    "variables": [{"name": "TRIGGER", "defaultValue": "push"}],
    "stages": [
        {
            "name": "Source",
            "actions": [
                {
                    "name": "Source",
                    "namespace": "SourceVariables",
                    "actionTypeId": {
                        "category": "Source",
                        "owner": "AWS",
                        "provider": "CodeStarSourceConnection",
                    },
                }
            ],
        },
        {
            "name": "Train",
            "actions": [
                {
                    "name": "TrainModel",
                    "actionTypeId": {"category": "Invoke", "owner": "AWS", "provider": "Lambda"},
                    "configuration": {
                        "FunctionName": "train-fn",
                        "UserParameters": '{"id": "#{codepipeline.PipelineExecutionId}", '
                        '"sha": "#{SourceVariables.CommitId}", "trigger": "#{variables.TRIGGER}"}',
                    },
                }
            ],
        },
    ],
}


class FakeCodePipeline:
    def get_pipeline(self, name: str) -> dict[str, Any]:
        return {"pipeline": DEFINITION}

    def get_pipeline_execution(self, pipelineName: str, pipelineExecutionId: str) -> dict[str, Any]:
        return {"pipelineExecution": {"variables": [{"name": "TRIGGER", "resolvedValue": "data"}]}}


def make_player(handler) -> tuple[PipelinePlayer, list[dict[str, Any]]]:
    jobs = CodePipelineJobs()
    events: list[dict[str, Any]] = []

    def invoke(function: str, event: dict[str, Any]) -> None:
        events.append(event)
        handler(jobs, event)

    player = PipelinePlayer(
        codepipeline=FakeCodePipeline(),
        jobs=jobs,
        invoke=invoke,
        account_id="123456789012",
        region="eu-west-1",
        local_actions={"CodeStarSourceConnection": lambda execution, action: {"CommitId": "abc123"}},
        report=lambda stage, text: None,
        poll_seconds=0,
    )
    return player, events


def test_continuation_tokens_are_followed_until_the_action_ends():
    def handler(jobs: CodePipelineJobs, event: dict[str, Any]) -> None:
        job = event["CodePipeline.job"]
        polls = int(job["data"].get("continuationToken", "0"))
        token = str(polls + 1) if polls < 2 else None
        jobs.handle(
            "PutJobSuccessResult", {"jobId": job["id"], **({"continuationToken": token} if token else {})}
        )

    player, events = make_player(handler)
    execution = player.play("p", "11111111-1111-4111-8111-111111111111")

    assert execution.status == "Succeeded"
    assert [event["CodePipeline.job"]["data"].get("continuationToken") for event in events] == [
        None,
        "1",
        "2",
    ]
    assert len({event["CodePipeline.job"]["id"] for event in events}) == 3  # a new job per invocation
    parameters = json.loads(
        events[0]["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]["UserParameters"]
    )
    assert parameters == {"id": "11111111-1111-4111-8111-111111111111", "sha": "abc123", "trigger": "data"}
    assert set(events[0]["CodePipeline.job"]["data"]["artifactCredentials"]) >= {
        "accessKeyId",
        "secretAccessKey",
    }


def test_a_failure_result_fails_the_stage_and_the_execution():
    def handler(jobs: CodePipelineJobs, event: dict[str, Any]) -> None:
        job_id = event["CodePipeline.job"]["id"]
        jobs.handle(
            "PutJobFailureResult", {"jobId": job_id, "failureDetails": {"type": "JobFailed", "message": "no"}}
        )

    execution = make_player(handler)[0].play("p", "11111111-1111-4111-8111-111111111111")

    assert (execution.status, execution.failed_stage) == ("Failed", "Train")
    assert execution.failure == "TrainModel: JobFailed: no"


def test_a_handler_that_reports_nothing_fails_the_stage():
    execution = make_player(lambda jobs, event: None)[0].play("p", "11111111-1111-4111-8111-111111111111")
    assert "without reporting a job result" in execution.failure


def test_undefined_variables_are_refused():
    execution = Execution("p", "id", {})
    with pytest.raises(StageFailed, match=r"BuildVariables\.IMAGE_URI"):
        execution.resolve("#{BuildVariables.IMAGE_URI}")
