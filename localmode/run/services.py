"""The local AWS a session talks to: moto, the SageMaker emulator and the Lambda runner, started here
or attached to those another local-mode process runs, with boto3 clients for them."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from localmode import ROOT
from localmode.aws.emulator import CustomResourceResponse, Emulator
from localmode.aws.iam import service_requests
from localmode.aws.iam.engine import PolicyEngine
from localmode.aws.iam.gate import IamGate
from localmode.aws.iam.requests import Where
from localmode.aws.iam.resource_policies import ResourcePolicies
from localmode.aws.moto_service import MotoProcess, MotoService, MotoThread
from localmode.pipeline.deployer import Clients, Deployer
from localmode.pipeline.lambda_runner import LambdaRunner, route_handler_logs
from localmode.run.settings import ACCOUNT_ID, LOCAL_CREDENTIALS, LocalSettings

LOG = logging.getLogger(__name__)


class LocalServices:
    def __init__(self, settings: LocalSettings) -> None:
        self.settings = settings
        self.moto: MotoService | None = None
        self.emulator: Emulator | None = None
        self.runner: LambdaRunner | None = None
        self.iam_engine: PolicyEngine | None = None
        self.iam_gate: IamGate | None = None
        self.job_events_function = ""  # the TrainingJobStateRule's target, once the stack is deployed
        self.job_events_rule_arn = ""
        self._restore_logs: Callable[[], None] = lambda: None

    def client(self, service: str, endpoint: str | None = None) -> Any:
        assert self.moto is not None
        return boto3.client(
            service,
            endpoint_url=endpoint or self.moto.url,
            region_name=self.settings.region,
            config=Config(retries={"mode": "standard"}),
            **LOCAL_CREDENTIALS,
        )

    def start_services(self) -> None:
        workdir = self.settings.own_dir
        workdir.mkdir(parents=True, exist_ok=True)
        self._restore_logs = route_handler_logs(workdir / "logs" / "lambdas.log")
        if self.settings.moto_in_process:
            self.moto = MotoThread()
        else:
            self.moto = MotoProcess(workdir / "logs" / "moto.log")
        self.emulator = Emulator(
            moto_url=self.moto.url,
            workdir=workdir / "sagemaker",
            region=self.settings.region,
            account_id=ACCOUNT_ID,
            s3_factory=self.s3_for_sagemaker,
            logs_factory=self.logs_for_sagemaker,
            on_event=self._deliver_training_event,
            serve_timeout_seconds=self.settings.serve_timeout_seconds,
        ).start()
        self.runner = self.make_runner(self.emulator.url)

    def s3_for_sagemaker(self, role_arn: str = "") -> Any:
        """An S3 client for the emulator; given the role a job or model runs with, every request is
        authorised as that role, as SageMaker's own requests are."""
        s3 = self.client("s3")
        if role_arn and self.iam_gate is not None:
            return self.iam_gate.bind(s3, role_arn, "SageMaker")
        return s3

    def logs_for_sagemaker(self, role_arn: str = "") -> Any:
        """CloudWatch Logs for the emulator's training logs, written as the job's execution role."""
        logs = self.client("logs")
        if role_arn and self.iam_gate is not None:
            return self.iam_gate.bind(logs, role_arn, "SageMaker")
        return logs

    def make_runner(self, emulator_url: str) -> LambdaRunner:
        assert self.moto is not None
        endpoints = {
            "AWS_ENDPOINT_URL": self.moto.url,
            "AWS_ENDPOINT_URL_SAGEMAKER": emulator_url,
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": emulator_url,
            "AWS_ENDPOINT_URL_CODEPIPELINE": emulator_url,
            "AWS_ENDPOINT_URL_PRICING": emulator_url,  # GetProducts from a sample (localmode/aws/pricing.py)
        }
        return LambdaRunner(
            lambda_client=self.client("lambda"),
            endpoints=endpoints,
            region=self.settings.region,
            gate=self.make_gate(emulator_url),
        )

    def make_gate(self, emulator_url: str) -> IamGate:
        """The IAM gate every handler request goes through, with its policy engine process."""
        if self.iam_engine is None:
            self.iam_engine = PolicyEngine().start()
        sagemaker = self.client("sagemaker", emulator_url)

        def sagemaker_tags(arn: str) -> dict[str, str] | None:
            try:
                tags = sagemaker.list_tags(ResourceArn=arn)["Tags"]
            except ClientError:  # it does not exist: no tags
                return None
            return {tag["Key"]: tag["Value"] for tag in tags}

        self.iam_gate = IamGate(
            self.iam_engine, self.client("iam"), self.where(), sagemaker_tags, ResourcePolicies(self.client)
        )
        return self.iam_gate

    def where(self) -> Where:
        return Where("aws", self.settings.region, ACCOUNT_ID)

    def _deliver_training_event(self, event: dict[str, Any]) -> None:
        """The TrainingJobStateRule's target: the job_events function, as EventBridge invokes it, if the
        function's permissions let the rule invoke it (a denied delivery is dropped, and counted)."""
        if self.runner is None or not self.job_events_function:
            return
        if self.iam_gate is not None:
            function_arn = self.runner.configuration(self.job_events_function)["FunctionArn"]
            request = service_requests.events_invoke_function(
                function_arn, self.job_events_rule_arn, self.where()
            )
            try:
                self.iam_gate.authorise_service(service_requests.EVENTS, [request], "lambda", "Invoke")
            except ClientError as error:
                LOG.error("EventBridge could not deliver the training job event: %s", error)
                return
        self.runner.invoke(self.job_events_function, event)

    def deployer(self, emulator_url: str, runner: LambdaRunner) -> Deployer:
        def response_url(stack_id: str) -> str:
            return f"{emulator_url}/cloudformation_{self.settings.region}/cfnresponse?stack={stack_id}"

        def response(request_id: str) -> CustomResourceResponse | None:
            url = f"{emulator_url}/_localmode/custom-resource-responses/{request_id}"
            try:
                with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - 127.0.0.1
                    return CustomResourceResponse(**json.load(answer))
            except urllib.error.HTTPError:
                return None

        services = [
            "cloudformation",
            "s3",
            "sns",
            "codepipeline",
            "iam",
            "sqs",
            "ecr",
            "dynamodb",
            "codebuild",
            "kms",
        ]
        clients = {name: self.client(name) for name in services}
        return Deployer(
            clients=Clients(**clients, lambda_=self.client("lambda")),
            template_path=ROOT / "template" / "sagemaker-pipeline.yaml",
            region=self.settings.region,
            response_url=response_url,
            invoke_custom_resource=runner.invoke,
            custom_resource_response=response,
        )

    def attach(self, state: dict[str, Any]) -> None:
        """Reach the services another local-mode process runs (for status and delete)."""
        self.settings.stack_name, self.settings.region = state["stack_name"], state["region"]
        self.moto = _RemoteMoto(state["moto_url"])
        self.runner = self.make_runner(state["emulator_url"])
        run_dir = Path(state.get("run_dir") or self.settings.workdir)
        self._restore_logs = route_handler_logs(run_dir / "logs" / "lambdas.log")

    def close(self) -> None:
        if self.iam_engine is not None:
            self.iam_engine.close()
        if self.emulator is not None:
            self.emulator.stop()
        if self.moto is not None:
            self.moto.stop()
        self._restore_logs()


class _RemoteMoto:
    """A moto server another local-mode process owns (status and delete reach it by URL)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def stop(self) -> None:
        return None
