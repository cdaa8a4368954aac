"""Issue 12 C12: every function's environment fits Lambda's 4 KB at the parameters' largest values.

Lambda refuses (and the stack rolls back) when a function's environment is larger than 4 KB. AWS
measures the variables as one JSON object, keys and quotes included ("String measured:
{"KEY":"value",...}" in its error), so a value's bytes are its JSON-escaped bytes. The budget
below is the worst case CloudFormation can hand a function, computed from the template itself:
- a string parameter: its MaxLength times the most bytes one allowed character can take in JSON
  (1 for plain ASCII, 2 when the pattern admits '"' or a backslash, 6 (\\uXXXX) when it admits
  control or non-ASCII characters); AllowedValues: the longest; Number: the longest bound;
- a pseudo parameter: the stack name's 128 characters, the longest partition, region and URL suffix;
- a resource: the longest name AWS allows, or the name CloudFormation generates when the template
  names none (``<stack name>-<logical id>-<13 characters>``, capped at the service's limit), and
  the ARN around it.
A string parameter that reaches an environment without a MaxLength or AllowedValues fails the test:
Rules have no length function, so MaxLength is the only bound.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from scripts.cfn_template import load_template

TEMPLATE = load_template()
PARAMETERS = TEMPLATE["Parameters"]
RESOURCES = TEMPLATE["Resources"]
LIMIT = 4096

STACK_NAME = 128
PSEUDO = {
    "AWS::StackName": STACK_NAME,
    "AWS::Partition": len("aws-us-gov"),
    "AWS::Region": len("ap-southeast-7") + 2,  # the longest region names are 14 characters; margin
    "AWS::AccountId": 12,
    "AWS::URLSuffix": len("amazonaws.com.cn"),
}
RANDOM_SUFFIX = 13  # CloudFormation's generated names end with -<12 or 13 characters>
NAME_LIMITS = {  # the longest name each service allows
    "AWS::S3::Bucket": 63,
    "AWS::DynamoDB::Table": 255,
    "AWS::SNS::Topic": 256,
    "AWS::CloudWatch::Alarm": 255,
    "AWS::IAM::Role": 64,
}
NAME_PROPERTIES = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::IAM::Role": "RoleName",
}


def partition_region_account() -> int:
    return PSEUDO["AWS::Partition"] + PSEUDO["AWS::Region"] + PSEUDO["AWS::AccountId"]


def resource_name(logical: str) -> int:
    """The longest physical name of a resource (an explicit name is itself evaluated)."""
    resource = RESOURCES[logical]
    kind = resource["Type"]
    given = resource.get("Properties", {}).get(NAME_PROPERTIES.get(kind, ""))
    if given is not None:
        return worst(given)
    generated = STACK_NAME + 1 + len(logical) + 1 + RANDOM_SUFFIX
    return min(NAME_LIMITS[kind], generated)


def resource_ref(logical: str) -> int:
    kind = RESOURCES[logical]["Type"]
    if kind == "AWS::SNS::Topic":  # Ref is the ARN: arn:P:sns:R:A:name
        return len("arn::sns:::") + partition_region_account() + resource_name(logical)
    if kind in ("AWS::S3::Bucket", "AWS::DynamoDB::Table", "AWS::CloudWatch::Alarm"):
        return resource_name(logical)
    raise AssertionError(f"no length known for Ref {logical} ({kind}): add it to this test")


def resource_attribute(logical: str, attribute: str) -> int:
    kind = RESOURCES[logical]["Type"]
    if (kind, attribute) == ("AWS::IAM::Role", "Arn"):  # arn:P:iam::A:role<path>name, path "/" at least
        path = RESOURCES[logical]["Properties"].get("Path", "/")
        return len("arn::iam:::role") + PSEUDO["AWS::Partition"] + 12 + worst(path) + resource_name(logical)
    if (kind, attribute) == ("AWS::KMS::Key", "Arn"):  # arn:P:kms:R:A:key/uuid
        return len("arn::kms:::key/") + partition_region_account() + 36
    raise AssertionError(f"no length known for {logical}.{attribute} ({kind}): add it to this test")


def bytes_per_character(pattern: str | None) -> int:
    """The most JSON bytes one character a pattern admits can take: 1, 2 ('"' or '\\') or 6."""
    if pattern is None:
        return 6
    worst_case, index, in_class, class_start = 1, 0, False, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            escaped = pattern[index + 1 : index + 2]
            if escaped in ("S", "W", "D", "s", "p", "P"):  # classes beyond plain printable ASCII
                worst_case = max(worst_case, 6)
            elif escaped in ('"', "\\"):
                worst_case = max(worst_case, 2)
            index += 2
            class_start = False
            continue
        if in_class:
            if class_start and char == "^":
                worst_case = max(worst_case, 6)
            elif char == "]" and not class_start:
                in_class = False
            elif pattern[index + 1 : index + 2] == "-" and pattern[index + 2 : index + 3] not in ("", "]"):
                low, high = ord(char), ord(pattern[index + 2])
                if low < 0x20 or high > 0x7E:
                    worst_case = max(worst_case, 6)
                elif low <= ord('"') <= high or low <= ord("\\") <= high:
                    worst_case = max(worst_case, 2)
                index += 3
                class_start = False
                continue
            elif char == '"':
                worst_case = max(worst_case, 2)
            class_start = False
        elif char == "[":
            in_class, class_start = True, True
        elif char == ".":
            worst_case = max(worst_case, 6)  # any character but a line terminator
        elif char == '"':
            worst_case = max(worst_case, 2)
        index += 1
    return worst_case


def parameter(name: str) -> int:
    spec = PARAMETERS[name]
    if "AllowedValues" in spec:
        return max(len(json.dumps(str(value))) - 2 for value in spec["AllowedValues"])
    if spec["Type"] == "Number":
        assert "MaxValue" in spec, f"Number parameter {name} reaches a function environment without MaxValue"
        return max(len(str(spec.get("MinValue", ""))), len(str(spec["MaxValue"])))
    assert "MaxLength" in spec, (
        f"String parameter {name} reaches a function environment without a MaxLength or AllowedValues"
    )
    return int(spec["MaxLength"]) * bytes_per_character(spec.get("AllowedPattern"))


def reference(name: str) -> int:
    if name in PSEUDO:
        return PSEUDO[name]
    if name in PARAMETERS:
        return parameter(name)
    if "." in name:
        logical, attribute = name.split(".", 1)
        return resource_attribute(logical, attribute)
    return resource_ref(name)


def worst(node: Any) -> int:
    """The most bytes a template value can take inside a JSON string."""
    if isinstance(node, bool):
        return len("false")
    if isinstance(node, int | float):
        return len(str(node))
    if isinstance(node, str):
        return len(json.dumps(node)) - 2
    if isinstance(node, dict) and len(node) == 1:
        [(function, argument)] = node.items()
        if function == "Ref":
            return reference(argument)
        if function == "Fn::GetAtt":
            return reference(".".join(argument) if isinstance(argument, list) else argument)
        if function == "Fn::If":
            return max(worst(argument[1]), worst(argument[2]))
        if function == "Fn::Join":
            separator, items = argument
            return sum(worst(item) for item in items) + len(separator) * max(len(items) - 1, 0)
        if function == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument
            total = 0
            for literal, name in re.findall(r"([^$]*)(?:\$\{([^}!]+)\})?", text):
                total += worst(literal) if literal else 0
                if name:
                    total += worst(variables[name]) if name in variables else reference(name)
            return total
    raise AssertionError(f"no worst case known for {node!r}: add it to this test")


def environment_bytes(variables: dict[str, Any]) -> int:
    """Lambda's measure: the variables as one JSON object, {"KEY":"value",...}."""
    pairs = [len(json.dumps(key)) + 1 + worst(value) + 2 for key, value in variables.items()]
    return 2 + sum(pairs) + max(len(pairs) - 1, 0)


FUNCTIONS = {
    name: spec["Properties"].get("Environment", {}).get("Variables", {})
    for name, spec in RESOURCES.items()
    if spec["Type"] == "AWS::Lambda::Function"
}


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_the_function_environment_fits_4_kb_at_the_largest_allowed_values(function):
    size = environment_bytes(FUNCTIONS[function])
    assert size < LIMIT, f"{function}: its environment can reach {size} bytes; Lambda allows {LIMIT}"


def test_the_budget_counts_escapes_and_wide_characters():
    assert bytes_per_character("^[A-Za-z0-9._/-]{1,255}$") == 1
    assert bytes_per_character("^\\{[ -~]*\\}$") == 2
    assert bytes_per_character("^\\{.*\\}$") == 6
    assert bytes_per_character("^$|^[^\\s/][^\\s]*\\.(csv|json|npy)$") == 6
    variables = {"A": "x", "BB": 'q"'}
    assert environment_bytes(variables) == len(json.dumps(variables, separators=(",", ":")))
