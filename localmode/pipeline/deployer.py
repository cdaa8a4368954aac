"""Deploys the real template into moto's CloudFormation and completes it locally: creates through the
APIs what moto skips (pipeline, subscription, bucket versioning and EventBridge notifications) and
answers the Custom::Teardown resource by running the real teardown handler in-process."""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from localmode.pipeline import retention
from localmode.pipeline.definitions import pipeline_definition, project_definition
from localmode.pipeline.template import (
    StackContext,
    is_created,
    load_template,
    parameter_values,
    resources_of_type,
)

# Types moto's CloudFormation skips that we create ourselves; their Ref is their Name property.
LOCALLY_CREATED_NAMED_TYPES = ("AWS::CodeBuild::Project", "AWS::CodePipeline::Pipeline")
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]


class DeployError(RuntimeError):
    pass


def lambda_zip() -> bytes:
    """The handlers' code as one zip, built exactly as `make package` builds dist/lambdas.zip."""
    from scripts.package_lambdas import build

    with tempfile.TemporaryDirectory() as scratch:
        return build(Path(scratch) / "lambdas.zip").read_bytes()


@dataclass
class Clients:
    cloudformation: Any
    s3: Any
    sns: Any
    codepipeline: Any
    iam: Any
    lambda_: Any
    sqs: Any
    ecr: Any
    dynamodb: Any
    codebuild: Any
    kms: Any


CustomResourceInvoker = Callable[[str, dict[str, Any]], None]
ResponseLookup = Callable[[str], Any]


class Deployer:
    def __init__(
        self,
        *,
        clients: Clients,
        template_path: Path,
        region: str,
        response_url: Callable[[str], str],
        invoke_custom_resource: CustomResourceInvoker,
        custom_resource_response: ResponseLookup,
    ) -> None:
        self.clients = clients
        self.template_path = template_path
        self.template = load_template(template_path)
        self.region = region
        self._response_url = response_url
        self._invoke = invoke_custom_resource
        self._response = custom_resource_response

    # -- context ---------------------------------------------------------------------------------

    def context(self, stack_name: str) -> StackContext:
        stack = self.clients.cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
        given = {item["ParameterKey"]: item["ParameterValue"] for item in stack.get("Parameters", [])}
        resources = self.clients.cloudformation.describe_stack_resources(StackName=stack_name)[
            "StackResources"
        ]
        physical = {
            item["LogicalResourceId"]: item["PhysicalResourceId"]
            for item in resources
            if item.get("LogicalResourceId") and item.get("PhysicalResourceId")
        }
        account = stack["StackId"].split(":")[4]
        pseudo = {
            "AWS::StackName": stack["StackName"],
            "AWS::StackId": stack["StackId"],
            "AWS::Region": self.region,
            "AWS::AccountId": account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        context = StackContext(self.template, parameter_values(self.template, given), pseudo, physical, None)  # type: ignore[arg-type]
        context.attribute = lambda logical, name: self._attribute(context, logical, name)
        for resource_type in LOCALLY_CREATED_NAMED_TYPES:
            for logical, resource in resources_of_type(self.template, resource_type).items():
                if is_created(context, resource):
                    context.physical_ids.setdefault(logical, context.resolve(resource["Properties"]["Name"]))
        return context

    def _attribute(self, context: StackContext, logical: str, name: str) -> Any:
        resource_type = self.template["Resources"][logical]["Type"]
        physical = context.physical_ids.get(logical, "")
        account, region = context.pseudo["AWS::AccountId"], self.region
        if resource_type == "AWS::IAM::Role" and name == "Arn":
            return self.clients.iam.get_role(RoleName=physical)["Role"]["Arn"]
        if resource_type == "AWS::Lambda::Function" and name == "Arn":
            return self.clients.lambda_.get_function_configuration(FunctionName=physical)["FunctionArn"]
        if resource_type == "AWS::KMS::Key" and name == "Arn":
            # moto's DescribeKey fails on keys whose policy CloudFormation gave as an object
            return f"arn:aws:kms:{region}:{account}:key/{physical}"
        if resource_type == "AWS::S3::Bucket" and name == "Arn":
            return f"arn:aws:s3:::{physical}"
        if resource_type == "AWS::SQS::Queue" and name == "Arn":
            attributes = self.clients.sqs.get_queue_attributes(QueueUrl=physical, AttributeNames=["QueueArn"])
            return attributes["Attributes"]["QueueArn"]
        if resource_type == "AWS::ECR::Repository":
            repository = self.clients.ecr.describe_repositories(repositoryNames=[physical])["repositories"][0]
            return repository["repositoryUri" if name == "RepositoryUri" else "repositoryArn"]
        if resource_type == "AWS::DynamoDB::Table" and name == "Arn":
            return self.clients.dynamodb.describe_table(TableName=physical)["Table"]["TableArn"]
        if resource_type == "AWS::Events::Rule" and name == "Arn":
            return f"arn:aws:events:{region}:{account}:rule/{physical}"
        if resource_type == "AWS::Logs::LogGroup" and name == "Arn":
            return f"arn:aws:logs:{region}:{account}:log-group:{physical}:*"
        raise DeployError(f"Fn::GetAtt {logical}.{name} ({resource_type}) is not resolvable locally")

    # -- deploy ----------------------------------------------------------------------------------

    def upload_code(self, bucket: str, key: str) -> str:
        """The Lambda zip at ``key`` and the template beside it; returns the template's URL.

        The template goes by TemplateURL, as the README tells users to: at ~74 KB it is over the
        51,200 bytes CloudFormation takes as a TemplateBody (and local mode's moto refuses it so).
        """
        try:
            self.clients.s3.head_bucket(Bucket=bucket)
        except self.clients.s3.exceptions.ClientError:
            self.clients.s3.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": self.region}
            )
        self.clients.s3.put_object(Bucket=bucket, Key=key, Body=lambda_zip())
        template_key = f"{key.rpartition('/')[0]}/{self.template_path.name}".lstrip("/")
        self.clients.s3.put_object(Bucket=bucket, Key=template_key, Body=self.template_path.read_bytes())
        return f"https://{bucket}.s3.{self.region}.amazonaws.com/{template_key}"

    def deploy(
        self, stack_name: str, parameters: dict[str, str], timeout_seconds: float = 60
    ) -> StackContext:
        template_url = self.upload_code(
            parameters["LambdaCodeBucket"], parameters.get("LambdaCodeKey", "sagemaker-pipeline/lambdas.zip")
        )
        self.clients.cloudformation.create_stack(
            StackName=stack_name,
            TemplateURL=template_url,
            Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()],
            Capabilities=CAPABILITIES,
        )
        context = self.context(stack_name)
        try:
            # The template's order: the pipeline DependsOn the custom resource (the model registry).
            for logical, resource in self._custom_resources(context).items():
                self._answer(context, logical, resource, "Create")
            self.create_skipped_resources(context)
            self._wait_for_status(stack_name, "CREATE_COMPLETE", timeout_seconds)
        except DeployError as error:
            undone = self.roll_back(stack_name, context)
            raise DeployError(f"{error}; rolled back as CloudFormation does: {', '.join(undone)}") from error
        return self.context(stack_name)

    def update(
        self, stack_name: str, parameters: dict[str, str], timeout_seconds: float = 60
    ) -> StackContext:
        """UpdateStack with the current template and these parameters, as `aws cloudformation deploy`
        does on an existing stack. moto updates the resources it models (a function's environment,
        for one); what local mode created itself (pipeline, build project, subscription) and the
        custom resource keep their first state, so a parameter that reaches those needs a new stack.
        Known moto gap: on update it renders a list item `!If [Cond, X, !Ref AWS::NoValue]` whose
        condition is false as null instead of dropping it (the PipelineRole policy with
        DeployEndpoint=false), which the IAM engine then refuses as a malformed policy."""
        template_url = self.upload_code(
            parameters["LambdaCodeBucket"], parameters.get("LambdaCodeKey", "sagemaker-pipeline/lambdas.zip")
        )
        # Every value spelled out, defaults included: moto only re-renders the resources that use a
        # parameter given in the request, so one left out to go back to its default would not apply.
        values = parameter_values(self.template, parameters)
        self.clients.cloudformation.update_stack(
            StackName=stack_name,
            TemplateURL=template_url,
            Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in values.items()],
            Capabilities=CAPABILITIES,
        )
        self._wait_for_status(stack_name, "UPDATE_COMPLETE", timeout_seconds)
        return self.context(stack_name)

    def roll_back(self, stack_name: str, context: StackContext) -> list[str]:
        """A failed create, undone: what we created, the stack, then its RetainExceptOnCreate resources."""
        try:
            undone = self._delete_locally_created(context)
        except ClientError as error:  # a half-made create: some of them were never made
            undone = [f"locally created resources not all deleted ({error})"]
        self.clients.cloudformation.delete_stack(StackName=stack_name)
        undone.append(f"stack {stack_name} deleted")
        return undone + retention.delete_created_on_failed_create(
            self.clients, self.template, context.physical_ids
        )

    def _wait_for_status(self, stack_name: str, wanted: str, timeout_seconds: float) -> None:
        deadline = time.monotonic() + timeout_seconds
        while True:
            status = self.clients.cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0][
                "StackStatus"
            ]
            if status == wanted:
                return
            if time.monotonic() > deadline:
                raise DeployError(
                    f"stack {stack_name} is {status}, not {wanted}, after {timeout_seconds:.0f} s"
                )
            time.sleep(0.2)

    def create_skipped_resources(self, context: StackContext) -> list[str]:
        """What moto's CloudFormation skips or ignores, created through the service APIs."""
        created = []
        for logical, resource in resources_of_type(self.template, "AWS::S3::Bucket").items():
            properties = context.resolve(resource.get("Properties", {}))
            bucket = context.physical_ids[logical]
            if properties.get("VersioningConfiguration", {}).get("Status") == "Enabled":
                self.clients.s3.put_bucket_versioning(
                    Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
                )
                created.append(f"{logical}: versioning")
            if properties.get("NotificationConfiguration", {}).get("EventBridgeConfiguration", {}).get(
                "EventBridgeEnabled"
            ) in (True, "true"):
                self.clients.s3.put_bucket_notification_configuration(
                    Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
                )
                created.append(f"{logical}: EventBridge notifications")
        for logical, resource in resources_of_type(self.template, "AWS::SNS::Subscription").items():
            if is_created(context, resource):
                properties = context.resolve(resource["Properties"])
                self.clients.sns.subscribe(
                    TopicArn=properties["TopicArn"],
                    Protocol=properties["Protocol"],
                    Endpoint=properties["Endpoint"],
                )
                created.append(f"{logical}: {properties['Protocol']} subscription")
        created += self._apply_resource_policies(context)
        for logical, resource in resources_of_type(self.template, "AWS::CodeBuild::Project").items():
            if is_created(context, resource):
                project = project_definition(context, resource)
                self.clients.codebuild.create_project(**project)
                created.append(f"{logical}: build project {project['name']}")
        for logical, resource in resources_of_type(self.template, "AWS::CodePipeline::Pipeline").items():
            if is_created(context, resource):
                pipeline = pipeline_definition(context, resource)
                self.clients.codepipeline.create_pipeline(pipeline=pipeline)
                created.append(f"{logical}: pipeline {pipeline['name']}")
        return created

    def _apply_resource_policies(self, context: StackContext) -> list[str]:
        """Queue and topic policies (moto's CloudFormation skips them): the IAM gate reads them as AWS
        does, e.g. whether EventBridge may send to a queue. Bucket policies are not applied: moto
        enforces them itself, and their one statement (DenyInsecureTransport) denies every local
        request, which is plain HTTP; the gate decides requests as the HTTPS ones AWS gets."""
        applied = []
        for resource_type in ("AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"):
            for logical, resource in resources_of_type(self.template, resource_type).items():
                if not is_created(context, resource):
                    continue
                properties = context.resolve(resource["Properties"])
                document = json.dumps(properties["PolicyDocument"])
                if resource_type == "AWS::SQS::QueuePolicy":
                    for queue_url in properties["Queues"]:
                        self.clients.sqs.set_queue_attributes(
                            QueueUrl=queue_url, Attributes={"Policy": document}
                        )
                else:
                    for topic_arn in properties["Topics"]:
                        self.clients.sns.set_topic_attributes(
                            TopicArn=topic_arn, AttributeName="Policy", AttributeValue=document
                        )
                applied.append(f"{logical}: policy")
        return applied

    def _custom_resources(self, context: StackContext) -> dict[str, dict[str, Any]]:
        return {
            logical: resource
            for logical, resource in self.template["Resources"].items()
            if resource["Type"].startswith("Custom::") and is_created(context, resource)
        }

    def _answer(
        self,
        context: StackContext,
        logical: str,
        resource: dict[str, Any],
        request_type: str,
        overrides: dict[str, str] | None = None,
    ) -> Any:
        properties = context.resolve(resource["Properties"])
        properties.update(overrides or {})
        request_id = str(uuid.uuid4())
        event = {
            "RequestType": request_type,
            "ServiceToken": properties["ServiceToken"],
            "ResponseURL": self._response_url(context.pseudo["AWS::StackId"]),
            "StackId": context.pseudo["AWS::StackId"],
            "RequestId": request_id,
            "LogicalResourceId": logical,
            "ResourceType": resource["Type"],
            "ResourceProperties": properties,
        }
        if request_type != "Create":
            event["PhysicalResourceId"] = context.physical_ids.get(logical, logical)
        function = properties["ServiceToken"].rsplit(":", 1)[-1]
        self._invoke(function, event)
        response = self._response(request_id)
        if response is None:
            raise DeployError(f"{logical} ({resource['Type']}) did not answer the {request_type} request")
        if response.status != "SUCCESS":
            raise DeployError(f"{logical} ({resource['Type']}) {request_type} failed: {response.reason}")
        return response

    # -- delete ----------------------------------------------------------------------------------

    def _delete_locally_created(self, context: StackContext) -> list[str]:
        """What moto skips and we created through the APIs: pipeline, build project, subscriptions."""
        done: list[str] = []
        for resource in resources_of_type(self.template, "AWS::CodePipeline::Pipeline").values():
            if is_created(context, resource):
                name = context.resolve(resource["Properties"]["Name"])
                self.clients.codepipeline.delete_pipeline(name=name)
                done.append(f"pipeline {name} deleted")
        for resource in resources_of_type(self.template, "AWS::CodeBuild::Project").values():
            if is_created(context, resource):
                name = context.resolve(resource["Properties"]["Name"])
                self.clients.codebuild.delete_project(name=name)
                done.append(f"build project {name} deleted")
        topics = {
            context.resolve(r["Properties"]["TopicArn"])
            for r in resources_of_type(self.template, "AWS::SNS::Subscription").values()
        }
        for topic in topics:
            for subscription in self.clients.sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]:
                if subscription["SubscriptionArn"].startswith("arn:"):
                    self.clients.sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
        return done

    def delete(self, stack_name: str, purge: bool) -> list[str]:
        """Runs the teardown (DeleteData=true when purging), removes what we created, deletes the stack."""
        context = self.context(stack_name)
        done = []
        for logical, resource in self._custom_resources(context).items():
            overrides = {"DeleteData": "true"} if purge else {}
            self._answer(context, logical, resource, "Delete", overrides)
            done.append(f"{logical}: teardown answered SUCCESS")
        done += self._delete_locally_created(context)
        self.clients.cloudformation.delete_stack(StackName=stack_name)
        done.append(f"stack {stack_name} deleted")
        return done
