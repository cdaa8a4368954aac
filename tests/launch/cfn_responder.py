"""Answers custom resources on a moto server, which cannot run their Lambda without docker.

moto 5.2.5 invokes a custom resource's function through docker; without docker the request is
lost and a stack made by CreateStack waits in CREATE_IN_PROGRESS forever. moto marks a custom
resource done when its response URL receives the cfn-response body:

    PUT {endpoint}/cloudformation_{region}/cfnresponse?stack={StackId}
    Content-Type: application/json
    User-Agent: <anything> region/{region}
    {"Status": "SUCCESS", "StackId": ..., "LogicalResourceId": ..., "RequestId": ...,
     "PhysicalResourceId": ..., "Data": {...}}

(moto reads Status, StackId, LogicalResourceId and Data; it does not check RequestId.)
`CustomResourceResponder` polls the server for stacks in CREATE_IN_PROGRESS and answers each of
their `Custom::*` resources with SUCCESS. Stacks made through change sets (`aws cloudformation
deploy`) do not need it: moto marks them complete without waiting.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
import urllib.request
import uuid
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError


class CustomResourceResponder:
    def __init__(self, cloudformation: Any, endpoint_url: str, poll_seconds: float = 0.2) -> None:
        self._cloudformation = cloudformation
        self._endpoint_url = endpoint_url.rstrip("/")
        self._poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.answered: list[tuple[str, str]] = []
        self.errors: list[Exception] = []

    def respond_once(self) -> list[tuple[str, str]]:
        """Answers the custom resources of every stack still being created; returns (stack, logical id)."""
        answered = []
        for stack in self._stacks_being_created():
            resources = self._cloudformation.list_stack_resources(StackName=stack["StackId"])
            for resource in resources["StackResourceSummaries"]:
                if resource["ResourceType"].startswith("Custom::"):
                    self._send_success(stack["StackId"], resource)
                    answered.append((stack["StackName"], resource["LogicalResourceId"]))
        self.answered.extend(answered)
        return answered

    def _stacks_being_created(self) -> list[dict[str, Any]]:
        stacks = self._cloudformation.describe_stacks()["Stacks"]
        return [stack for stack in stacks if stack["StackStatus"] == "CREATE_IN_PROGRESS"]

    def _send_success(self, stack_id: str, resource: dict[str, Any]) -> None:
        region = stack_id.split(":")[3]
        url = f"{self._endpoint_url}/cloudformation_{region}/cfnresponse?" + urllib.parse.urlencode(
            {"stack": stack_id}
        )
        body = {
            "Status": "SUCCESS",
            "StackId": stack_id,
            "RequestId": str(uuid.uuid4()),
            "LogicalResourceId": resource["LogicalResourceId"],
            "PhysicalResourceId": resource.get("PhysicalResourceId") or resource["LogicalResourceId"],
            "Data": {},
        }
        # Without the JSON content type moto reads the body as a form and answers 404; without
        # "region/<region>" in the User-Agent it looks for the stack in us-east-1 (the URL's
        # region is only used for routing).
        headers = {"Content-Type": "application/json", "User-Agent": f"cfn-responder region/{region}"}
        request = urllib.request.Request(url, data=json.dumps(body).encode(), method="PUT", headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="cfn-responder", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self._poll_seconds):
            try:
                self.respond_once()
            except (BotoCoreError, ClientError, OSError) as error:  # a stack deleted mid-answer
                self.errors.append(error)
