"""Build dist/container.zip, the image's build context (container/ without caches and build output).

CodeBuild unpacks it next to the user's repository (CONTAINER_BUNDLE_URI) and runs
container/buildspec.yml, which the launch script uploads beside it. Deterministic: sorted names,
fixed time and modes, so an unchanged container/ gives the same bytes and the same S3 key.

Usage: python -m scripts.package_container [--output PATH]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scripts.zips import write_deterministic_zip

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "container"
DEFAULT_OUTPUT = ROOT / "dist" / "container.zip"
SKIPPED_DIRECTORIES = {"__pycache__", "build", "dist", ".pytest_cache"}


def bundled_files(source: Path) -> list[Path]:
    files = []
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if not path.is_file() or path.suffix == ".pyc":
            continue
        if any(part in SKIPPED_DIRECTORIES or part.endswith(".egg-info") for part in relative.parts):
            continue
        files.append(path)
    return files


def build(output: Path, source: Path = SOURCE) -> Path:
    files = bundled_files(source)
    if not files:
        raise SystemExit(f"nothing to bundle in {source}")
    return write_deterministic_zip(output, files, source, keep_executable=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    arguments = parser.parse_args(argv)
    print(build(arguments.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
