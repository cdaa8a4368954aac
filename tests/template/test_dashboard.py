"""The stack's CloudWatch dashboard: valid JSON after substitution, and every widget's metric one that
something the stack runs publishes (the local run asserts they arrive: tests/localmode/test_drift_e2e.py)."""

from __future__ import annotations

import json
from pathlib import Path

from scripts.cfn_template import load_template

ROOT = Path(__file__).resolve().parents[2]
# (namespace, metric) -> the code that publishes it
EMITTERS = {
    ("SageMakerPipeline", "PipelineRuns"): "lambdas/common/pipeline_metrics.py",
    ("SageMakerPipeline", "TrainingDurationSeconds"): "lambdas/common/pipeline_metrics.py",
    ("SageMakerPipeline", "TrainingBillableSeconds"): "lambdas/common/pipeline_metrics.py",
    ("SageMakerPipeline", "TrainingCostUSD"): "lambdas/common/pipeline_metrics.py",
    ("SageMakerPipeline", "DriftViolations"): "lambdas/drift_check.py",
    ("SageMakerPipeline", "FeatureDriftScore"): "lambdas/drift_check.py",
    **{
        ("AWS/SageMaker", name): "localmode/aws/sagemaker/endpoint_metrics.py"  # SageMaker itself on AWS
        for name in ("Invocations", "ModelLatency", "Invocation4XXErrors", "Invocation5XXErrors")
    },
    **{
        ("/aws/sagemaker/Endpoints", name): "localmode/aws/sagemaker/endpoint_metrics.py"
        for name in ("CPUUtilization", "MemoryUtilization")
    },
}


def dashboard(
    stack: str = "demo-stack", endpoint: str = "demo-stack-endpoint", region: str = "eu-west-1"
) -> dict:
    body, variables = load_template()["Resources"]["PipelineDashboard"]["Properties"]["DashboardBody"][
        "Fn::Sub"
    ]
    assert set(variables) == {"Endpoint"}
    text = body.replace("${AWS::Region}", region).replace("${AWS::StackName}", stack)
    return json.loads(text.replace("${Endpoint}", endpoint))


def widget_metrics(stack: str, endpoint: str) -> set[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """(namespace, metric name, dimensions) of every metric a widget shows."""
    found = set()
    for widget in dashboard(stack, endpoint)["widgets"]:
        for line in widget["properties"]["metrics"]:
            fields = [item for item in line if isinstance(item, str)]
            namespace, name, pairs = fields[0], fields[1], fields[2:]
            found.add((namespace, name, tuple(zip(pairs[::2], pairs[1::2], strict=True))))
    return found


def test_the_body_is_json_with_the_stack_and_endpoint_filled_in():
    widgets = dashboard()["widgets"]
    assert len(widgets) == 8
    assert {widget["properties"]["region"] for widget in widgets} == {"eu-west-1"}
    assert "${" not in json.dumps(widgets)


def test_every_widget_metric_is_published_by_something_the_stack_runs():
    for namespace, name, dimensions in widget_metrics("demo-stack", "demo-stack-endpoint"):
        emitter = EMITTERS.get((namespace, name))
        assert emitter, f"nothing publishes {namespace} {name}"
        assert name in (ROOT / emitter).read_text(), f"{emitter} does not publish {name}"
        keys = {key for key, _value in dimensions}
        assert keys in (
            {"StackName"},
            {"StackName", "Status"},
            {"EndpointName"},
            {"EndpointName", "VariantName"},
        )


def test_the_dashboard_covers_the_runs_training_endpoint_and_drift():
    shown = {name for _namespace, name, _dimensions in widget_metrics("s", "e")}
    assert shown >= {
        "PipelineRuns",
        "TrainingDurationSeconds",
        "TrainingCostUSD",
        "Invocations",
        "ModelLatency",
        "Invocation4XXErrors",
        "Invocation5XXErrors",
        "CPUUtilization",
        "MemoryUtilization",
        "DriftViolations",
    }
