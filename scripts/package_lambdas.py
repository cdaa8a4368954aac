"""Build dist/lambdas.zip from lambdas/ (the handler modules and the shared package): deterministic
(sorted names, fixed time and modes).

Usage: python -m scripts.package_lambdas [--output PATH]
Prints the zip's path, size in bytes and sha256, one per line.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from scripts.zips import write_deterministic_zip

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "lambdas"
DEFAULT_OUTPUT = ROOT / "dist" / "lambdas.zip"
SIZE_LIMIT = 100 * 1024


def source_files(source: Path = SOURCE) -> list[Path]:
    """Every Python file the functions need: the handlers at the top, the shared package below."""
    return [path for path in source.rglob("*.py") if path.is_file() and "__pycache__" not in path.parts]


def build(output: Path, source: Path = SOURCE) -> Path:
    modules = source_files(source)
    if not modules:
        raise SystemExit(f"no Lambda modules found in {source}")
    write_deterministic_zip(output, modules, source, keep_executable=False)
    size = output.stat().st_size
    if size >= SIZE_LIMIT:
        raise SystemExit(f"{output} is {size} bytes; the limit is {SIZE_LIMIT}")
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help="zip to write (default dist/lambdas.zip)"
    )
    arguments = parser.parse_args(argv)
    output = build(arguments.output)
    print(output)
    print(output.stat().st_size)
    print(hashlib.sha256(output.read_bytes()).hexdigest())
    return 0


if __name__ == "__main__":
    sys.exit(main())
