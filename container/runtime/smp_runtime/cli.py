"""The console scripts: `train`, `serve` and `smp-check` (see runtime/pyproject.toml).

Each parses its arguments, calls into its core (training_runner, serving.server, entry_points)
and returns the exit code. Each imports only what it runs, inside its function: `serve` never
imports the training runner, `train` never imports the server, and only `smp-check` imports argparse.
"""

from __future__ import annotations

import sys

EXIT_ENTRY_POINT_ERROR = 2  # serve and smp-check, with the snippet to add on stderr

CHECK_DESCRIPTION = (
    "`smp-check`: validates the user's entry points (the image build runs it; train and serve reuse it)."
)


def train() -> int:
    """`train`: runs the user's training entry point; 0, 1 on any failure, 143 on SIGTERM."""
    from smp_runtime import training_runner
    from smp_runtime.paths import SageMakerPaths

    training_runner.stop_on_sigterm()
    return training_runner.run(SageMakerPaths.from_environment())


def serve() -> int:
    """`serve`: the user's own `serve` entry point when declared, else the built-in server."""
    import logging

    from smp_runtime.entry_points import FOR_SERVE, EntryPointError, discover, require
    from smp_runtime.paths import SageMakerPaths
    from smp_runtime.serving import server

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    paths = SageMakerPaths.from_environment()
    try:
        points = require(discover(), FOR_SERVE)
    except EntryPointError as error:
        print(f"serve: {error}", file=sys.stderr)
        return EXIT_ENTRY_POINT_ERROR
    return server.run(points, paths)


def check(argv: list[str] | None = None) -> int:
    """`smp-check [--for build|train|serve]`: 0 when the entry points support that, else 2."""
    import argparse

    from smp_runtime.entry_points import (
        FOR_BUILD,
        FOR_SERVE,
        FOR_TRAIN,
        EntryPointError,
        discover,
        import_all,
        require,
    )

    parser = argparse.ArgumentParser(prog="smp-check", description=CHECK_DESCRIPTION)
    parser.add_argument(
        "--for",
        dest="purpose",
        choices=(FOR_BUILD, FOR_TRAIN, FOR_SERVE),
        default=FOR_BUILD,
        help="what the entry points must support (build = train and serve)",
    )
    parser.add_argument(
        "--no-import",
        action="store_true",
        help="check the declarations only (where the package's dependencies are not installed)",
    )
    args = parser.parse_args(argv)
    try:
        points = require(discover(), args.purpose)
        if not args.no_import:
            import_all(points)
    except EntryPointError as error:
        print(f"smp-check: {error}", file=sys.stderr)
        return EXIT_ENTRY_POINT_ERROR
    if args.purpose == FOR_BUILD and points.uses_builtin_server:
        # The image keeps the installed package, not its sources: keep its [tool.sagemaker-pipeline] table.
        from smp_runtime.serving.settings import SettingsError, record_package_table

        try:
            recorded = record_package_table(points.distribution)
        except SettingsError as error:
            print(f"smp-check: {error}", file=sys.stderr)
            return EXIT_ENTRY_POINT_ERROR
        if recorded:
            print(f"smp-check: {recorded}")
    server = "own server (serve)" if not points.uses_builtin_server else "built-in server"
    print(f"smp-check: OK {points.describe()} [{server}]")
    return 0
