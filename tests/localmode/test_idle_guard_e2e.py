"""The idle-endpoint guard on a real local world (issue 16 item 1): a stack deployed with
IdleEndpointHours=2 trains and serves; a schedule tick three hours later (the guard's clock moved
forward, nothing invoked since) deletes the endpoint as the guard's own role, keeps its model and
config, emails how to bring it back; `redeploy`'s core brings it back serving the same release."""

from __future__ import annotations

import time
from pathlib import Path

from localmode.run.settings import sample_rows
from scripts.redeploy_endpoint import redeploy, stack_endpoint_name
from tests.localmode.conftest import quiet_pipeline


def test_an_idle_endpoint_is_deleted_emailed_and_redeployed_serving(tmp_path: Path, shared_build_cache: Path):
    pipeline = quiet_pipeline(tmp_path, build_cache=shared_build_cache, parameters={"IdleEndpointHours": "2"})
    try:
        pipeline.start_services()
        pipeline.deploy()
        pipeline.seed_data()
        assert pipeline.run_push().status == "Succeeded"
        row = sample_rows(pipeline.settings.data_file)[0]
        answer = pipeline.predict(row)
        sagemaker = pipeline.client("sagemaker", pipeline.emulator.url)
        endpoint = pipeline.outputs["EndpointName"]
        release = sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]

        assert pipeline.run_idle_guard()["action"] != "deleted"  # just served: kept
        verdict = pipeline.run_idle_guard(at=time.time() + 3 * 3600)

        assert verdict["action"] == "deleted", verdict
        assert endpoint not in [item["EndpointName"] for item in sagemaker.list_endpoints()["Endpoints"]]
        assert sagemaker.describe_endpoint_config(EndpointConfigName=release)  # kept, with its model
        [mail] = [mail for mail in pipeline.emails() if "idle" in mail["subject"].lower()]
        assert "redeploy" in mail["message"]

        cloudformation = pipeline.client("cloudformation")
        name = stack_endpoint_name(cloudformation, pipeline.settings.stack_name)
        assert (
            redeploy(sagemaker, pipeline.settings.stack_name, name, say=lambda _: None, poll_seconds=0.2)
            == release
        )
        assert pipeline.predict(row) == answer  # serving the same release again
    finally:
        pipeline.close()
