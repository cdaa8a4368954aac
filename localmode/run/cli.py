"""`python -m localmode [run|deploy|status|delete|runs|rollback] [options]`: every argument checked
first (one line naming the argument, the rule and a valid example, exit 2, no traceback), then the command.

Stack parameters come as `deploy` takes them: the launch script's flags (its PARAMETER_TABLE), the
SMP_ variables, the settings file (--env-file, SMP_ENV_FILE, else <repository>/pipeline.env), in
that order, over local mode's own values and then the template defaults; scripts/launch_params.py
checks them, the template's Rules included."""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import sys
import tomllib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from localmode import ROOT
from localmode.run.demo import command_run
from localmode.run.kept_world import command_delete, command_rollback, command_runs, command_status
from localmode.run.settings import (
    PACKAGE_TABLE,
    SMOKE_PAYLOAD_OPTION,
    LocalSettings,
    first_rows,
    package_smoke_payload,
)
from scripts import launch_params
from scripts.run_history import positive

COMMANDS = ("run", "deploy", "status", "delete", "runs", "rollback")
TEMPLATE = ROOT / "template" / "sagemaker-pipeline.yaml"
STACK_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,127}")
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]+")
PAYLOAD_SUFFIXES = (".csv", ".json", ".npy")  # what the template's SmokeTestPayloadKey accepts
SET_BY_LOCAL_MODE = frozenset({"LambdaCodeBucket", "LambdaCodeKey", "ContainerCodePrefix"})
# Settings the launch script reads from the same places; local mode takes these two.
SETTINGS = ("stack-name", "region")
IGNORED_SETTINGS = ("SMP_TEMPLATE", "SMP_CODE_BUCKET")  # AWS-only: local mode uses the repository's


class ArgumentProblem(Exception):
    """An expected failure: printed as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ArgumentProblem(f"{message} (see --help)")


def parse(argv: list[str], flags: Mapping[str, str]) -> argparse.Namespace:
    parser = Parser(
        prog="python -m localmode",
        description="The whole sagemaker-pipeline on this machine, no AWS account: moto + a local SageMaker.",
        epilog="Stack parameters: the flags, SMP_ variables and pipeline.env lines of "
        "./launch-cicd-pipeline.sh deploy (see its --help); precedence: flag, environment, settings file, "
        "local mode's value, template default.",
    )
    parser.add_argument(
        "command", nargs="?", default="run", choices=COMMANDS, help="default: run (the full demo)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="run: leave the endpoint and moto running afterwards"
    )
    parser.add_argument(
        "--purge", action="store_true", help="delete: also delete data buckets, images, builds"
    )
    parser.add_argument(
        "--image",
        action="store_true",
        help="build the real image from container/Dockerfile with podman and train/serve in containers",
    )
    parser.add_argument("--last", type=positive, help="runs: only the newest N runs")
    parser.add_argument("--json", action="store_true", help="runs: JSON instead of a table")
    parser.add_argument("--to", default="", help="rollback: a model version number or a run id")
    parser.add_argument("--stack-name", help="SMP_STACK_NAME; default smp-demo")
    parser.add_argument("--region", help="SMP_REGION; default eu-west-1")
    parser.add_argument("--package", type=Path, default=LocalSettings.package, help="the ML package to push")
    parser.add_argument("--workdir", type=Path, default=LocalSettings.workdir)
    parser.add_argument(
        "--data", type=Path, help="training data: a file or a folder, uploaded under TrainingInputPrefix"
    )
    parser.add_argument(
        "--smoke-payload",
        type=Path,
        help="the smoke test's request body (.csv, .json or .npy); default: the package's "
        f"[tool.{PACKAGE_TABLE}] {SMOKE_PAYLOAD_OPTION}, else the data's first rows without the label",
    )
    parser.add_argument("--env-file", type=Path, help="SMP_ENV_FILE; default <repository>/pipeline.env")
    for flag, name in flags.items():
        parser.add_argument(
            f"--{flag}",
            dest="param_" + flag.replace("-", "_"),
            metavar="VALUE",
            help=f"stack parameter {name}",
        )
    return parser.parse_args(argv)


@dataclass
class Sources:
    """Where settings and parameter values come from, by the launch script's precedence."""

    given: dict[str, str]
    environ: Mapping[str, str]
    file_values: dict[str, tuple[str, int]]
    env_file: Path | None

    def value(self, flag: str) -> launch_params.Supplied | None:
        return launch_params.resolve(flag, self.given, self.environ, self.file_values, self.env_file)


def read_sources(
    arguments: argparse.Namespace, flags: Mapping[str, str], environ: Mapping[str, str]
) -> Sources:
    given = {flag: getattr(arguments, "param_" + flag.replace("-", "_")) for flag in flags}
    given = {flag: value for flag, value in given.items() if value is not None}
    for setting in SETTINGS:
        value = getattr(arguments, setting.replace("-", "_"))
        if value is not None:
            given[setting] = value
    named = arguments.env_file is not None or "SMP_ENV_FILE" in environ
    env_file = arguments.env_file or Path(environ.get("SMP_ENV_FILE") or ROOT / "pipeline.env")
    origin = "--env-file" if arguments.env_file is not None else "SMP_ENV_FILE"
    if not env_file.is_file():
        if named:
            raise ArgumentProblem(
                f"{origin} {env_file}: the settings file does not exist (e.g. {origin} pipeline.env, "
                "made from pipeline.env.example)"
            )
        return Sources(given, environ, {}, None)
    known = {launch_params.variable_for_flag(flag) for flag in (*flags, *SETTINGS)} | set(IGNORED_SETTINGS)
    try:
        file_values = launch_params.read_env_file(env_file, known)
    except launch_params.SettingsFileError as error:
        raise ArgumentProblem(f"{error}; lines look like SMP_NOTIFICATION_EMAIL=you@example.com") from error
    except (OSError, UnicodeDecodeError) as error:
        raise ArgumentProblem(f"{origin} {env_file}: cannot be read ({error})") from error
    return Sources(given, environ, file_values, env_file)


def check_names(stack_name: launch_params.Supplied | None, region: launch_params.Supplied | None) -> None:
    if stack_name is not None and not STACK_NAME.fullmatch(stack_name.value):
        raise ArgumentProblem(
            f"{stack_name.origin} {stack_name.value!r}: a stack name is a letter, then letters, digits and "
            "'-' (128 characters at most), e.g. --stack-name smp-demo"
        )
    if region is not None and not REGION.fullmatch(region.value):
        raise ArgumentProblem(
            f"{region.origin} {region.value!r}: a region is a name such as eu-west-1, e.g. --region eu-west-1"
        )


def check_package(package: Path) -> None:
    if not package.is_dir():
        raise ArgumentProblem(
            f"--package {package}: must be the folder of a Python package, e.g. --package examples/iris_model"
        )
    if not any((package / name).is_file() for name in ("pyproject.toml", "setup.py")):
        raise ArgumentProblem(
            f"--package {package}: not a Python package (no pyproject.toml or setup.py), "
            "e.g. --package examples/iris_model"
        )
    try:
        declared = package_smoke_payload(package)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ArgumentProblem(
            f"--package {package}: pyproject.toml is not valid TOML ({error}), see examples/iris_model"
        ) from error
    where = f"--package {package}: [tool.{PACKAGE_TABLE}] {SMOKE_PAYLOAD_OPTION}"
    if declared is not None:
        check_payload(declared, where, f'{SMOKE_PAYLOAD_OPTION} = "smoke.csv"')


def check_payload(path: Path, where: str, example: str) -> None:
    if not path.is_file():
        raise ArgumentProblem(f"{where} {path}: the file does not exist, e.g. {example}")
    if path.suffix not in PAYLOAD_SUFFIXES:
        raise ArgumentProblem(
            f"{where} {path}: a smoke test payload is a .csv, .json or .npy file (as SmokeTestPayloadKey), "
            f"e.g. {example}"
        )
    if path.stat().st_size == 0:
        raise ArgumentProblem(
            f"{where} {path}: the file is empty; put rows of features in it, e.g. {example}"
        )


def data_files(data: Path) -> list[tuple[Path, str]]:
    """The files of --data and their names under the input prefix (a folder keeps its layout)."""
    example = "e.g. --data examples/data/iris.csv or --data my-data/"
    if data.is_file():
        if data.stat().st_size == 0:
            raise ArgumentProblem(f"--data {data}: the file is empty, {example}")
        return [(data, data.name)]
    if not data.is_dir():
        raise ArgumentProblem(f"--data {data}: must be an existing file or folder, {example}")
    files = sorted(
        path
        for path in data.rglob("*")
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(data).parts)
    )
    if not files:
        raise ArgumentProblem(f"--data {data}: the folder holds no file, {example}")
    return [(path, path.relative_to(data).as_posix()) for path in files]


def check_workdir(workdir: Path) -> None:
    if workdir.exists() and not workdir.is_dir():
        raise ArgumentProblem(
            f"--workdir {workdir}: must be a folder (it is a file), e.g. --workdir .local-run"
        )


def check_options(arguments: argparse.Namespace, sources: Sources) -> None:
    command = arguments.command
    if arguments.purge and command != "delete":
        raise ArgumentProblem("--purge: only goes with delete, e.g. delete --purge")
    if arguments.keep and command not in ("run", "deploy"):
        raise ArgumentProblem(f"--keep: only goes with run, e.g. run --keep (not {command})")
    if command in ("status", "delete"):
        for name in ("data", "smoke_payload", "image"):
            if getattr(arguments, name):
                option = "--" + name.replace("_", "-")
                raise ArgumentProblem(f"{option}: only goes with run and deploy, e.g. run {option} ...")
        parameters = [flag for flag in sources.given if flag not in SETTINGS]
        if parameters:
            raise ArgumentProblem(
                f"--{parameters[0]}: stack parameters only go with run and deploy, "
                f"e.g. run --{parameters[0]} ..."
            )


def stack_parameters(sources: Sources, flags: Mapping[str, str]) -> list[launch_params.Supplied]:
    supplied = []
    for flag, name in flags.items():
        found = sources.value(flag)
        if found is not None:
            supplied.append(launch_params.Supplied(name, found.value, found.origin))
    return supplied


def check_parameters(settings: LocalSettings, supplied: list[launch_params.Supplied]) -> None:
    """The values the local stack would have, through the launch script's checker: each value against
    the template, the required ones, the template's Rules and the names derived from the stack name."""
    specs = launch_params.load_parameter_specs(TEMPLATE)
    rules = launch_params.load_template(TEMPLATE).get("Rules") or {}
    own = {item.name for item in supplied}
    local = [
        launch_params.Supplied(name, value, "local mode's value")
        for name, value in settings.stack_parameters().items()
        if name not in own and name not in SET_BY_LOCAL_MODE
    ]
    everything = local + supplied
    errors = launch_params.check(everything, specs, new_stack=True, set_later=SET_BY_LOCAL_MODE)
    if not errors:
        values = launch_params.stack_values(everything, specs, True, {})
        errors = launch_params.rule_problems(rules, values)
        errors += launch_params.name_problems(settings.stack_name, values)
    if errors:
        raise ArgumentProblem("\n".join(errors))


def settings_from(arguments: argparse.Namespace, environ: Mapping[str, str]) -> LocalSettings:
    flags = launch_params.parameter_flags()
    sources = read_sources(arguments, flags, environ)
    check_options(arguments, sources)
    stack_name, region = sources.value("stack-name"), sources.value("region")
    check_names(stack_name, region)
    check_workdir(arguments.workdir)
    settings = LocalSettings(
        workdir=arguments.workdir.resolve(),
        stack_name=stack_name.value if stack_name else LocalSettings.stack_name,
        region=region.value if region else LocalSettings.region,
        package=arguments.package.resolve(),
        container_image=arguments.image,
    )
    if arguments.command in ("status", "delete"):
        return settings
    check_package(arguments.package)
    if arguments.image and shutil.which("podman") is None:
        raise ArgumentProblem(
            "--image: builds and runs the real image with podman, which is not on PATH; install it "
            "(make system-deps) or leave --image out, e.g. run --package examples/iris_model"
        )
    if arguments.smoke_payload is not None:
        check_payload(arguments.smoke_payload, "--smoke-payload", "--smoke-payload samples/smoke.csv")
        settings.smoke_payload = arguments.smoke_payload.resolve()
    supplied = stack_parameters(sources, flags)
    settings.parameters = {item.name: item.value for item in supplied}
    check_parameters(settings, supplied)
    prefix = settings.stack_parameters().get("TrainingInputPrefix", "input/")
    data = arguments.data.resolve() if arguments.data is not None else None
    files = data_files(data) if data is not None else [(settings.data_file, settings.data_file.name)]
    settings.data_uploads = [(path, prefix + name) for path, name in files]
    settings.data_file, settings.data_key = settings.data_uploads[0]
    if (
        settings.smoke_payload_key()
        and settings.smoke_payload is None
        and package_smoke_payload(settings.package) is None
    ):
        try:
            rows = first_rows(settings.data_file)
        except (OSError, UnicodeDecodeError):
            rows = []
        if not rows:
            raise ArgumentProblem(
                f"--data {settings.data_file}: the smoke test's payload would be this file's first rows, but "
                "it holds no CSV text; give one with --smoke-payload FILE, e.g. --smoke-payload smoke.csv"
            )
    return settings


SECRET_FLAG = re.compile(r"--[^=]*(token|secret|password)", re.IGNORECASE)


def refuse_secret_flags(argv: list[str]) -> None:
    """As the launch script does, without echoing the value: no secret is taken on the command line."""
    for item in argv:
        if SECRET_FLAG.match(item):
            raise ArgumentProblem(
                f"{item.split('=', 1)[0]}: no secret is ever taken on the command line, and local mode "
                "needs none, e.g. run --package my_model"
            )


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    try:
        refuse_secret_flags(sys.argv[1:] if argv is None else argv)
        arguments = parse(sys.argv[1:] if argv is None else argv, launch_params.parameter_flags())
        settings = settings_from(arguments, os.environ if environ is None else environ)
        typed = sys.argv[1:] if argv is None else argv
        settings.options = shlex.join(item for item in typed if item not in (*COMMANDS, "--keep"))
    except ArgumentProblem as problem:
        for line in str(problem).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return 2
    warnings.filterwarnings("ignore")  # moto warns about every resource type it skips

    def write(line: str) -> None:
        print(line, flush=True)

    if arguments.command == "status":
        return command_status(settings, write)
    if arguments.command == "rollback":
        return command_rollback(settings, arguments.to, write)
    if arguments.command == "runs":
        return command_runs(settings, arguments.last, arguments.json, write)
    if arguments.command == "delete":
        return command_delete(settings, arguments.purge, write)
    return command_run(
        settings,
        keep=arguments.keep or arguments.command == "deploy",
        write=write,
        story=arguments.command == "run",
    )
