"""What AWS services request on the stack's behalf, for the local stand-ins that act for them.

CodePipeline acts with the pipeline's role (PipelineRole): it uses the source connection, writes the
source artifact to the artifact store, starts and watches the CodeBuild build, sends the approval
email and invokes the stage functions. CodeBuild acts with the project's service role (BuildRole):
it writes the build's logs, reads the source artifact, the buildspec and the container bundle, logs
in to ECR, asks whether the tag exists and pushes the image. EventBridge acts as itself
(events.amazonaws.com): only the target's own policy can let it invoke a function or send to a
queue, with aws:SourceArn naming the rule.

The actions and their resources are those of AWS's documentation: the CodePipeline service role
(User Guide, "Manage the CodePipeline service role"), the CodeBuild service role and the ECR push
("IAM permissions for pushing an image to an Amazon ECR private repository": BatchCheckLayerAvailability,
InitiateLayerUpload, UploadLayerPart, CompleteLayerUpload, PutImage, BatchGetImage on the repository,
GetAuthorizationToken on "*"), and the buildspec's own AWS CLI calls (s3 cp, ecr get-login-password,
ecr describe-images, and the pull of the previous image as the layer cache: BatchGetImage and
GetDownloadUrlForLayer). KMS is not emulated: the key grants are exempt in the IAM matrix, as for the
functions.
"""

from __future__ import annotations

from localmode.aws.iam.requests import AuthRequest, Where, anywhere, arn

EVENTS = "events.amazonaws.com"
ECR_PUSH = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
    "ecr:BatchGetImage",
)

# docker pull of the previous image, the build's layer cache ("IAM permissions for pulling an image").
ECR_PULL = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")


def _from_source(request: AuthRequest, source_arn: str, where: Where) -> AuthRequest:
    context = {**request.context, "aws:SourceArn": source_arn, "aws:SourceAccount": where.account}
    return AuthRequest(request.action, request.resource, context, request.resource_type)


def function_name(function_arn: str) -> str:
    return function_arn.split(":function:", 1)[1].split(":", 1)[0]


# ---------------------------------------------------------------------------------- CodePipeline
def invoke_function(function_arn: str, where: Where) -> AuthRequest:
    """A Lambda Invoke action (the pipeline role) or a rule's target (EventBridge, with _from_source)."""
    return arn("lambda:InvokeFunction", "function", where, FunctionName=function_name(function_arn))


def use_connection(connection_arn: str) -> AuthRequest:
    """The Source action's connection; the IAM prefix is the one the connection's ARN carries
    (codestar-connections, or codeconnections for connections made since the service's rename)."""
    prefix = connection_arn.split(":", 3)[2]
    return AuthRequest(f"{prefix}:UseConnection", connection_arn, {}, "Connection")


def write_artifact(bucket: str, key: str, where: Where) -> AuthRequest:
    return arn("s3:PutObject", "object", where, BucketName=bucket, ObjectName=key)


def run_build(project_name: str, where: Where) -> list[AuthRequest]:
    """The Build action starts the project's build and polls it until it ends."""
    return [
        arn("codebuild:StartBuild", "project", where, ProjectName=project_name),
        arn("codebuild:BatchGetBuilds", "project", where, ProjectName=project_name),
    ]


def send_approval(topic_arn: str, where: Where) -> AuthRequest:
    """The Manual approval action's notification (its NotificationArn)."""
    return arn("sns:Publish", "topic", where, TopicName=topic_arn.rsplit(":", 1)[1])


# ---------------------------------------------------------------------------------- CodeBuild
def image_build(
    *,
    log_group: str,
    build_id: str,
    artifact: tuple[str, str],
    buildspec: tuple[str, str],
    bundle: tuple[str, str],
    repository: str,
    pushed: bool,
    where: Where,
    cache_from: bool = False,
) -> list[AuthRequest]:
    """One build of container/buildspec.yml: ``artifact``, ``buildspec`` and ``bundle`` are (bucket,
    key); ``pushed`` is False when describe-images found the tag and the build reused the image;
    ``cache_from`` when a build that pushes first pulls the last image as its layer cache."""
    stream = build_id.rsplit(":", 1)[-1]
    requests = [
        arn(action, "log-stream", where, LogGroupName=log_group, LogStreamName=stream)
        for action in ("logs:CreateLogStream", "logs:PutLogEvents")
    ]
    requests += [
        arn(action, "bucket", where, BucketName=artifact[0])
        for action in ("s3:GetBucketAcl", "s3:GetBucketLocation")
    ]
    requests += [
        arn("s3:GetObject", "object", where, BucketName=bucket, ObjectName=key)
        for bucket, key in (artifact, buildspec, bundle)
    ]
    requests.append(anywhere("ecr:GetAuthorizationToken"))
    requests.append(arn("ecr:DescribeImages", "repository", where, RepositoryName=repository))
    if pushed and cache_from:
        requests += [arn(action, "repository", where, RepositoryName=repository) for action in ECR_PULL]
    if pushed:
        requests += [arn(action, "repository", where, RepositoryName=repository) for action in ECR_PUSH]
    return requests


# ---------------------------------------------------------------------------------- EventBridge
def events_invoke_function(function_arn: str, rule_arn: str, where: Where) -> AuthRequest:
    return _from_source(invoke_function(function_arn, where), rule_arn, where)


def events_send_to_queue(queue_arn: str, key_arn: str, rule_arn: str, where: Where) -> list[AuthRequest]:
    """SendMessage, and for a queue encrypted with a customer key the key's GenerateDataKey and Decrypt,
    which the key policy must grant EventBridge (EventBridge User Guide, "Encrypting events": Amazon
    SQS targets with a customer managed key)."""
    send = arn("sqs:SendMessage", "queue", where, QueueName=queue_arn.rsplit(":", 1)[1])
    requests = [_from_source(send, rule_arn, where)]
    if ":key/" in key_arn:
        key_id = key_arn.rsplit("/", 1)[1]
        requests += [
            _from_source(arn(action, "key", where, KeyId=key_id), rule_arn, where)
            for action in ("kms:GenerateDataKey", "kms:Decrypt")
        ]
    return requests
