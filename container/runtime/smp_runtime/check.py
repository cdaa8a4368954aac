"""`smp-check`: validates the user's entry points (the image build runs it; train and serve reuse it)."""

from __future__ import annotations

import argparse
import sys

from smp_runtime.entry_points import FOR_BUILD, FOR_SERVE, FOR_TRAIN, EntryPointError, discover, require


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="smp-check", description=__doc__)
    parser.add_argument(
        "--for",
        dest="purpose",
        choices=(FOR_BUILD, FOR_TRAIN, FOR_SERVE),
        default=FOR_BUILD,
        help="what the entry points must support (build = train and serve)",
    )
    args = parser.parse_args(argv)
    try:
        points = require(discover(), args.purpose)
    except EntryPointError as error:
        print(f"smp-check: {error}", file=sys.stderr)
        return 2
    server = "own server (serve)" if not points.uses_builtin_server else "built-in server"
    print(f"smp-check: OK {points.describe()} [{server}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
