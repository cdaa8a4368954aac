"""The endpoint metrics the emulator publishes as SageMaker does (names, units, dimensions)."""

from __future__ import annotations

import os

from localmode.aws.sagemaker.endpoint_metrics import UtilizationSampler, invocation_metrics


def test_an_invocation_counts_once_and_its_errors_by_class():
    ok = {item["MetricName"]: item for item in invocation_metrics("ep", "AllTraffic", 200, 0.0015, 0.0)}
    assert ok["Invocations"]["Value"] == 1.0
    assert (ok["Invocation4XXErrors"]["Value"], ok["Invocation5XXErrors"]["Value"]) == (0.0, 0.0)
    assert ok["ModelLatency"]["Value"] == 1500.0 and ok["ModelLatency"]["Unit"] == "Microseconds"
    assert ok["Invocations"]["Dimensions"] == [
        {"Name": "EndpointName", "Value": "ep"},
        {"Name": "VariantName", "Value": "AllTraffic"},
    ]
    client_error = {
        item["MetricName"]: item["Value"] for item in invocation_metrics("ep", "v", 415, 0.001, 0.0)
    }
    server_error = {
        item["MetricName"]: item["Value"] for item in invocation_metrics("ep", "v", 500, 0.001, 0.0)
    }
    assert (client_error["Invocation4XXErrors"], client_error["Invocation5XXErrors"]) == (1.0, 0.0)
    assert (server_error["Invocation4XXErrors"], server_error["Invocation5XXErrors"]) == (0.0, 1.0)


def test_cpu_and_memory_of_the_serving_process_are_percentages():
    sampler = UtilizationSampler(os.getpid())
    sum(range(200_000))  # some CPU time to measure
    data = {item["MetricName"]: item for item in sampler.sample("ep", "AllTraffic")}
    assert set(data) == {"CPUUtilization", "MemoryUtilization"}
    assert data["CPUUtilization"]["Value"] >= 0.0 and 0.0 < data["MemoryUtilization"]["Value"] < 100.0
    assert data["MemoryUtilization"]["Unit"] == "Percent"
    assert UtilizationSampler(2**22 + 12345).sample("ep", "AllTraffic") == []  # a process that is gone
