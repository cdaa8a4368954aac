"""The Deploy action's continuation token: where a deployment stands between two invocations.

Phases: ``rollout`` (the endpoint is being created or updated onto this run's config),
``recreate`` (a Failed endpoint was deleted; CreateEndpoint once it is gone) and ``rollback``
(the smoke test failed after an update; the endpoint is being updated back to ``previous``).
``previous`` is the config the endpoint served when this run updated it (DescribeEndpoint's
EndpointConfigName then), empty after a create: the one to roll back to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from common import codepipeline
from common.errors import ConfigurationError
from common.names import RESOURCE_NAME_PATTERN

ROLLOUT, RECREATE, ROLLBACK = "rollout", "recreate", "rollback"
PHASES = (ROLLOUT, RECREATE, ROLLBACK)
REASON_CHARS = 1000  # the token stays under CodePipeline's 2048 characters


def _forged() -> ConfigurationError:
    return ConfigurationError("the continuation token is not one this function wrote")


@dataclass(frozen=True)
class DeployProgress:
    config: str
    endpoint: str
    run: str
    phase: str = ROLLOUT
    previous: str = ""
    reason: str = ""

    def encode(self) -> str:
        fields: dict[str, str] = {"config": self.config, "endpoint": self.endpoint, "run": self.run}
        if self.phase != ROLLOUT:
            fields["phase"] = self.phase
        if self.previous:
            fields["previous"] = self.previous
        if self.reason:
            fields["reason"] = self.reason[:REASON_CHARS]
        return codepipeline.encode_token(fields)

    def moved(self, **changes: str) -> DeployProgress:
        return replace(self, **changes)

    @classmethod
    def parse(cls, token: Mapping[str, Any], expected: DeployProgress) -> DeployProgress:
        """The token's progress; a ConfigurationError unless this run's deploy wrote it."""
        base = {"config": expected.config, "endpoint": expected.endpoint, "run": expected.run}
        if any(token.get(key) != value for key, value in base.items()):
            raise _forged()
        if set(token) - {*base, "phase", "previous", "reason"}:
            raise _forged()
        phase, previous, reason = (
            token.get("phase", ROLLOUT),
            token.get("previous", ""),
            token.get("reason", ""),
        )
        if phase not in PHASES or not isinstance(previous, str) or not isinstance(reason, str):
            raise _forged()
        if previous and not RESOURCE_NAME_PATTERN.match(previous):
            raise _forged()
        if phase == ROLLBACK and not previous:
            raise _forged()
        return replace(expected, phase=phase, previous=previous, reason=reason[:REASON_CHARS])
