"""The deployed stack that the Lambda handler tests and the Lambda benchmark share: its names, its
functions' environment (docs/contracts.md), and its run table and buckets as the template makes them."""

from __future__ import annotations

from typing import Any

REGION = "eu-west-1"
STACK = "demo-stack"
TABLE = f"{STACK}-metadata"
INPUT_BUCKET = f"{STACK}-input"
MODEL_BUCKET = f"{STACK}-models"
ROLE_ARN = f"arn:aws:iam::123456789012:role/{STACK}-sagemaker"
IMAGE_URI = f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/{STACK}:3f2a9c1"
ENDPOINT = f"{STACK}-endpoint"

# Every variable the template gives a function (NOTIFICATION_TOPIC_ARN comes with the topic).
ENVIRONMENT = {
    "STACK_NAME": STACK,
    "METADATA_TABLE": TABLE,
    "SAGEMAKER_ROLE_ARN": ROLE_ARN,
    "TRAINING_INPUT_BUCKET": INPUT_BUCKET,
    "TRAINING_INPUT_PREFIX": "input/",
    "TRAINING_CHANNEL_NAME": "training",
    "MODEL_ARTIFACT_BUCKET": MODEL_BUCKET,
    "KMS_KEY_ARN": "",
    "TRAINING_INSTANCE_TYPE": "ml.m5.large",
    "TRAINING_INSTANCE_COUNT": "1",
    "TRAINING_VOLUME_SIZE_GB": "10",
    "MAX_RUNTIME_SECONDS": "3600",
    "USE_SPOT_TRAINING": "false",
    "MAX_WAIT_SECONDS": "7200",
    "HYPERPARAMETERS": '{"max_depth": 5, "criterion": "gini"}',
    "METRIC_DEFINITIONS": '[{"Name": "validation:accuracy", "Regex": "accuracy=([0-9.]+)"}]',
    "GITHUB_REPOSITORY": "octo/gamesbiz",
    "GITHUB_BRANCH": "main",
    "PIPELINE_NAME": f"{STACK}-pipeline",
    "QUIET_SECONDS": "60",
    "ENDPOINT_NAME": ENDPOINT,
    "ENDPOINT_INSTANCE_TYPE": "ml.m5.large",
    "ENDPOINT_INSTANCE_COUNT": "1",
    "DEPLOYMENT_STRATEGY": "AllAtOnce",
    "ROLLBACK_ALARM_NAMES": "",
    "QUALITY_GATE": "",
    "SMOKE_TEST_BUCKET": INPUT_BUCKET,
    "SMOKE_TEST_PAYLOAD_KEY": "",
    "KEEP_LAST_RELEASES": "3",
    "IDLE_HOURS": "2",
}


def create_run_table(dynamodb: Any) -> None:
    """The MetaDataStore table: key run_id, the by-training-job index."""
    dynamodb.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "run_id", "AttributeType": "S"},
            {"AttributeName": "training_job_name", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "run_id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-training-job",
                "KeySchema": [{"AttributeName": "training_job_name", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )


def create_buckets(s3: Any) -> None:
    """The training input and model artifact buckets, versioned."""
    for bucket in (INPUT_BUCKET, MODEL_BUCKET):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
