"""The local-mode `run` command: the full story (a push run and a data-triggered rerun), its report, and a
world kept running; the commands on a kept world are in localmode.run.kept_world."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from localmode.aws.iam.engine import EngineUnavailable
from localmode.pipeline.build import BuildError
from localmode.pipeline.deployer import DeployError
from localmode.run import html_report, metric_summaries
from localmode.run.kept_world import state_path, write_state
from localmode.run.report import emails_text, outputs_table, runs_report
from localmode.run.session import LocalPipeline
from localmode.run.settings import LocalSettings
from localmode.run.workfolder import WorkFolderLock, new_run_dir

CONTENT_TYPES = {".csv": "text/csv", ".json": "application/json", ".npy": "application/x-npy"}


def second_data_version(data_file: Path) -> bytes:
    """A new version of the training data: the same rows, reordered, as a re-export would give."""
    lines = [line for line in data_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    return ("\n".join(reversed(lines)) + "\n").encode()


def run_story(pipeline: LocalPipeline, second_run: bool = True) -> None:
    settings, progress = pipeline.settings, pipeline.progress
    pipeline.start_services()
    assert pipeline.moto is not None and pipeline.emulator is not None
    progress("Start", f"moto {pipeline.moto.url}, SageMaker emulator {pipeline.emulator.url}")
    pipeline.deploy()
    pipeline.seed_data()
    pipeline.start_data_trigger()
    pipeline.run_push()
    if second_run:
        data_file, data_key = settings.uploads()[0]
        version = pipeline.upload(data_key, second_data_version(data_file))
        progress("Data", f"uploaded a new version of {data_key} ({version[:8]}) -> data trigger")
        pipeline.play_pending(wait_seconds=20)


def print_report(pipeline: LocalPipeline, write: Callable[[str], None]) -> None:
    settings = pipeline.settings
    write("\nRun records (DynamoDB " + pipeline.outputs["MetaDataStore"] + ")")
    write(runs_report(pipeline.runs()))
    emails = pipeline.emails()
    write(f"\nEmails SNS would have sent ({len(emails)})")
    write(emails_text(emails, settings.email))
    write(f"\nLive prediction from endpoint {pipeline.outputs['EndpointName']}")
    source, body = settings.smoke_payload_source()
    content_type = CONTENT_TYPES.get(settings.smoke_payload_suffix(), "text/csv")
    try:
        answer = pipeline.predict(body, content_type)
        if content_type == "text/csv":
            rows = body.decode().strip().splitlines()
            for row, prediction in zip(rows, answer.strip().splitlines(), strict=False):
                write(f"  {row}  ->  {prediction}")
        else:
            write(f"  {source}  ->  {answer.strip()}")
    except Exception as error:  # noqa: BLE001 - the report says why there is no prediction, and goes on
        write(f"  no prediction: {error}")
    write("\nStack outputs")
    write(outputs_table(pipeline.outputs))
    write_iam_summary(pipeline, write)


def write_html_report(pipeline: LocalPipeline) -> Path:
    """report.html in the run folder: runs, stage times, endpoint and drift metrics, with plots."""
    endpoint = pipeline.outputs.get("EndpointName", "")
    views = html_report.run_views(
        pipeline.runs(),
        {execution.execution_id: execution.stage_seconds for execution in pipeline.executions},
    )
    page = html_report.render(
        f"sagemaker-pipeline local run: stack {pipeline.settings.stack_name}",
        views,
        metric_summaries.endpoint_metrics(pipeline.client("cloudwatch"), endpoint),
        metric_summaries.drift_metrics(pipeline.client("cloudwatch"), endpoint),
    )
    path = pipeline.settings.own_dir / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def write_iam_summary(pipeline: LocalPipeline, write: Callable[[str], None]) -> None:
    """Every request was authorised as AWS would: what was allowed and denied, per role or service."""
    gate = pipeline.iam_gate
    if gate is None:
        return
    write(
        "\nIAM (every request authorised as AWS would: per role, and EventBridge per its targets' policies)"
    )
    for line in gate.summary():
        write(f"  {line}")
    for denial in gate.denials:
        write(f"  denied: {denial}")


def payload_file(pipeline: LocalPipeline) -> Path:
    """The smoke payload as a file in the run's directory, for `--body fileb://` and `curl @file`."""
    settings = pipeline.settings
    path = settings.own_dir / ("payload" + settings.smoke_payload_suffix())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(settings.smoke_payload_source()[1])
    return path


def cli_commands(pipeline: LocalPipeline) -> str:
    """Commands for the kept deployment. AWS CLI v2 reads `--body` as base64 unless it is a file given
    with fileb:// (which v1 reads as raw bytes too), so the payload goes as a file."""
    assert pipeline.moto is not None and pipeline.emulator is not None
    moto, emulator, outputs = pipeline.moto.url, pipeline.emulator.url, pipeline.outputs
    region, stack = pipeline.settings.region, pipeline.settings.stack_name
    payload = payload_file(pipeline)
    content_type = CONTENT_TYPES.get(payload.suffix, "text/csv")
    data_file, data_key = pipeline.settings.uploads()[0]
    prefix = data_key.rsplit("/", 1)[0] + "/" if "/" in data_key else ""
    return "\n".join(
        [
            f"  export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION={region}",
            f"  aws --endpoint-url {moto} dynamodb scan --table-name {outputs['MetaDataStore']}",
            f"  aws --endpoint-url {moto} s3 ls s3://{outputs['TrainingInputBucket']}/{prefix}",
            f"  aws --endpoint-url {moto} cloudformation describe-stacks --stack-name {stack}",
            f"  aws --endpoint-url {emulator} sagemaker describe-endpoint "
            f"--endpoint-name {outputs['EndpointName']}",
            f"  aws --endpoint-url {emulator} sagemaker list-training-jobs",
            f"  aws --endpoint-url {emulator} sagemaker-runtime invoke-endpoint --endpoint-name "
            f"{outputs['EndpointName']} --content-type {content_type} --body fileb://{payload} /dev/stdout",
            f"  curl -s -H 'Content-Type: {content_type}' --data-binary @{payload} "
            f"{emulator}/endpoints/{outputs['EndpointName']}/invocations",
            f"  aws --endpoint-url {moto} s3 cp {data_file} "
            f"s3://{outputs['TrainingInputBucket']}/{prefix}more.csv   # starts a data-triggered run",
            f"  ./launch-cicd-pipeline.sh --local status{workdir_option(pipeline.settings)}",
            f"  ./launch-cicd-pipeline.sh --local delete --purge{workdir_option(pipeline.settings)}",
        ]
    )


def workdir_option(settings: LocalSettings) -> str:
    default = LocalSettings().workdir
    return "" if settings.workdir == default else f" --workdir {settings.workdir}"


def next_steps(pipeline: LocalPipeline, kept: bool) -> list[str]:
    """What to do after a successful run (a kept one already printed its live commands)."""
    option = workdir_option(pipeline.settings)
    typed = f" {pipeline.settings.options}" if pipeline.settings.options else ""
    without_data = re.sub(r" --data(=| )\S+", "", typed)
    lines = ["\nNext steps"]
    if not kept:
        lines.append(
            f"  predict: ./launch-cicd-pipeline.sh --local run --keep{typed}   (keeps the endpoint up and "
            "prints the curl and `aws sagemaker-runtime invoke-endpoint` commands for it)"
        )
    lines += [
        f"  new data: ./launch-cicd-pipeline.sh --local run{without_data} --data PATH   (a file or folder of "
        "CSVs, label first)" + (", or copy it to the bucket with the `aws s3 cp` line above" if kept else ""),
        f"  tear down: ./launch-cicd-pipeline.sh --local delete --purge{option}   (the builds too; "
        + ("stops this deployment)" if kept else "nothing else is left running)"),
    ]
    return lines


def likely_fix(execution: Any, settings: LocalSettings) -> str:
    """The most likely fix for a failed run, from the stage that failed and its message."""
    stage, failure = execution.failed_stage, execution.failure or ""
    logs = settings.own_dir / "logs"
    text = failure.lower()
    if stage == "Build" or "installing" in text:
        return (
            "the package did not install offline: check its pyproject.toml (dependencies must already be "
            "in the image: numpy, scikit-learn, ...) with `python container/install_local.py --target "
            f"DIR {settings.package}`"
        )
    if stage == "Train":
        return (
            "training failed: run the package's train on your data locally (examples/README.md, 'Try it "
            f"locally'); the job's log is under {settings.own_dir / 'sagemaker' / 'training'}"
        )
    if "smoke" in text or "invocation" in text or "payload" in text:
        return (
            "the smoke test's request did not suit the model: give rows of its features with "
            "--smoke-payload FILE or smoke-payload in the package's [tool.sagemaker-pipeline] table"
        )
    if "quality gate" in text or "gate" in text:
        return "the model did not pass the quality gate: change --quality-gate or improve the model"
    if "accessdenied" in text or "not authorized" in text:
        return "a request was denied by IAM (see the IAM summary): the template's policies lack a permission"
    return f"see the stage's message above and the handlers' log {logs / 'lambdas.log'}"


def keep_serving(pipeline: LocalPipeline, write: Callable[[str], None]) -> None:
    """Serve the data trigger, queued executions and the endpoint until Ctrl-C or `delete`."""
    write_state(pipeline)
    write("\nStill running (Ctrl-C stops everything). Try:")
    write(cli_commands(pipeline))
    for line in next_steps(pipeline, kept=True):
        write(line)
    codepipeline = pipeline.client("codepipeline")
    while True:
        try:
            pipeline.play_pending(wait_seconds=1.0)
        except codepipeline.exceptions.PipelineNotFoundException:
            write("The stack was deleted (./launch-cicd-pipeline.sh --local delete): stopping")
            return


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def command_run(settings: LocalSettings, keep: bool, write: Callable[[str], None], story: bool = True) -> int:
    """The owner of a local world: holds the work folder's lock (a second owner waits) and runs in a
    directory of its own under it."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_interrupt)
    lock = WorkFolderLock(settings.workdir, write)
    try:
        lock.acquire()
    except KeyboardInterrupt:
        write("Interrupted while waiting for the work folder: nothing was started")
        return 130
    try:
        if settings.run_dir is None:
            settings.run_dir = new_run_dir(settings.workdir)
        return _run_owned(settings, keep, write, story)
    finally:
        lock.release()


def _run_owned(settings: LocalSettings, keep: bool, write: Callable[[str], None], story: bool) -> int:
    pipeline = LocalPipeline(settings, write)
    write(
        "sagemaker-pipeline local mode: the real template, handlers and runtime on moto + a local SageMaker"
    )
    write(f"Run folder {settings.own_dir}")
    try:
        if story:
            run_story(pipeline)
            print_report(pipeline, write)
            try:
                write(f"\nHTML report (the dashboard's view of this run): {write_html_report(pipeline)}")
            except Exception as error:  # noqa: BLE001 - the run's outcome stands without its report
                write(f"\nno HTML report: {error}")
            failed = [execution for execution in pipeline.executions if execution.status != "Succeeded"]
            if failed:
                pipeline.progress(
                    "Done", f"{len(failed)} of {len(pipeline.executions)} runs FAILED (see above)"
                )
                for execution in failed:
                    stage = execution.failed_stage or "run"
                    write(f"Most likely fix ({stage} failed): {likely_fix(execution, settings)}")
            else:
                pipeline.progress(
                    "Done", f"{len(pipeline.executions)} runs, trained, deployed and served locally"
                )
                if not keep:  # a kept run prints them under its live commands
                    for line in next_steps(pipeline, kept=False):
                        write(line)
        else:
            run_story_deploy_only(pipeline)
        if keep:
            keep_serving(pipeline, write)
        return 1 if any(execution.status != "Succeeded" for execution in pipeline.executions) else 0
    except KeyboardInterrupt:
        write("\nInterrupted: stopping everything")
        return 130
    except (BuildError, DeployError, FileNotFoundError, EngineUnavailable) as error:
        write(f"\nlocal mode stopped: {error}")
        write(f"Most likely fix: {stopped_fix(error)}")
        write_iam_summary(pipeline, write)
        return 1
    finally:
        if threading.current_thread() is threading.main_thread():
            # a second Ctrl-C (or the SIGTERM of `delete`) must not cut the clean-up short
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        pipeline.close()
        state = state_path(settings)
        if state.is_file() and json.loads(state.read_text()).get("pid") == os.getpid():
            state.unlink()


def stopped_fix(error: Exception) -> str:
    if isinstance(error, EngineUnavailable):
        return "the IAM policy engine is not installed: run `make venv` (needs Node.js 20+ for `npm ci`)"
    if isinstance(error, BuildError):
        return "the package did not install offline: its dependencies must already be in the image"
    if isinstance(error, DeployError):
        return "the stack did not deploy: check the parameters named above (--help lists them)"
    return "a file named above is missing: check --package, --data and --smoke-payload"


def run_story_deploy_only(pipeline: LocalPipeline) -> None:
    pipeline.start_services()
    pipeline.deploy()
    pipeline.seed_data()
    pipeline.start_data_trigger()
