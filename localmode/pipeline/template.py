"""The CloudFormation template as data: YAML short tags, and the intrinsic functions resolved against a
deployed stack (for what moto's CloudFormation skips and the local deployer creates itself)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

NO_VALUE = object()


class _CfnLoader(yaml.SafeLoader):
    pass


def _tag_constructor(name: str) -> Callable[[yaml.SafeLoader, yaml.Node], dict[str, Any]]:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if name == "Fn::GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {name: value}

    return construct


for _tag in ("Ref", "Condition"):
    _CfnLoader.add_constructor(f"!{_tag}", _tag_constructor(_tag))
for _tag in (
    "GetAtt",
    "Sub",
    "If",
    "Equals",
    "Not",
    "And",
    "Or",
    "Join",
    "Select",
    "Split",
    "FindInMap",
    "Base64",
):
    _CfnLoader.add_constructor(f"!{_tag}", _tag_constructor(f"Fn::{_tag}"))
for _tag in ("GetAZs", "ImportValue", "Cidr"):
    _CfnLoader.add_constructor(f"!{_tag}", _tag_constructor(f"Fn::{_tag}"))


def load_template(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


def parameter_values(template: dict[str, Any], given: dict[str, str]) -> dict[str, str]:
    values = {}
    for name, spec in template.get("Parameters", {}).items():
        if name in given:
            values[name] = given[name]
        elif "Default" in spec:
            values[name] = str(spec["Default"])
    return values


@dataclass
class StackContext:
    """What a deployed stack knows: parameters, pseudo parameters, physical ids and attributes."""

    template: dict[str, Any]
    parameters: dict[str, str]
    pseudo: dict[str, str]
    physical_ids: dict[str, str]
    attribute: Callable[[str, str], Any]

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template.get("Conditions", {})[name]))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            function = _FUNCTIONS.get(key)
            if function is not None:
                return function(self, argument)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical_ids:
            return self.physical_ids[name]
        raise KeyError(f"Ref {name}: no parameter, pseudo parameter or created resource of that name")

    def sub(self, argument: Any) -> str:
        text, variables = (
            (argument, {}) if isinstance(argument, str) else (argument[0], self.resolve(argument[1]))
        )

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and name.split(".", 1)[0] not in self.pseudo:
                logical, attribute = name.split(".", 1)
                return str(self.attribute(logical, attribute))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)


def _if(context: StackContext, argument: list[Any]) -> Any:
    name, when_true, when_false = argument
    return context.resolve(when_true if context.condition(name) else when_false)


def _get_att(context: StackContext, argument: Any) -> Any:
    logical, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
    return context.attribute(logical, context.resolve(attribute))


def _select(context: StackContext, argument: list[Any]) -> Any:
    index, items = context.resolve(argument)
    return items[int(index)]


def _split(context: StackContext, argument: list[Any]) -> list[str]:
    separator, text = context.resolve(argument)
    return text.split(separator)


def _find_in_map(context: StackContext, argument: list[Any]) -> Any:
    mapping, first, second = context.resolve(argument)
    return context.template["Mappings"][mapping][first][second]


_FUNCTIONS: dict[str, Callable[[StackContext, Any], Any]] = {
    "Ref": lambda context, name: context.ref(name),
    "Condition": lambda context, name: context.condition(name),
    "Fn::Sub": lambda context, argument: context.sub(argument),
    "Fn::If": _if,
    "Fn::Equals": lambda context, argument: (lambda a, b: str(a) == str(b))(*context.resolve(argument)),
    "Fn::Not": lambda context, argument: not context.resolve(argument)[0],
    "Fn::And": lambda context, argument: all(context.resolve(argument)),
    "Fn::Or": lambda context, argument: any(context.resolve(argument)),
    "Fn::Join": lambda context, argument: (lambda sep, items: sep.join(map(str, items)))(
        *context.resolve(argument)
    ),
    "Fn::GetAtt": _get_att,
    "Fn::Select": _select,
    "Fn::Split": _split,
    "Fn::FindInMap": _find_in_map,
}


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical: resource
        for logical, resource in template.get("Resources", {}).items()
        if resource.get("Type") == resource_type
    }


def is_created(context: StackContext, resource: dict[str, Any]) -> bool:
    return "Condition" not in resource or context.condition(resource["Condition"])
