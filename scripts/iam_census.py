"""Every policy statement in the template, flattened, for the census test and docs/security.md."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

POLICY_HOLDERS = {
    "AWS::IAM::Role": lambda props: [p["PolicyDocument"] for p in props.get("Policies", [])],
    "AWS::IAM::Policy": lambda props: [props["PolicyDocument"]],
    "AWS::S3::BucketPolicy": lambda props: [props["PolicyDocument"]],
    "AWS::SQS::QueuePolicy": lambda props: [props["PolicyDocument"]],
    "AWS::SNS::TopicPolicy": lambda props: [props["PolicyDocument"]],
    "AWS::KMS::Key": lambda props: [props["KeyPolicy"]],
}


@dataclass(frozen=True)
class Statement:
    holder: str
    holder_type: str
    sid: str
    effect: str
    actions: tuple[str, ...]
    resources: tuple[Any, ...]
    condition: dict[str, Any] | None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(template: dict[str, Any]) -> Iterator[Statement]:
    for name, spec in template["Resources"].items():
        documents = POLICY_HOLDERS.get(spec["Type"])
        if documents is None:
            continue
        for document in documents(spec["Properties"]):
            for raw in document["Statement"]:
                yield Statement(
                    holder=name,
                    holder_type=spec["Type"],
                    sid=raw.get("Sid", ""),
                    effect=raw["Effect"],
                    actions=tuple(_as_list(raw["Action"])),
                    resources=tuple(_as_list(raw["Resource"])),
                    condition=raw.get("Condition"),
                )


def wildcard_allow_list(template: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(role, action) -> reason, from each role's Metadata.WildcardResources."""
    allowed = {}
    for name, spec in template["Resources"].items():
        for entry in spec.get("Metadata", {}).get("WildcardResources", []):
            allowed[(name, entry["action"])] = entry["reason"]
    return allowed
