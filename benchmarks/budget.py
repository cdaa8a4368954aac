"""How much work one bench run does: the full run behind `make bench`, or a tiny smoke run."""

import os
from dataclasses import dataclass

BUDGET_ENV = "BENCH_BUDGET"


@dataclass(frozen=True)
class Budget:
    name: str
    repetitions: int
    duration_s: int
    warmup_s: int
    concurrencies: tuple[int, ...]
    payloads: tuple[str, ...]
    coldstart_runs: int
    pipeline: bool
    pipeline_timeout_s: float
    ceiling_candidates: tuple[str, ...]
    profile_s: int
    lambda_repetitions: int
    forest_concurrency: int = 16  # the model-bound forest case (benchmarks.forest), 1-row CSV clients
    forest_delays_ms: tuple[float, ...] = (0.0,)  # one batching contender per max delay; () skips the case
    # Seconds per forest run: at ~130 requests/s, 3 s hold ~400 requests and their p99 is the 4th worst.
    forest_duration_s: int = 0  # 0: duration_s


FULL = Budget(
    name="full",
    repetitions=3,
    duration_s=3,
    warmup_s=1,
    concurrencies=(1, 8, 32),
    payloads=("csv-1", "csv-100", "json-1"),
    coldstart_runs=3,
    pipeline=True,
    pipeline_timeout_s=150.0,
    ceiling_candidates=("uvicorn", "granian"),
    profile_s=4,
    lambda_repetitions=3,
    forest_delays_ms=(0.0, 1.0, 2.0, 5.0),
    forest_duration_s=8,
)

TINY = Budget(
    name="tiny",
    repetitions=1,
    duration_s=1,
    warmup_s=1,
    concurrencies=(8,),
    payloads=("csv-1",),
    coldstart_runs=1,
    pipeline=False,
    pipeline_timeout_s=0.0,
    ceiling_candidates=("uvicorn",),
    profile_s=0,
    lambda_repetitions=1,
)

BUDGETS = {budget.name: budget for budget in (FULL, TINY)}


def budget_named(name: str | None) -> Budget:
    chosen = name or os.environ.get(BUDGET_ENV) or FULL.name
    try:
        return BUDGETS[chosen]
    except KeyError:
        raise SystemExit(f"unknown bench budget {chosen!r}; choose one of {sorted(BUDGETS)}") from None
