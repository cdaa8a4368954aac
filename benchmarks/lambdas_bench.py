"""Lambda handlers: module import and first-invocation time in a cold process, and the zip size.

Each handler runs in a new process (a cold Lambda execution environment), invoked once with
its documented event sample (tests/events) against benchmarks.lambda_world; every repetition
gets a freshly seeded world. The zip size is that of the zip `make package` ships.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.lambda_probe import MARKER
from benchmarks.lambda_world import LambdaWorld
from scripts import package_lambdas


def handler_modules(lambdas_dir: Path) -> list[str]:
    return sorted(path.stem for path in lambdas_dir.glob("*.py"))


def describe_answers(answers: list[dict]) -> str:
    """What the handler told CodePipeline or CloudFormation, in a few words."""
    said = []
    for answer in answers:
        request = answer["request"]
        if answer["operation"] == "PutJobSuccessResult":
            said.append("job continues" if request.get("continuationToken") else "job succeeded")
        elif answer["operation"] == "PutJobFailureResult":
            said.append("job failed: " + request.get("failureDetails", {}).get("message", "")[:80])
        elif answer["operation"] == "CloudFormationResponse":
            said.append(f"CloudFormation {request.get('Status')}")
        else:
            said.append(answer["operation"])
    return "; ".join(said)


def probe(lambdas_dir: Path, module: str, event: dict, environment: dict[str, str]) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as event_file:
        json.dump(event, event_file)
    try:
        env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
        env.update(environment)
        completed = subprocess.run(
            [sys.executable, "-m", "benchmarks.lambda_probe", str(lambdas_dir), module, event_file.name],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=env,
            cwd=lambdas_dir.parent,
        )
    finally:
        Path(event_file.name).unlink()
    for line in completed.stdout.splitlines():
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER) :])
    tail = (completed.stderr or completed.stdout).strip().splitlines()[-1:]
    return {"error": f"probe exited {completed.returncode}: {' '.join(tail)}"}


def zip_bytes(lambdas_dir: Path) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-zip-") as scratch:
        return package_lambdas.build(Path(scratch) / "lambdas.zip", lambdas_dir).stat().st_size


def measure(repo: Path, repetitions: int) -> dict:
    lambdas_dir = repo / "lambdas"
    events_dir = repo / "tests" / "events"
    modules = handler_modules(lambdas_dir)
    runs: dict[str, list[dict]] = {module: [] for module in modules}
    for _ in range(repetitions):
        with LambdaWorld() as world:
            environment = world.environment()
            for module in modules:
                event = world.event_for(module, events_dir)
                if event is None:
                    runs[module].append({"error": "no event sample for this handler"})
                    continue
                result = probe(lambdas_dir, module, event, environment)
                result["answers"] = describe_answers(world.take_answers())
                runs[module].append(result)
    handlers = []
    for module, results in runs.items():
        timed = [result for result in results if "import_s" in result]
        if not timed:
            handlers.append({"module": module, "error": [results[0].get("error", "not measured")]})
            continue
        first = timed[0]
        outcome = ", ".join(part for part in (first["outcome"], first["answers"]) if part)
        handlers.append(
            {
                "module": module,
                "import_s": statistics.median(result["import_s"] for result in timed),
                "boto3_import_s": statistics.median(result["boto3_import_s"] for result in timed),
                "first_invocation_s": statistics.median(result["first_invocation_s"] for result in timed),
                "client_creation_s": statistics.median(result["client_creation_s"] for result in timed),
                "outcome": outcome,
            }
        )
    return {"handlers": handlers, "zip_bytes": zip_bytes(lambdas_dir)}
