"""teardown: always answers CloudFormation (captured by a local HTTP server); Delete cleans up."""

from __future__ import annotations

import json
from typing import Any

import pytest
import teardown
from botocore.exceptions import ClientError
from common import clients, logs, names, sagemaker_resources
from lambda_helpers import (
    ENDPOINT,
    INPUT_BUCKET,
    MODEL_BUCKET,
    STACK,
    TABLE,
    Intercept,
    client_error,
    create_release,
    load_event,
)

OURS = names.resource_name(STACK, "11111111-0000-0000-0000-000000000000")
FOREIGN = names.resource_name(STACK, "22222222-0000-0000-0000-000000000000")


class Context:
    def __init__(self, remaining_ms: int = 600_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def request(http_server, name: str, **properties: Any) -> dict[str, Any]:
    event = load_event(name)
    event["ResponseURL"] = f"{http_server.url}/cloudformation-response?X-Amz-Signature=abc"
    event["ResourceProperties"].update(properties)
    return event


def answer(http_server) -> dict[str, Any]:
    [put] = http_server.requests
    assert put["method"] == "PUT"
    assert put["path"] == "/cloudformation-response?X-Amz-Signature=abc"
    assert put["headers"].get("Content-Type") == ""
    return json.loads(put["body"])


def tagged(stack: str) -> list[dict[str, str]]:
    return [{"Key": sagemaker_resources.STACK_TAG, "Value": stack}]


@pytest.fixture
def deployed(aws):
    """Releases, an endpoint, data and images as a pipeline run leaves them."""
    sagemaker = aws.sagemaker
    for name, stack in ((OURS, STACK), (FOREIGN, "demo-stack-copy")):
        create_release(sagemaker, name, stack)
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=OURS, Tags=tagged(STACK))
    for bucket in (INPUT_BUCKET, MODEL_BUCKET):
        aws.s3.put_object(Bucket=bucket, Key="input/a.csv", Body=b"1")
        aws.s3.put_object(Bucket=bucket, Key="input/a.csv", Body=b"2")
        aws.s3.delete_object(Bucket=bucket, Key="input/a.csv")
        aws.s3.put_object(Bucket=bucket, Key="input/b.csv", Body=b"3")
    ecr = clients.client("ecr")
    ecr.create_repository(repositoryName=STACK)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"digest": "sha256:" + "a" * 64},
            "layers": [],
        }
    )
    ecr.put_image(repositoryName=STACK, imageManifest=manifest, imageTag="3f2a9c1")
    running = [
        {
            "TrainingJobName": name,
            "TrainingJobArn": f"arn:aws:sagemaker:eu-west-1:123456789012:training-job/{name}",
            "CreationTime": "2026-11-28T12:00:00Z",
            "TrainingJobStatus": "InProgress",
        }
        for name in (OURS, FOREIGN)
    ]
    training = {
        "list": Intercept(
            clients.client("sagemaker"), "ListTrainingJobs", lambda _p: {"TrainingJobSummaries": running}
        ),
        "stop": Intercept(clients.client("sagemaker"), "StopTrainingJob", lambda _p: {}),
    }
    # moto keeps no tags for training jobs: answer ListTags for them, let moto answer the rest.
    Intercept(
        clients.client("sagemaker"),
        "ListTags",
        lambda params: (
            {"Tags": tagged(STACK if params["ResourceArn"].endswith(OURS) else "demo-stack-copy")}
            if ":training-job/" in params["ResourceArn"]
            else None
        ),
    )
    return training


def object_count(aws, bucket: str) -> int:
    listing = aws.s3.list_object_versions(Bucket=bucket)
    return len(listing.get("Versions", [])) + len(listing.get("DeleteMarkers", []))


@pytest.mark.parametrize("name", ["cfn_create", "cfn_update"])
def test_create_and_update_make_the_model_registry_and_touch_nothing_else(aws, deployed, http_server, name):
    result = teardown.handler(request(http_server, name, DeleteData="true"), Context())
    assert result == "SUCCESS"
    response = answer(http_server)
    assert response["Status"] == "SUCCESS"
    group = aws.sagemaker.describe_model_package_group(ModelPackageGroupName=names.model_package_group(STACK))
    tags = aws.sagemaker.list_tags(ResourceArn=group["ModelPackageGroupArn"])["Tags"]
    assert {"Key": sagemaker_resources.STACK_TAG, "Value": STACK} in tags
    assert response["PhysicalResourceId"] == "demo-stack-teardown"
    assert response["StackId"].startswith("arn:aws:cloudformation:eu-west-1:123456789012:stack/demo-stack/")
    assert response["RequestId"] == "e2fc8f5c-0801-4a3c-a5a2-6e2b3e3e7a11"
    assert response["LogicalResourceId"] == "Teardown"
    assert deployed["list"].calls == [] and deployed["stop"].calls == []
    assert object_count(aws, INPUT_BUCKET) == 4
    assert aws.sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] == "InService"


def test_delete_removes_this_stacks_resources_and_keeps_data(aws, deployed, http_server):
    assert teardown.handler(request(http_server, "cfn_delete"), Context()) == "SUCCESS"

    assert answer(http_server)["Status"] == "SUCCESS"
    assert [call["TrainingJobName"] for call in deployed["stop"].calls] == [OURS]
    assert aws.sagemaker.list_endpoints()["Endpoints"] == []
    assert [c["EndpointConfigName"] for c in aws.sagemaker.list_endpoint_configs()["EndpointConfigs"]] == [
        FOREIGN
    ]
    assert [m["ModelName"] for m in aws.sagemaker.list_models()["Models"]] == [FOREIGN]
    assert object_count(aws, INPUT_BUCKET) == 4
    assert len(clients.client("ecr").list_images(repositoryName=STACK)["imageIds"]) == 1


def test_delete_with_delete_data_purges_buckets_images_table_and_key(aws, deployed, http_server):
    kms = clients.client("kms")
    key_arn = kms.create_key(Description="stack key")["KeyMetadata"]["Arn"]
    dynamodb = clients.client("dynamodb")
    dynamodb.update_table(TableName=TABLE, DeletionProtectionEnabled=True)
    event = request(http_server, "cfn_delete", DeleteData="true", MetaDataTable=TABLE, KmsKeyArn=key_arn)

    assert teardown.handler(event, Context()) == "SUCCESS"

    assert answer(http_server)["Status"] == "SUCCESS"
    buckets = {b["Name"] for b in aws.s3.list_buckets()["Buckets"]}
    assert not buckets & {INPUT_BUCKET, MODEL_BUCKET}
    assert clients.client("ecr").describe_repositories()["repositories"] == []
    assert TABLE not in dynamodb.list_tables()["TableNames"]
    assert kms.describe_key(KeyId=key_arn)["KeyMetadata"]["KeyState"] == "PendingDeletion"


def test_purge_of_already_removed_data_succeeds(aws, http_server):
    event = request(
        http_server,
        "cfn_delete",
        DeleteData="true",
        Buckets=["gone-bucket"],
        EcrRepository="gone-repository",
        MetaDataTable="gone-table",
    )
    assert teardown.handler(event, Context()) == "SUCCESS"
    assert answer(http_server)["Status"] == "SUCCESS"


def test_endpoint_of_another_stack_is_left_alone(aws, http_server):
    create_release(aws.sagemaker, FOREIGN, stack=None)
    aws.sagemaker.create_endpoint(
        EndpointName=ENDPOINT, EndpointConfigName=FOREIGN, Tags=tagged("someone-else")
    )
    assert teardown.handler(request(http_server, "cfn_delete"), Context()) == "SUCCESS"
    assert [e["EndpointName"] for e in aws.sagemaker.list_endpoints()["Endpoints"]] == [ENDPOINT]


def test_delete_of_already_removed_resources_succeeds(aws, http_server):
    event = request(
        http_server, "cfn_delete", DeleteData="true", Buckets=["gone-bucket"], EcrRepository="gone"
    )
    assert teardown.handler(event, Context()) == "SUCCESS"
    assert answer(http_server)["Status"] == "SUCCESS"


def test_access_denied_answers_failed_with_the_missing_permission(aws, deployed, http_server):
    Intercept(
        clients.client("sagemaker"),
        "DeleteEndpoint",
        client_error(
            "AccessDeniedException",
            "User: arn:aws:sts::123456789012:assumed-role/teardown/fn is not authorized to perform: "
            "sagemaker:DeleteEndpoint on resource: arn:aws:sagemaker:eu-west-1:123456789012:endpoint/x",
        ),
    )
    assert teardown.handler(request(http_server, "cfn_delete"), Context()) == "FAILED"
    response = answer(http_server)
    assert response["Status"] == "FAILED"
    assert "sagemaker:DeleteEndpoint" in response["Reason"]
    assert response["PhysicalResourceId"] == "demo-stack-teardown"


def test_running_out_of_time_answers_failed_instead_of_hanging(aws, deployed, http_server):
    event = request(http_server, "cfn_delete", DeleteData="true")
    assert teardown.handler(event, Context(remaining_ms=5_000)) == "FAILED"
    assert "before the function timeout" in answer(http_server)["Reason"]


@pytest.mark.parametrize(
    "broken",
    [
        {"RequestType": "Explode"},
        {"ResourceProperties": None},
        {"ResourceProperties": {"StackName": STACK, "DeleteData": "maybe"}},
        {"ResourceProperties": {"StackName": STACK, "Buckets": "one-bucket"}},
        {"ResourceProperties": {"EndpointName": ENDPOINT}},
    ],
)
def test_malformed_requests_are_answered_failed_with_the_reason(aws, http_server, broken):
    event = request(http_server, "cfn_delete")
    event.update(broken)
    assert teardown.handler(event, Context()) == "FAILED"
    response = answer(http_server)
    assert response["Status"] == "FAILED" and response["Reason"].startswith("bad custom resource request")


def test_event_without_a_response_url_is_logged_and_dropped(aws, http_server):
    event = request(http_server, "cfn_delete")
    del event["ResponseURL"]
    assert teardown.handler(event, Context()) == ""
    assert teardown.handler("not even a mapping", None) == ""
    assert http_server.requests == []


def test_unreachable_response_url_does_not_raise(aws):
    event = load_event("cfn_create")
    event["ResponseURL"] = "http://127.0.0.1:9/nowhere"
    assert teardown.handler(event, Context()) == "SUCCESS"


class TableStates:
    """A DynamoDB stand-in that is UPDATING for a while after each UpdateTable, as DynamoDB is."""

    def __init__(self, protected: bool, updating_for: int = 2) -> None:
        self.protected, self.updating_for, self.calls = protected, 0, []
        self._updating_describes = updating_for

    def describe_table(self, TableName: str) -> dict:
        self.calls.append("DescribeTable")
        status = "UPDATING" if self.updating_for > 0 else "ACTIVE"
        self.updating_for = max(0, self.updating_for - 1)
        return {"Table": {"TableStatus": status, "DeletionProtectionEnabled": self.protected}}

    def update_table(self, TableName: str, DeletionProtectionEnabled: bool) -> dict:
        self.calls.append("UpdateTable")
        self.protected, self.updating_for = DeletionProtectionEnabled, self._updating_describes
        return {}

    def delete_table(self, TableName: str) -> dict:
        self.calls.append("DeleteTable")
        if self.updating_for > 0:
            error = {"Code": "ResourceInUseException", "Message": "Table is being updated"}
            raise ClientError({"Error": error}, "DeleteTable")
        return {}


def test_the_table_is_deleted_once_lifting_its_protection_has_finished():
    dynamodb, slept = TableStates(protected=True), []
    teardown.delete_table(dynamodb, "runs", lambda: 900_000, logs.Log("test"), sleep=slept.append)
    assert dynamodb.calls == ["DescribeTable", "UpdateTable", *["DescribeTable"] * 3, "DeleteTable"]
    assert slept == [teardown.TABLE_POLL_SECONDS] * 2


def test_an_unprotected_table_gets_no_update_before_its_delete():
    dynamodb = TableStates(protected=False, updating_for=0)
    teardown.delete_table(dynamodb, "runs", lambda: 900_000, logs.Log("test"), sleep=lambda _s: None)
    assert dynamodb.calls == ["DescribeTable", "DeleteTable"]


def test_an_existing_model_registry_is_kept_and_a_refused_one_fails_the_create(aws, http_server):
    group = names.model_package_group(STACK)
    aws.sagemaker.create_model_package_group(ModelPackageGroupName=group)
    creates = Intercept(clients.client("sagemaker"), "CreateModelPackageGroup")
    assert teardown.handler(request(http_server, "cfn_update"), Context()) == "SUCCESS"
    assert creates.calls == []  # an update keeps the group and its versions
    http_server.requests.clear()

    creates.respond = client_error(
        "AccessDeniedException", "not authorized to perform CreateModelPackageGroup"
    )
    created = request(http_server, "cfn_create", StackName="demo-stack-2")  # its group does not exist yet
    assert teardown.handler(created, Context()) == "FAILED"
    assert "CreateModelPackageGroup" in answer(http_server)["Reason"]
