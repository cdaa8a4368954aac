"""The build project and the pipeline as their APIs take them, from the template's resources: moto's
CloudFormation skips both, so local mode creates them through CodeBuild's and CodePipeline's APIs."""

from __future__ import annotations

from typing import Any

from localmode.pipeline.template import StackContext


def camel_case(value: Any, keep_keys_of: tuple[str, ...] = ("Configuration",)) -> Any:
    """CloudFormation's PascalCase properties as the CodePipeline API's camelCase members."""
    if isinstance(value, list):
        return [camel_case(item, keep_keys_of) for item in value]
    if not isinstance(value, dict):
        return value
    converted = {}
    for key, item in value.items():
        name = key[:1].lower() + key[1:]
        converted[name] = item if key in keep_keys_of else camel_case(item, keep_keys_of)
    return converted


def project_definition(context: StackContext, resource: dict[str, Any]) -> dict[str, Any]:
    properties = context.resolve(resource["Properties"])
    properties.pop("Tags", None)
    project = camel_case(properties, keep_keys_of=())
    if "buildSpec" in project.get("source", {}):
        project["source"]["buildspec"] = project["source"].pop("buildSpec")
    # moto insists on locations even for CODEPIPELINE sources and artifacts, which have none in AWS
    project["source"].setdefault("location", "codepipeline")
    project["artifacts"].setdefault("location", "codepipeline")
    if "timeoutInMinutes" in project:
        project["timeoutInMinutes"] = int(project["timeoutInMinutes"])
    return project


def pipeline_definition(context: StackContext, resource: dict[str, Any]) -> dict[str, Any]:
    properties = context.resolve(resource["Properties"])
    properties.pop("Tags", None)
    properties.pop("RestartExecutionOnUpdate", None)
    return camel_case(properties)
