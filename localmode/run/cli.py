"""`python -m localmode [run|deploy|status|delete] [--keep] [--purge] [--stack-name NAME] [--region R]`:
the arguments as settings, then the command."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from localmode.run.demo import command_delete, command_run, command_status
from localmode.run.settings import LocalSettings

COMMANDS = ("run", "deploy", "status", "delete")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m localmode",
        description="The whole sagemaker-pipeline on this machine, no AWS account: moto + a local SageMaker.",
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
    parser.add_argument("--stack-name", default=LocalSettings.stack_name)
    parser.add_argument("--region", default=LocalSettings.region)
    parser.add_argument("--package", type=Path, default=LocalSettings.package, help="the ML package to push")
    parser.add_argument("--workdir", type=Path, default=LocalSettings.workdir)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse(sys.argv[1:] if argv is None else argv)
    if not any((arguments.package / name).is_file() for name in ("pyproject.toml", "setup.py")):
        print(
            f"--package {arguments.package}: not a Python package (no pyproject.toml or setup.py)",
            file=sys.stderr,
        )
        return 2
    warnings.filterwarnings("ignore")  # moto warns about every resource type it skips
    settings = LocalSettings(
        workdir=arguments.workdir.resolve(),
        stack_name=arguments.stack_name,
        region=arguments.region,
        package=arguments.package.resolve(),
        container_image=arguments.image,
    )

    def write(line: str) -> None:
        print(line, flush=True)

    if arguments.command == "status":
        return command_status(settings, write)
    if arguments.command == "delete":
        return command_delete(settings, arguments.purge, write)
    return command_run(
        settings,
        keep=arguments.keep or arguments.command == "deploy",
        write=write,
        story=arguments.command == "run",
    )
