"""The CloudWatch metrics SageMaker publishes for an endpoint, published by the emulator per invocation.

AWS/SageMaker (dimensions EndpointName, VariantName): Invocations, Invocation4XXErrors,
Invocation5XXErrors, ModelLatency and OverheadLatency (microseconds). /aws/sagemaker/Endpoints (same
dimensions): CPUUtilization and MemoryUtilization of the instance, percent; here those of the serving
process, sampled at each invocation (CPU: its CPU time over the wall time since the last sample,
summed over cores as AWS sums them).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

INVOCATION_NAMESPACE = "AWS/SageMaker"
INSTANCE_NAMESPACE = "/aws/sagemaker/Endpoints"
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _dimensions(endpoint: str, variant: str) -> list[dict[str, str]]:
    return [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]


def invocation_metrics(
    endpoint: str, variant: str, status: int, model_seconds: float, overhead_seconds: float
) -> list[dict[str, Any]]:
    dimensions = _dimensions(endpoint, variant)
    counts = {
        "Invocations": 1.0,
        "Invocation4XXErrors": 1.0 if 400 <= status < 500 else 0.0,
        "Invocation5XXErrors": 1.0 if status >= 500 else 0.0,
    }
    data = [
        {"MetricName": name, "Dimensions": dimensions, "Value": value, "Unit": "None"}
        for name, value in counts.items()
    ]
    for name, seconds in (("ModelLatency", model_seconds), ("OverheadLatency", overhead_seconds)):
        data.append(
            {"MetricName": name, "Dimensions": dimensions, "Value": seconds * 1e6, "Unit": "Microseconds"}
        )
    return data


def _process_cpu_seconds(pid: int) -> float | None:
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return (utime + stime + cutime + cstime) / _CLOCK_TICKS


def _process_memory_percent(pid: int) -> float | None:
    try:
        status = open(f"/proc/{pid}/status").read()
        meminfo = open("/proc/meminfo").read()
    except OSError:
        return None
    rss = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    total = next((int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal:")), 0)
    return 100.0 * rss / total if total else None


@dataclass
class UtilizationSampler:
    """CPU and memory of one serving process, as percentages since the previous sample."""

    pid: int
    _last: tuple[float, float] | None = field(default=None)

    def sample(self, endpoint: str, variant: str) -> list[dict[str, Any]]:
        cpu_seconds = _process_cpu_seconds(self.pid)
        memory = _process_memory_percent(self.pid)
        now = time.monotonic()
        data: list[dict[str, Any]] = []
        dimensions = _dimensions(endpoint, variant)
        if cpu_seconds is not None:
            previous = self._last or (now - 1e-3, cpu_seconds)
            cpu = 100.0 * (cpu_seconds - previous[1]) / max(now - previous[0], 1e-3)
            self._last = (now, cpu_seconds)
            data.append(
                {
                    "MetricName": "CPUUtilization",
                    "Dimensions": dimensions,
                    "Value": max(cpu, 0.0),
                    "Unit": "Percent",
                }
            )
        if memory is not None:
            data.append(
                {
                    "MetricName": "MemoryUtilization",
                    "Dimensions": dimensions,
                    "Value": memory,
                    "Unit": "Percent",
                }
            )
        return data
