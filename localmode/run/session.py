"""One session on the local services: the real template deployed, pipeline executions played with the
local Source, Build and approval actions, the results read back, the stack deleted."""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import boto3
from botocore.exceptions import ClientError

from localmode.aws.iam import service_requests
from localmode.aws.mailbox import Mailbox
from localmode.pipeline.build import (
    BuiltImage,
    local_container_images,
    remove_container_image,
)
from localmode.pipeline.event_source import SqsEventSource
from localmode.pipeline.player import Execution, PipelinePlayer
from localmode.pipeline.source import SourceRevision
from localmode.pipeline.template import StackContext
from localmode.run.local_actions import LocalActions
from localmode.run.settings import ACCOUNT_ID, LOCAL_CREDENTIALS, LocalSettings


class Progress:
    def __init__(self, write: Callable[[str], None]) -> None:
        self.started = time.monotonic()
        self.write = write

    def __call__(self, stage: str, text: str) -> None:
        self.write(f"[{time.monotonic() - self.started:5.1f}s] {stage:<8} {text}")


def plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def warning_text(warning: Any) -> str:
    """One warning of the run record, for the progress output: text (its lines after the first, such as
    the last lines of a training log, indented under it) or a mapping (message and last_log_lines)."""
    if isinstance(warning, dict):
        message = warning.get("message") or ", ".join(
            f"{key} {value}" for key, value in warning.items() if key != "last_log_lines"
        )
        lines = warning.get("last_log_lines") or []
        lines = lines.splitlines() if isinstance(lines, str) else [str(line) for line in lines]
        text = "\n".join([str(message), *lines])
    else:
        text = str(warning)
    first, *rest = text.splitlines() or [""]
    return first + "".join(f"\n{'':17}| {line}" for line in rest)


class LocalPipeline(LocalActions):
    """One session: the stack deployed on the local services, pipeline runs played, results read back."""

    def __init__(self, settings: LocalSettings, write: Callable[[str], None] = print) -> None:
        super().__init__(settings)
        self.progress = Progress(write)
        self.event_source: SqsEventSource | None = None
        self.context: StackContext | None = None
        self.outputs: dict[str, str] = {}
        self.revision: SourceRevision | None = None
        self.images: dict[str, BuiltImage] = {}
        self.mailbox: Mailbox | None = None
        self.executions: list[Execution] = []

    # -- deploy ----------------------------------------------------------------------------------

    def deploy(self) -> dict[str, str]:
        assert self.emulator is not None and self.runner is not None
        deployer = self.deployer(self.emulator.url, self.runner)
        self.context = deployer.deploy(self.settings.stack_name, self.settings.stack_parameters())
        stack = self.client("cloudformation").describe_stacks(StackName=self.settings.stack_name)["Stacks"][0]
        self.outputs = {item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs", [])}
        self.job_events_function = self.runner.find_function("job_events.handler", self.settings.stack_name)
        self.job_events_rule_arn = self.rule_arn("TrainingJobStateRule")
        self.mailbox = Mailbox(
            self.client("sns"),
            self.client("sqs"),
            self.outputs["NotificationTopic"],
            f"{self.settings.stack_name}-local-mailbox",
        )
        self.progress(
            "Deploy", f"stack {self.settings.stack_name} {stack['StackStatus']} in moto's CloudFormation"
        )
        return self.outputs

    def update_stack(self, parameters: dict[str, str | None]) -> None:
        """Update the deployed stack: the settings' parameters with these overrides (None: back to
        the template's default); later invocations see the functions' new configuration, as
        Lambda's next cold start would."""
        assert self.emulator is not None and self.runner is not None
        merged = {**self.settings.parameters, **parameters}
        self.settings.parameters = {key: value for key, value in merged.items() if value is not None}
        self.context = self.deployer(self.emulator.url, self.runner).update(
            self.settings.stack_name, self.settings.stack_parameters()
        )
        self.runner.forget_configurations()
        self.progress("Deploy", f"stack {self.settings.stack_name} UPDATE_COMPLETE in moto's CloudFormation")

    def seed_data(self) -> str:
        """The training data (every file of --data), uploaded before the first push (its upload events
        are covered by that run), and the request body of the deployment's smoke test."""
        smoke_key = self.settings.smoke_payload_key()
        if smoke_key:
            source, body = self.settings.smoke_payload_source()
            self.upload(smoke_key, body)
            self.progress(
                "Data",
                f"smoke test payload s3://{self.outputs['TrainingInputBucket']}/{smoke_key} from {source}",
            )
        version = ""
        for path, key in self.settings.uploads():
            uploaded = self.upload(key, path.read_bytes())
            version = version or uploaded
            self.progress(
                "Data", f"seeded s3://{self.outputs['TrainingInputBucket']}/{key} (version {uploaded[:8]})"
            )
        self.client("sqs").purge_queue(QueueUrl=self.physical_id("DataUploadQueue"))
        return version

    def physical_id(self, logical: str) -> str:
        assert self.context is not None
        return self.context.physical_ids[logical]

    def rule_arn(self, logical: str) -> str:
        return f"arn:aws:events:{self.settings.region}:{ACCOUNT_ID}:rule/{self.physical_id(logical)}"

    def start_data_trigger(self) -> SqsEventSource:
        """The DataTriggerEventSource mapping: the queue EventBridge fills, polled for the data trigger
        with the function's role, as Lambda polls it."""
        assert self.runner is not None
        function = self.physical_id("DataTriggerFunction")
        mapping = self.client("lambda").list_event_source_mappings(FunctionName=function)
        found = mapping["EventSourceMappings"][0] if mapping["EventSourceMappings"] else {}
        queue_url = self.physical_id("DataUploadQueue")
        sqs = self.client("sqs")
        if self.iam_gate is not None:
            sqs = self.iam_gate.bind(sqs, self.runner.configuration(function)["Role"], function)
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["QueueArn", "KmsMasterKeyId"]
        )
        queue_arn = attributes["Attributes"]["QueueArn"]
        self.event_source = SqsEventSource(
            sqs=sqs,
            queue_url=queue_url,
            queue_arn=queue_arn,
            region=self.settings.region,
            function_name=function,
            invoke=self.runner.invoke,
            batch_size=found.get("BatchSize", 10),
            batching_window_seconds=found.get("MaximumBatchingWindowInSeconds"),
            admit=self._sent_by_eventbridge(queue_arn, attributes["Attributes"].get("KmsMasterKeyId", "")),
        ).start()
        return self.event_source

    def _sent_by_eventbridge(self, queue_arn: str, key_arn: str) -> Callable[[dict[str, Any]], bool]:
        """Whether the queue's policy (and the key policy of its key) let the DataUploadRule send: moto's
        EventBridge delivers without asking, so the question is put when the message is received."""
        gate = self.iam_gate
        if gate is None:
            return lambda message: True
        rule = self.rule_arn("DataUploadRule")
        requests = service_requests.events_send_to_queue(queue_arn, key_arn, rule, self.where())

        def admit(message: dict[str, Any]) -> bool:
            try:
                gate.authorise_service(service_requests.EVENTS, requests, "sqs", "SendMessage")
            except ClientError as error:
                self.progress("Data", f"EventBridge could not deliver the upload event: {error}")
                return False
            return True

        return admit

    # -- pipeline --------------------------------------------------------------------------------

    def player(self) -> PipelinePlayer:
        assert self.emulator is not None and self.runner is not None
        if not hasattr(self, "_player"):
            self._player = PipelinePlayer(
                codepipeline=self.client("codepipeline"),
                jobs=self.emulator.codepipeline,
                invoke=self.runner.invoke,
                account_id=ACCOUNT_ID,
                region=self.settings.region,
                local_actions={
                    "CodeStarSourceConnection": self._source_action,
                    "CodeBuild": self._build_action,
                    "Manual": self._approval_action,
                },
                report=self.progress,
                after_action=self._after_action,
                poll_seconds=self.settings.poll_seconds,
                gate=self.iam_gate,
            )
        return self._player

    def _after_action(self, execution: Execution, stage: str, action: dict[str, Any]) -> None:
        if action["actionTypeId"]["category"] != "Invoke":
            return
        item = self.run_item(execution.execution_id)
        if stage == "Train":
            metrics = ", ".join(f"{name} {value}" for name, value in item.get("final_metrics", {}).items())
            self.progress(
                stage,
                f"job {item.get('training_job_name')}  InProgress -> {item.get('status')}"
                + (f" ({metrics})" if metrics else ""),
            )
            for warning in item.get("warnings") or []:
                self.progress("Warning", warning_text(warning))
        else:
            self.progress(
                stage,
                f"endpoint {item.get('endpoint_name')} {item.get('deploy_status')} "
                f"with config {item.get('endpoint_config_name')}",
            )

    def run_push(self) -> Execution:
        execution_id = self.player().start(self.settings.stack_name)
        self.progress("Trigger", f"push -> execution {execution_id}")
        execution = self.player().play(self.settings.stack_name, execution_id)
        self.executions.append(execution)
        return execution

    def play_pending(self, wait_seconds: float = 0.0) -> list[Execution]:
        """Play every queued execution (QUEUED mode: one at a time, oldest first)."""
        played = []
        deadline = time.monotonic() + wait_seconds
        while True:
            pending = self.player().pending_executions(self.settings.stack_name)
            if pending:
                execution = self.codepipeline_execution(pending[0])
                variables = {v["name"]: v["resolvedValue"] for v in execution.get("variables", [])}
                self.progress(
                    "Trigger",
                    f"{variables.get('TRIGGER', 'push')} -> execution {pending[0]} "
                    f"({variables.get('TRIGGER_DETAIL', '')})",
                )
                played.append(self.player().play(self.settings.stack_name, pending[0]))
                self.executions.append(played[-1])
                continue
            if played or time.monotonic() >= deadline:
                return played
            time.sleep(0.2)

    def codepipeline_execution(self, execution_id: str) -> dict[str, Any]:
        return self.client("codepipeline").get_pipeline_execution(
            pipelineName=self.settings.stack_name, pipelineExecutionId=execution_id
        )["pipelineExecution"]

    def upload(self, key: str, body: bytes) -> str:
        response = self.client("s3").put_object(
            Bucket=self.outputs["TrainingInputBucket"], Key=key, Body=body
        )
        return response.get("VersionId", "")

    # -- reading back ----------------------------------------------------------------------------

    def table(self) -> Any:
        assert self.moto is not None
        resource = boto3.resource(
            "dynamodb", endpoint_url=self.moto.url, region_name=self.settings.region, **LOCAL_CREDENTIALS
        )
        return resource.Table(self.outputs["MetaDataStore"])

    def run_item(self, run_id: str) -> dict[str, Any]:
        return plain(self.table().get_item(Key={"run_id": run_id}, ConsistentRead=True).get("Item", {}))

    def runs(self) -> list[dict[str, Any]]:
        items = [plain(item) for item in self.table().scan()["Items"] if not item["run_id"].startswith("#")]
        return sorted(items, key=lambda item: item.get("started_at", ""))

    def emails(self) -> list[dict[str, str]]:
        assert self.moto is not None
        assert self.mailbox is not None
        return self.mailbox.read()

    def predict(self, body: str | bytes, content_type: str = "text/csv") -> str:
        assert self.emulator is not None
        runtime = self.client("sagemaker-runtime", self.emulator.url)
        response = runtime.invoke_endpoint(
            EndpointName=self.outputs["EndpointName"],
            Body=body if isinstance(body, bytes) else body.encode(),
            ContentType=content_type,
            Accept="text/csv",
        )
        return response["Body"].read().decode()

    def run_drift_check(self) -> dict[str, Any]:
        """A tick of the DriftCheckSchedule (see run_schedule)."""
        return self.run_schedule("DriftCheckFunction", "DriftCheckSchedule")

    def run_idle_guard(self, at: float | None = None) -> dict[str, Any]:
        """A tick of the IdleGuardSchedule at epoch time `at` (default now): a later `at` is the idle
        guard's clock moved forward, the endpoint having served nothing since."""
        return self.run_schedule("IdleGuardFunction", "IdleGuardSchedule", at)

    def run_schedule(
        self, function_logical: str, rule_logical: str, at: float | None = None
    ) -> dict[str, Any]:
        """A tick of a schedule rule: its target function, invoked as EventBridge invokes a scheduled
        rule's target (when the function's policy lets the rule invoke it), with the tick's time."""
        assert self.runner is not None
        function = self.physical_id(function_logical)
        rule_arn = self.rule_arn(rule_logical)
        if self.iam_gate is not None:
            function_arn = self.runner.configuration(function)["FunctionArn"]
            request = service_requests.events_invoke_function(function_arn, rule_arn, self.where())
            self.iam_gate.authorise_service(service_requests.EVENTS, [request], "lambda", "Invoke")
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT_ID,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at)),
            "region": self.settings.region,
            "resources": [rule_arn],
            "detail": {},
        }
        return self.runner.invoke(function, event)

    # -- teardown --------------------------------------------------------------------------------

    def attach(self, state: dict[str, Any]) -> None:
        super().attach(state)
        self.outputs = state["outputs"]

    def delete(self, purge: bool, emulator_url: str | None = None) -> list[str]:
        """The stack's delete through the deployer (the real teardown answers the custom resource)."""
        assert self.runner is not None
        emulator_url = emulator_url or (self.emulator.url if self.emulator else "")
        if self.event_source is not None:
            self.event_source.stop()
            self.event_source = None
        mailbox_name = f"{self.settings.stack_name}-local-mailbox"
        sqs = self.client("sqs")
        for url in sqs.list_queues(QueueNamePrefix=mailbox_name).get("QueueUrls", []):
            sqs.delete_queue(QueueUrl=url)
        done = self.deployer(emulator_url, self.runner).delete(self.settings.stack_name, purge)
        if purge:
            shutil.rmtree(self.settings.build_dir, ignore_errors=True)
            done.append(f"local builds removed ({self.settings.build_dir})")
            for tag in local_container_images(f"{self.settings.stack_name}-local"):
                remove_container_image(tag)
                done.append(f"local image {tag} removed")
        return done

    def close(self) -> None:
        if self.event_source is not None:
            self.event_source.stop()
        super().close()
