"""Teardown proof: deleting the local stack runs the real teardown handler as the custom resource's
answer; --purge (DeleteData=true) leaves nothing behind, a plain delete keeps the data."""

from __future__ import annotations

import threading

import pytest

from tests.localmode.conftest import wait_for
from tests.localmode.test_faults import make_pipeline  # noqa: F401 - the fixture

pytestmark = pytest.mark.e2e


def stack_exists(pipeline) -> bool:
    cloudformation = pipeline.client("cloudformation")
    try:
        stacks = cloudformation.describe_stacks(StackName=pipeline.settings.stack_name)["Stacks"]
    except cloudformation.exceptions.ClientError:
        return False
    return any(stack["StackStatus"] != "DELETE_COMPLETE" for stack in stacks)


def sagemaker_leftovers(pipeline) -> dict[str, list[str]]:
    backend = pipeline.emulator.sagemaker
    return {
        "endpoints": list(backend.endpoints),
        "endpoint configs": list(backend.endpoint_configs),
        "models": list(backend.models),
        "jobs in progress": [
            name
            for name, job in backend.training_jobs.items()
            if job["TrainingJobStatus"] in ("InProgress", "Stopping")
        ],
    }


def bucket_objects(pipeline, bucket: str) -> list[str] | None:
    s3 = pipeline.client("s3")
    try:
        versions = s3.list_object_versions(Bucket=bucket)
    except s3.exceptions.ClientError:
        return None  # the bucket is gone
    return [item["Key"] for item in versions.get("Versions", []) + versions.get("DeleteMarkers", [])]


def test_delete_keeps_data_buckets_and_their_objects(make_pipeline):  # noqa: F811
    pipeline = make_pipeline("1\n")
    assert pipeline.run_push().status == "Succeeded"

    pipeline.delete(purge=False)

    assert not stack_exists(pipeline)
    assert sagemaker_leftovers(pipeline) == {
        "endpoints": [],
        "endpoint configs": [],
        "models": [],
        "jobs in progress": [],
    }
    assert pipeline.settings.data_key in bucket_objects(pipeline, pipeline.outputs["TrainingInputBucket"])
    assert any(
        key.endswith("model.tar.gz")
        for key in bucket_objects(pipeline, pipeline.outputs["ModelArtifactBucket"])
    )


def test_delete_purge_leaves_nothing_behind(make_pipeline):  # noqa: F811
    pipeline = make_pipeline("1\n", own_build_cache=True)
    assert pipeline.run_push().status == "Succeeded"
    pipeline.upload(pipeline.settings.data_key, b"sleep\n")
    player = threading.Thread(target=lambda: pipeline.play_pending(wait_seconds=30), daemon=True)
    player.start()
    backend = pipeline.emulator.sagemaker
    wait_for(lambda: backend._training_processes, timeout=60, message="the second run to train")

    pipeline.delete(purge=True)
    player.join(timeout=60)

    assert not stack_exists(pipeline)
    assert sagemaker_leftovers(pipeline)["endpoints"] == []
    assert sagemaker_leftovers(pipeline)["endpoint configs"] == []
    assert sagemaker_leftovers(pipeline)["models"] == []
    assert sagemaker_leftovers(pipeline)["jobs in progress"] == []
    assert any(job["TrainingJobStatus"] == "Stopped" for job in backend.training_jobs.values())
    for output in ("TrainingInputBucket", "ModelArtifactBucket"):
        assert not bucket_objects(pipeline, pipeline.outputs[output])
    ecr = pipeline.client("ecr")
    repository = pipeline.outputs["EcrRepositoryUri"].split("/", 1)[1]
    with pytest.raises(ecr.exceptions.RepositoryNotFoundException):
        ecr.list_images(repositoryName=repository)
    assert not pipeline.settings.build_dir.exists()
    teardown = [counts for role, counts in pipeline.iam_gate.counts.items() if "TeardownRole" in role]
    assert teardown and teardown[0]["allowed"] > 0 and pipeline.iam_gate.denials == []


def test_a_failed_first_create_leaves_nothing_that_blocks_the_next(tmp_path, monkeypatch):
    """RetainExceptOnCreate: a failed create deletes the data resources CloudFormation made for it
    (moto does not roll back; the local deployer does it as CloudFormation would)."""
    from localmode.pipeline.deployer import Deployer, DeployError
    from localmode.pipeline.template import load_template
    from tests.localmode.conftest import quiet_pipeline

    pipeline = quiet_pipeline(tmp_path)
    answer = Deployer._answer

    def refuse_create(self, context, logical, resource, request_type, overrides=None):
        if request_type == "Create":
            raise DeployError(f"{logical} (Custom::Teardown) Create failed: injected")
        return answer(self, context, logical, resource, request_type, overrides)

    try:
        pipeline.start_services()
        monkeypatch.setattr(Deployer, "_answer", refuse_create)
        with pytest.raises(DeployError, match="rolled back as CloudFormation does") as failed:
            pipeline.deploy()
        assert not stack_exists(pipeline)
        template = load_template(pipeline.deployer(pipeline.emulator.url, pipeline.runner).template_path)
        policies = {spec.get("DeletionPolicy") for spec in template["Resources"].values()}
        assert "Retain" not in policies  # nothing of a failed create may stay
        s3 = pipeline.client("s3")
        buckets = {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]}
        assert not any(pipeline.settings.stack_name.lower() in name for name in buckets), buckets
        assert "table" in str(failed.value) and "repository" in str(failed.value)

        monkeypatch.setattr(Deployer, "_answer", answer)
        pipeline.deploy()  # the same names again
        assert stack_exists(pipeline)
    finally:
        pipeline.close()
