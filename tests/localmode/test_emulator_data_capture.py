"""Endpoint data capture in the emulator: DataCaptureConfig's rules, and capture files in AWS's layout."""

from __future__ import annotations

import datetime as dt
import json
import sys

import pytest
from botocore.exceptions import ClientError

from localmode import ROOT
from localmode.aws.sagemaker.data_capture import Sampler, capture_key, capture_record
from tests.localmode.conftest import make_client
from tests.localmode.test_emulator_endpoints import trained_model, wait_settled

sys.path.insert(0, str(ROOT / "lambdas"))
from common.drift import captured_rows

WHEN = dt.datetime(2026, 12, 1, 14, 5, 6, 789000, tzinfo=dt.UTC)


def capture_config(bucket: str, **overrides) -> dict:
    return {
        "EnableCapture": True,
        "InitialSamplingPercentage": 100,
        "DestinationS3Uri": f"s3://{bucket}/data-capture/",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]},
        **overrides,
    }


def test_the_sampler_takes_the_share_asked_for_spread_evenly():
    assert [Sampler(100).take() for _ in range(3)] == [True, True, True]
    quarter = Sampler(25)
    assert [quarter.take() for _ in range(8)] == [False, False, False, True] * 2
    assert not any(Sampler(0).take() for _ in range(50))


def test_capture_records_and_keys_follow_sagemakers_format():
    config = capture_config("b", CaptureOptions=[{"CaptureMode": "Input"}])
    record = json.loads(capture_record(config, (b"1,2", "text/csv"), (b"0", "text/csv"), WHEN))
    assert record["captureData"] == {
        "endpointInput": {
            "observedContentType": "text/csv",
            "mode": "INPUT",
            "data": "1,2",
            "encoding": "CSV",
        }
    }
    assert record["eventMetadata"]["inferenceTime"] == "2026-12-01T14:05:06.789Z"
    binary = json.loads(
        capture_record(capture_config("b"), (b"\x93NUMPY", "application/x-npy"), (b"", ""), WHEN)
    )
    assert binary["captureData"]["endpointInput"]["encoding"] == "BASE64"
    assert capture_key("data-capture/", "ep", "AllTraffic", WHEN).startswith(
        "data-capture/ep/AllTraffic/2026/12/01/14/"
    )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"InitialSamplingPercentage": 101}, "InitialSamplingPercentage is 101, more than 100"),
        ({"DestinationS3Uri": "bucket/prefix"}, "DestinationS3Uri value 'bucket/prefix' does not match"),
        ({"DestinationS3Uri": "s3://b/" + "k" * 512}, "is 519 characters long, more than 512"),
        ({"CaptureOptions": [{"CaptureMode": "Everything"}]}, "CaptureMode"),
        ({"CaptureContentTypeHeader": {"CsvContentTypes": ["csv"]}}, "CsvContentTypes"),
    ],
)
def test_create_endpoint_config_refuses_a_capture_config_outside_the_api_reference(
    sagemaker, override, message
):
    with pytest.raises(ClientError) as refused:
        sagemaker.create_endpoint_config(
            EndpointConfigName="refused",
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": "m",
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                }
            ],
            DataCaptureConfig=capture_config("bucket", **override),
        )
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert message in refused.value.response["Error"]["Message"]


def test_an_endpoint_with_capture_writes_each_sampled_request_and_response(
    sagemaker, emulator, data_bucket, moto_url
):
    model_config = trained_model(sagemaker, data_bucket, "captured")
    variant = sagemaker.describe_endpoint_config(EndpointConfigName=model_config)["ProductionVariants"][0]
    sagemaker.create_endpoint_config(
        EndpointConfigName="captured-capture",
        ProductionVariants=[
            {
                key: variant[key]
                for key in ("VariantName", "ModelName", "InitialInstanceCount", "InstanceType")
            }
        ],
        DataCaptureConfig=capture_config(data_bucket),
    )
    sagemaker.create_endpoint(EndpointName="captured-ep", EndpointConfigName="captured-capture")
    assert wait_settled(sagemaker, "captured-ep")["EndpointStatus"] == "InService"
    runtime = make_client("sagemaker-runtime", emulator.url)
    for body in (b"1,2\n3,4", b"5,6"):
        runtime.invoke_endpoint(EndpointName="captured-ep", Body=body, ContentType="text/csv")

    s3 = make_client("s3", moto_url)
    listed = s3.list_objects_v2(Bucket=data_bucket, Prefix="data-capture/captured-ep/AllTraffic/")
    keys = sorted(item["Key"] for item in listed.get("Contents", []))
    assert len(keys) == 2 and all(key.endswith(".jsonl") for key in keys)
    texts = [s3.get_object(Bucket=data_bucket, Key=key)["Body"].read().decode() for key in keys]
    assert sorted(row for text in texts for row in captured_rows(text)) == [
        [1.0, 2.0],
        [3.0, 4.0],
        [5.0, 6.0],
    ]
    outputs = [json.loads(text)["captureData"]["endpointOutput"] for text in texts]
    assert all(output["mode"] == "OUTPUT" and output["data"] for output in outputs)
