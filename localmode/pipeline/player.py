"""Plays a pipeline execution stage by stage from the deployed pipeline definition, the way CodePipeline
does: Source and Build locally, Lambda Invoke actions with real job events and continuation tokens."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from lambdas.common.failure_text import headline
from localmode.aws.codepipeline_jobs import CodePipelineJobs
from localmode.aws.iam import service_requests
from localmode.aws.iam.gate import IamGate
from localmode.aws.iam.requests import AuthRequest, Where

VARIABLE_REFERENCE = re.compile(r"#\{([A-Za-z0-9_]+)\.([A-Za-z0-9_@\-.]+)\}")
# ActionDeclaration configuration: each value at most 1,000 characters (CodePipeline quotas), variables
# resolved: a longer value fails the action.
CONFIGURATION_VALUE_MAX = 1000


class StageFailed(Exception):
    pass


def check_configuration(action: dict[str, Any], resolve: Callable[[str], str]) -> None:
    """Fail the action as CodePipeline does when a configuration value, variables resolved, is too long."""
    for key, value in action.get("configuration", {}).items():
        resolved = resolve(value) if isinstance(value, str) else str(value)
        if len(resolved) > CONFIGURATION_VALUE_MAX:
            raise StageFailed(
                f"{action['name']}: ValidationException: the action configuration value {key} is "
                f"{len(resolved)} characters long after variable resolution; CodePipeline allows at most "
                f"{CONFIGURATION_VALUE_MAX}"
            )


@dataclass
class Execution:
    pipeline_name: str
    execution_id: str
    variables: dict[str, str]
    namespaces: dict[str, dict[str, str]] = field(default_factory=dict)
    role_arn: str = ""  # the pipeline's service role, which CodePipeline acts with
    artifact_bucket: str = ""
    artifacts: dict[str, str] = field(default_factory=dict)  # output artifact name -> its key in the store
    status: str = "InProgress"
    failed_stage: str = ""
    failure: str = ""
    stage_seconds: dict[str, float] = field(default_factory=dict)  # wall time per stage played

    def resolve(self, text: str) -> str:
        """CodePipeline's variable syntax: #{codepipeline.PipelineExecutionId}, #{Namespace.Var}."""

        def replace(match: re.Match[str]) -> str:
            namespace, name = match.groups()
            if namespace == "codepipeline" and name == "PipelineExecutionId":
                return self.execution_id
            if namespace == "variables":
                return self.variables.get(name, "")
            if namespace in self.namespaces and name in self.namespaces[namespace]:
                return self.namespaces[namespace][name]
            raise StageFailed(
                f"variable #{{{namespace}.{name}}} is not defined at this point of the pipeline"
            )

        return VARIABLE_REFERENCE.sub(replace, text)


# A local action: receives the execution and the action definition, returns its output variables.
LocalAction = Callable[[Execution, dict[str, Any]], dict[str, str]]
Reporter = Callable[[str, str], None]


@dataclass
class PipelinePlayer:
    codepipeline: Any  # moto's CodePipeline: definitions and executions
    jobs: CodePipelineJobs  # the emulator's job-result recorder
    invoke: Callable[[str, dict[str, Any]], Any]  # runs a deployed function by name
    account_id: str
    region: str
    local_actions: dict[str, LocalAction]  # by provider: CodeStarSourceConnection, CodeBuild, Manual
    report: Reporter
    after_action: Callable[[Execution, str, dict[str, Any]], None] = lambda execution, stage, action: None
    poll_seconds: float = 0.5
    gate: IamGate | None = None  # authorises what CodePipeline does with the pipeline's role
    played: set[str] = field(default_factory=set)

    def definition(self, pipeline_name: str) -> dict[str, Any]:
        return self.codepipeline.get_pipeline(name=pipeline_name)["pipeline"]

    def start(self, pipeline_name: str, variables: dict[str, str] | None = None) -> str:
        arguments: dict[str, Any] = {"name": pipeline_name}
        if variables:
            arguments["variables"] = [{"name": key, "value": value} for key, value in variables.items()]
        return self.codepipeline.start_pipeline_execution(**arguments)["pipelineExecutionId"]

    def pending_executions(self, pipeline_name: str) -> list[str]:
        """Executions started (by us or by the data trigger) and not yet played, oldest first (QUEUED).

        None once the pipeline is gone: a delete while runs are queued ends the play, not an error."""
        try:
            summaries = self.codepipeline.list_pipeline_executions(pipelineName=pipeline_name)[
                "pipelineExecutionSummaries"
            ]
        except self.codepipeline.exceptions.PipelineNotFoundException:
            return []
        ordered = sorted(summaries, key=lambda item: item["startTime"])
        return [
            item["pipelineExecutionId"] for item in ordered if item["pipelineExecutionId"] not in self.played
        ]

    def play(self, pipeline_name: str, execution_id: str) -> Execution:
        self.played.add(execution_id)
        pipeline = self.definition(pipeline_name)
        described = self.codepipeline.get_pipeline_execution(
            pipelineName=pipeline_name, pipelineExecutionId=execution_id
        )["pipelineExecution"]
        variables = {item["name"]: item.get("defaultValue", "") for item in pipeline.get("variables", [])}
        variables.update({item["name"]: item["resolvedValue"] for item in described.get("variables", [])})
        execution = Execution(
            pipeline_name,
            execution_id,
            variables,
            role_arn=pipeline.get("roleArn", ""),
            artifact_bucket=pipeline.get("artifactStore", {}).get("location", ""),
        )
        for stage in pipeline["stages"]:
            started = time.monotonic()
            try:
                for action in sorted(stage["actions"], key=lambda item: item.get("runOrder", 1)):
                    outputs = self._run_action(execution, stage["name"], action)
                    if action.get("namespace"):
                        execution.namespaces[action["namespace"]] = outputs
                    self.after_action(execution, stage["name"], action)
            except StageFailed as failure:
                execution.stage_seconds[stage["name"]] = time.monotonic() - started
                execution.status, execution.failed_stage, execution.failure = (
                    "Failed",
                    stage["name"],
                    str(failure),
                )
                self.report(stage["name"], f"FAILED: {headline(str(failure)) or 'failed'}")
                return execution
            execution.stage_seconds[stage["name"]] = time.monotonic() - started
        execution.status = "Succeeded"
        return execution

    def _run_action(self, execution: Execution, stage: str, action: dict[str, Any]) -> dict[str, str]:
        type_id = action["actionTypeId"]
        self._authorise(execution, action)
        if type_id["category"] == "Invoke" and type_id["provider"] == "Lambda":
            return self._invoke_lambda(execution, stage, action)
        local = self.local_actions.get(type_id["provider"])
        if local is None:
            raise StageFailed(
                f"action {action['name']}: provider {type_id['provider']} has no local equivalent"
            )
        return local(execution, action)

    def pipeline_requests(self, execution: Execution, action: dict[str, Any]) -> list[AuthRequest]:
        """What CodePipeline asks for, with the pipeline's role, to run this action."""
        where = Where("aws", self.region, self.account_id)
        provider = action["actionTypeId"]["provider"]
        configuration = action.get("configuration", {})
        requests: list[AuthRequest] = []
        if provider == "CodeStarSourceConnection":
            requests.append(service_requests.use_connection(configuration["ConnectionArn"]))
        elif provider == "CodeBuild":
            requests += service_requests.run_build(configuration["ProjectName"], where)
        elif provider == "Manual" and configuration.get("NotificationArn"):
            requests.append(service_requests.send_approval(configuration["NotificationArn"], where))
        elif provider == "Lambda":
            function_arn = (
                f"arn:aws:lambda:{self.region}:{self.account_id}:function:{configuration['FunctionName']}"
            )
            requests.append(service_requests.invoke_function(function_arn, where))
        for artifact in action.get("outputArtifacts", []):
            key = f"{execution.pipeline_name[:20]}/{artifact['name'][:10]}/{uuid.uuid4().hex[:7]}"
            execution.artifacts[artifact["name"]] = key
            requests.append(service_requests.write_artifact(execution.artifact_bucket, key, where))
        return requests

    def _authorise(self, execution: Execution, action: dict[str, Any]) -> None:
        if self.gate is None or not execution.role_arn:
            return
        requests = self.pipeline_requests(execution, action)
        try:
            self.gate.authorise_requests(
                execution.role_arn, execution.execution_id, requests, "codepipeline", action["name"]
            )
        except ClientError as error:
            failure = error.response["Error"]
            raise StageFailed(f"{action['name']}: {failure['Code']}: {failure['Message']}") from error

    def job_event(self, job_id: str, execution: Execution, action: dict[str, Any], token: str | None) -> dict:
        """The event CodePipeline sends a Lambda Invoke action (AWS docs: 'Example JSON event')."""
        configuration = action["configuration"]
        data: dict[str, Any] = {
            "actionConfiguration": {
                "configuration": {
                    "FunctionName": configuration["FunctionName"],
                    "UserParameters": execution.resolve(configuration.get("UserParameters", "")),
                }
            },
            "inputArtifacts": [
                {
                    "name": artifact["name"],
                    "revision": execution.namespaces.get("SourceVariables", {}).get("CommitId"),
                    "location": {
                        "type": "S3",
                        "s3Location": {
                            "bucketName": "local-artifacts",
                            "objectKey": f"{execution.execution_id}/{artifact['name']}",
                        },
                    },
                }
                for artifact in action.get("inputArtifacts", [])
            ],
            "outputArtifacts": [],
            "artifactCredentials": {
                "accessKeyId": "local",
                "secretAccessKey": "local",
                "sessionToken": "local",
                "expirationTime": int((time.time() + 3600) * 1000),
            },
        }
        if token is not None:
            data["continuationToken"] = token
        return {"CodePipeline.job": {"id": job_id, "accountId": self.account_id, "data": data}}

    def _invoke_lambda(self, execution: Execution, stage: str, action: dict[str, Any]) -> dict[str, str]:
        function = action["configuration"]["FunctionName"]
        check_configuration(action, execution.resolve)
        token: str | None = None
        while True:
            job_id = str(uuid.uuid4())
            self.jobs.open(job_id)
            try:
                self.invoke(function, self.job_event(job_id, execution, action, token))
            except Exception as error:
                raise StageFailed(
                    f"{action['name']}: the function raised {type(error).__name__}: {error}"
                ) from error
            result = self.jobs.result(job_id)
            if result is None:
                raise StageFailed(f"{action['name']}: the function returned without reporting a job result")
            if not result.succeeded:
                raise StageFailed(f"{action['name']}: {result.failure_type}: {result.failure_message}")
            if not result.continuation_token:
                return dict(result.output_variables)
            token = result.continuation_token
            time.sleep(self.poll_seconds)
