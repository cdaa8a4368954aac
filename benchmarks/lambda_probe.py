"""One cold Lambda execution environment: `python -m benchmarks.lambda_probe LAMBDAS_DIR MODULE EVENT_FILE`.

Imports the handler module (timed) and calls `handler(event, context)` once (timed), then
prints one JSON line. Run in a fresh process per handler by benchmarks.lambdas_bench.
"""

import json
import sys
import time
from pathlib import Path

MARKER = "LAMBDA_PROBE "


class Context:
    function_name = "bench"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:bench"
    memory_limit_in_mb = 256
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "bench"

    def __init__(self) -> None:
        self._deadline = time.monotonic() + 300

    def get_remaining_time_in_millis(self) -> int:
        return int((self._deadline - time.monotonic()) * 1000)


def _time_client_creation() -> dict[str, float]:
    """Accumulate the time boto3 spends building clients and resources (the handlers are untouched)."""
    import boto3.session

    spent = {"seconds": 0.0, "depth": 0}
    for name in ("client", "resource"):
        original = getattr(boto3.session.Session, name)

        def timed(*args, _original=original, **kwargs):
            started = time.perf_counter()
            spent["depth"] += 1
            try:
                return _original(*args, **kwargs)
            finally:
                spent["depth"] -= 1
                if spent["depth"] == 0:  # a resource builds its client inside: count the outer call once
                    spent["seconds"] += time.perf_counter() - started

        setattr(boto3.session.Session, name, timed)
    return spent


def main() -> None:
    lambdas_dir, module_name, event_file = sys.argv[1:4]
    event = json.loads(Path(event_file).read_text())
    sys.path.insert(0, lambdas_dir)
    started = time.perf_counter()
    import boto3  # noqa: F401 - timed on its own: every handler imports it through common

    sdk_imported = time.perf_counter()
    creating = _time_client_creation()
    module = __import__(module_name)
    imported = time.perf_counter()
    outcome = "returned"
    try:
        module.handler(event, Context())
    except Exception as error:  # noqa: BLE001 - the outcome is reported, not handled
        outcome = f"raised {type(error).__name__}: {str(error)[:120]}"
    finished = time.perf_counter()
    timings = {
        "import_s": imported - started,
        "boto3_import_s": sdk_imported - started,
        "first_invocation_s": finished - imported,
        "client_creation_s": creating["seconds"],
        "outcome": outcome,
    }
    print(MARKER + json.dumps(timings), flush=True)


if __name__ == "__main__":
    main()
