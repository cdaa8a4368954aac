"""Build dist/container.zip, the image's build context (container/ without caches and build output).

CodeBuild unpacks it next to the user's repository (CONTAINER_BUNDLE_URI) and runs
container/buildspec.yml, which the launch script uploads beside it. Deterministic: sorted names,
fixed time and modes, so an unchanged container/ gives the same bytes and the same S3 key.

Usage: python -m scripts.package_container [--output PATH]
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "container"
DEFAULT_OUTPUT = ROOT / "dist" / "container.zip"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644
EXECUTABLE_MODE = 0o100755
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
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(source).as_posix(), date_time=FIXED_TIME)
            info.external_attr = (EXECUTABLE_MODE if path.stat().st_mode & 0o111 else FILE_MODE) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            archive.writestr(info, path.read_bytes())
    partial.replace(output)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    arguments = parser.parse_args(argv)
    print(build(arguments.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
