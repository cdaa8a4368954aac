"""Build dist/lambdas.zip from lambdas/*.py: deterministic (sorted names, fixed time and modes).

Usage: python scripts/package_lambdas.py [--output PATH]
Prints the zip's path, size in bytes and sha256, one per line.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "lambdas"
DEFAULT_OUTPUT = ROOT / "dist" / "lambdas.zip"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644
SIZE_LIMIT = 100 * 1024


def build(output: Path, source: Path = SOURCE) -> Path:
    modules = sorted(path for path in source.glob("*.py") if path.is_file())
    if not modules:
        raise SystemExit(f"no Lambda modules found in {source}")
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for module in modules:
            info = zipfile.ZipInfo(module.name, date_time=FIXED_TIME)
            info.external_attr = FILE_MODE << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            archive.writestr(info, module.read_bytes())
    partial.replace(output)
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
