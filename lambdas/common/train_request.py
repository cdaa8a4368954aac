"""The Train action's request: its UserParameters, parsed strictly (a bad field fails the CodePipeline
job naming it), and the continuation token of a later invocation (docs/contracts.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from common import codepipeline
from common.codepipeline import JobEvent
from common.errors import ConfigurationError

USER_PARAMETERS = {
    "execution_id": True,
    "image_uri": True,
    "image_digest": False,
    "git_commit": False,
    "trigger": False,
    "trigger_detail": False,
    # the model registry's settings (common.run_lifecycle), here for want of room in the environment
    "quality_gate": False,
    "require_manual_approval": False,
    "endpoint_instance_type": False,
    "endpoint_instance_count": False,
    "endpoint_name": False,
}
LIFECYCLE_PARAMETERS = (
    "quality_gate",
    "require_manual_approval",
    "endpoint_instance_type",
    "endpoint_instance_count",
    "endpoint_name",
)
TRIGGERS = ("push", "data", "manual")
_IMAGE_URI = re.compile(r"^[a-zA-Z0-9.\-]+(:[0-9]+)?/[a-z0-9._/\-]+(:[\w.\-]{1,128}|@sha256:[0-9a-f]{64})?$")


@dataclass(frozen=True)
class RunRequest:
    execution_id: str
    image_uri: str
    image_digest: str
    git_commit: str
    trigger: str
    trigger_detail: str
    continuation: dict[str, Any] | None = None
    lifecycle: dict[str, str] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return self.execution_id

    @classmethod
    def parse(cls, event: JobEvent) -> RunRequest:
        values = event.user_parameters(USER_PARAMETERS)
        codepipeline.execution_id(values["execution_id"])
        if not _IMAGE_URI.match(values["image_uri"]):
            raise ConfigurationError(
                f"UserParameters field 'image_uri' ({values['image_uri'][:200]!r}) is not an image URI"
            )
        trigger = values["trigger"] or "push"
        if trigger not in TRIGGERS:
            raise ConfigurationError(f"UserParameters field 'trigger' must be one of {', '.join(TRIGGERS)}")
        return cls(
            execution_id=values["execution_id"],
            image_uri=values["image_uri"],
            image_digest=values["image_digest"],
            git_commit=values["git_commit"],
            trigger=trigger,
            trigger_detail=values["trigger_detail"][:1000],
            continuation=event.continuation(),
            lifecycle={name: values[name] for name in LIFECYCLE_PARAMETERS},
        )
