"""A stand-in AWS for timing the Lambda handlers' first invocation, all on 127.0.0.1.

moto (server mode, in a thread) serves DynamoDB, S3, SNS and SageMaker, seeded with what a
deployed stack holds; a small HTTP stand-in answers what moto lacks: CodePipeline job results
and starts, and the CloudFormation custom-resource ResponseURL. The stand-in records every
answer it gives, so each handler's outcome can be reported next to its timing.
"""

import json
import logging
import threading
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

from localmode.aws.processes import free_port
from tests import stack_fixture
from tests.stack_fixture import IMAGE_URI, INPUT_BUCKET, MODEL_BUCKET, REGION, ROLE_ARN, STACK, TABLE

JOB_EVENTS_RUN = "2f1b7c3e-5a1d-4c6e-9f0a-1b2c3d4e5f60"  # the training job in tests/events/training_*.json
TRAIN_RUN = "7a0e1d52-3b4c-4d5e-8f60-718293a4b5c6"
DEPLOY_RUN = "9c8b7a65-4d3e-4f21-9a0b-c1d2e3f4a5b6"

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


class _StandIn(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int):
        super().__init__(("127.0.0.1", port), _StandInHandler)
        self.answers: list[dict] = []


class _StandInHandler(BaseHTTPRequestHandler):
    server: _StandIn

    def log_message(self, *_args) -> None:
        pass

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_POST(self) -> None:  # CodePipeline's JSON protocol
        operation = (self.headers.get("X-Amz-Target") or "").rpartition(".")[2]
        request = json.loads(self._body() or b"{}")
        self.server.answers.append({"operation": operation, "request": request})
        answer = {"pipelineExecutionId": str(uuid.uuid4())} if operation == "StartPipelineExecution" else {}
        payload = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_PUT(self) -> None:  # the custom resource's pre-signed ResponseURL
        self.server.answers.append(
            {"operation": "CloudFormationResponse", "request": json.loads(self._body())}
        )
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


class LambdaWorld:
    def __init__(self):
        self.moto_port = free_port()
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self.moto_port, verbose=False)
        self.stand_in = _StandIn(free_port())
        self.topic_arn = ""

    @property
    def stand_in_url(self) -> str:
        return f"http://127.0.0.1:{self.stand_in.server_address[1]}"

    def __enter__(self) -> "LambdaWorld":
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
        self.moto.start()
        # Every moto server in one process shares moto's backends: start each world empty.
        reset = urllib.request.Request(f"http://127.0.0.1:{self.moto_port}/moto-api/reset", method="POST")
        urllib.request.urlopen(reset, timeout=10).close()
        threading.Thread(target=self.stand_in.serve_forever, daemon=True).start()
        self._seed()
        return self

    def __exit__(self, *_exc) -> None:
        self.stand_in.shutdown()
        self.stand_in.server_close()
        self.moto.stop()

    def _client(self, service: str):
        return boto3.client(
            service,
            endpoint_url=f"http://127.0.0.1:{self.moto_port}",
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def _seed(self) -> None:
        stack_fixture.create_run_table(self._client("dynamodb"))
        s3 = self._client("s3")
        stack_fixture.create_buckets(s3)
        s3.put_object(Bucket=INPUT_BUCKET, Key="input/train.csv", Body=b"0,5.1,3.5,1.4,0.2\n")
        artifact_key = f"training-output/{STACK}-{DEPLOY_RUN}/output/model.tar.gz"
        s3.put_object(Bucket=MODEL_BUCKET, Key=artifact_key, Body=b"model")
        self._client("sagemaker").create_training_job(
            TrainingJobName=f"{STACK}-{DEPLOY_RUN}",
            AlgorithmSpecification={"TrainingImage": IMAGE_URI, "TrainingInputMode": "File"},
            RoleArn=ROLE_ARN,
            OutputDataConfig={"S3OutputPath": f"s3://{MODEL_BUCKET}/training-output"},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
            StoppingCondition={"MaxRuntimeInSeconds": 3600},
        )
        self.topic_arn = self._client("sns").create_topic(Name=f"{STACK}-notifications")["TopicArn"]
        table = boto3.resource(
            "dynamodb",
            endpoint_url=f"http://127.0.0.1:{self.moto_port}",
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).Table(TABLE)
        table.put_item(
            Item={
                "run_id": JOB_EVENTS_RUN,
                "status": "InProgress",
                "training_job_name": f"{STACK}-{JOB_EVENTS_RUN}",
                "trigger": "push",
                "image_uri": IMAGE_URI,
                "started_at": "2026-11-28T00:00:00Z",
            }
        )
        table.put_item(
            Item={
                "run_id": DEPLOY_RUN,
                "status": "Completed",
                "training_job_name": f"{STACK}-{DEPLOY_RUN}",
                "trigger": "push",
                "image_uri": IMAGE_URI,
                "model_artifact_uri": f"s3://{MODEL_BUCKET}/{artifact_key}",
                "final_metrics": {"validation:accuracy": "0.96"},
                "started_at": "2026-11-28T00:00:00Z",
                "ended_at": "2026-11-28T00:05:00Z",
            }
        )

    def environment(self) -> dict[str, str]:
        """Every variable of contracts.md, with endpoints pointing here."""
        return {
            **FAKE_CREDENTIALS,
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.moto_port}",
            "AWS_ENDPOINT_URL_CODEPIPELINE": self.stand_in_url,
            **stack_fixture.ENVIRONMENT,
            "NOTIFICATION_TOPIC_ARN": self.topic_arn,
        }

    def event_for(self, module: str, events_dir: Path) -> dict | None:
        """The documented event sample each handler is invoked with, aimed at this world."""

        def load(name: str) -> dict:
            return json.loads((events_dir / f"{name}.json").read_text())

        if module in ("train_trigger", "deploy_endpoint"):
            event = load("codepipeline_job")
            configuration = event["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]
            parameters = json.loads(configuration["UserParameters"])
            if module == "train_trigger":
                parameters["execution_id"] = TRAIN_RUN
            else:
                parameters = {"execution_id": DEPLOY_RUN}
            configuration["UserParameters"] = json.dumps(parameters)
            return event
        if module == "job_events":
            return load("training_completed")
        if module == "data_trigger":
            return load("sqs_s3_object_created")
        if module == "idle_guard":
            return load("scheduled_hourly")
        if module == "teardown":
            event = load("cfn_delete")
            event["ResponseURL"] = f"{self.stand_in_url}/cfn-response"
            return event
        return None

    def take_answers(self) -> list[dict]:
        answers = list(self.stand_in.answers)
        self.stand_in.answers.clear()
        return answers
