"""The IAM policy engine, @cloud-copilot/iam-simulate, run as one long-lived node process.

It is installed from npm by `make venv` (`npm ci`, pinned in package.json and package-lock.json)
and never bundled: AGPL-3.0 code stays in its own process. Requests go one JSON line at a time.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localmode import ROOT
from localmode.aws.processes import Spawn, terminate_group

ENGINE_SCRIPT = Path(__file__).resolve().parent / "engine.mjs"
NODE_MODULES = ROOT / "node_modules"
PACKAGE = NODE_MODULES / "@cloud-copilot" / "iam-simulate"
RESULTS = ("Allowed", "ImplicitlyDenied", "ExplicitlyDenied")


class EngineUnavailable(RuntimeError):
    """The engine cannot run here; the message says how to install it."""


class EngineError(RuntimeError):
    """The engine could not evaluate a request (an invalid policy, action or ARN)."""


@dataclass(frozen=True)
class Simulation:
    """One request as the engine evaluates it (@cloud-copilot/iam-simulate's Simulation shape)."""

    principal: str
    action: str
    resource: str
    account_id: str
    context: dict[str, str | list[str]]
    identity_policies: list[dict[str, Any]]
    permission_boundaries: list[dict[str, Any]]
    resource_policy: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        simulation: dict[str, Any] = {
            "request": {
                "principal": self.principal,
                "action": self.action,
                "resource": {"resource": self.resource, "accountId": self.account_id},
                "contextVariables": self.context,
            },
            "identityPolicies": self.identity_policies,
        }
        if self.permission_boundaries:
            simulation["permissionBoundaryPolicies"] = self.permission_boundaries
        if self.resource_policy:
            simulation["resourcePolicy"] = self.resource_policy
        return simulation


class PolicyEngine:
    """Start once, ``decide`` many times (a few ms each once warm), ``close`` at the end."""

    def __init__(self, spawn: Spawn = subprocess.Popen) -> None:
        self._spawn = spawn
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._next_id = 0

    def start(self) -> PolicyEngine:
        node = shutil.which("node")
        if node is None:
            raise EngineUnavailable("local mode authorises requests with Node.js 20+: install nodejs")
        if not PACKAGE.is_dir():
            raise EngineUnavailable(
                f"the IAM policy engine is not installed in {NODE_MODULES}: run `npm ci` in {ROOT} "
                "(make venv does it)"
            )
        self._process = self._spawn(
            [node, str(ENGINE_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            cwd=ROOT,
            start_new_session=True,
        )
        return self

    def decide(self, simulation: Simulation) -> str:
        """Allowed, ImplicitlyDenied or ExplicitlyDenied."""
        with self._lock:
            process = self._process
            if process is None or process.poll() is not None:
                raise EngineUnavailable("the IAM policy engine is not running")
            assert process.stdin is not None and process.stdout is not None
            self._next_id += 1
            process.stdin.write(json.dumps({"id": self._next_id, "simulation": simulation.as_json()}) + "\n")
            process.stdin.flush()
            line = process.stdout.readline()
        if not line:
            raise EngineUnavailable("the IAM policy engine stopped")
        answer = json.loads(line)
        if "error" in answer or answer.get("result") not in RESULTS:
            raise EngineError(f"{simulation.action} on {simulation.resource}: {answer.get('error', answer)}")
        return answer["result"]

    def close(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        terminate_group(process, grace_seconds=2)
        if process.stdout is not None:
            process.stdout.close()
