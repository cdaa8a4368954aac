"""UpdateEndpoint's DeploymentConfig for the stack's DeploymentStrategy: a blue/green update, all at once,
canary or linear, rolled back by SageMaker when one of the stack's alarms fires. The Deploy stage and
`launch-cicd-pipeline.sh rollback` update the endpoint with the same policy."""

from __future__ import annotations

from typing import Any

BAKE_SECONDS = 300


def deployment_config(strategy: str, alarm_names: tuple[str, ...]) -> dict[str, Any]:
    """UpdateEndpoint DeploymentConfig for the chosen strategy, with alarm auto-rollback."""
    routing: dict[str, Any] = {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}
    if strategy == "Canary":
        routing = {
            "Type": "CANARY",
            "WaitIntervalInSeconds": BAKE_SECONDS,
            "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
        }
    elif strategy == "Linear":
        routing = {
            "Type": "LINEAR",
            "WaitIntervalInSeconds": BAKE_SECONDS,
            "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 25},
        }
    config: dict[str, Any] = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": BAKE_SECONDS if alarm_names else 0,
        }
    }
    if alarm_names:
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": name} for name in alarm_names]}
    return config
