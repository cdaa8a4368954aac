"""Deterministic zip files: sorted names, a fixed time and fixed modes, so the same files always give
the same bytes (and so the same S3 key and digest)."""

from __future__ import annotations

import zipfile
from pathlib import Path

FIXED_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644
EXECUTABLE_MODE = 0o100755


def write_deterministic_zip(output: Path, files: list[Path], source: Path, *, keep_executable: bool) -> Path:
    """Zip ``files`` under their paths relative to ``source``; written whole or not at all."""
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in sorted(files, key=lambda path: path.relative_to(source).as_posix()):
            info = zipfile.ZipInfo(path.relative_to(source).as_posix(), date_time=FIXED_TIME)
            executable = keep_executable and path.stat().st_mode & 0o111
            info.external_attr = (EXECUTABLE_MODE if executable else FILE_MODE) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            archive.writestr(info, path.read_bytes())
    partial.replace(output)
    return output
