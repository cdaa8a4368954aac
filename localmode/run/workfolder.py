"""One work folder, one owner at a time, each run in a directory of its own.

The process that owns a local world (run, run --keep, deploy) holds an exclusive lock on
<workdir>/lock for its whole life; a second owner waits for it, saying once whose pid it waits for.
status and delete take no lock: they reach the kept world through <workdir>/state.json. Each run
keeps its git repository, logs and SageMaker folders in <workdir>/runs/<time>-<pid>/; builds are
shared by content in <workdir>/build/ (localmode/pipeline/build.py)."""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

KEPT_RUNS = 5  # the newest run directories kept for their logs; older ones are removed


class WorkFolderLock:
    def __init__(self, workdir: Path, write: Callable[[str], None], poll_seconds: float = 0.5) -> None:
        self.path = workdir / "lock"
        self.write = write
        self.poll_seconds = poll_seconds
        self.handle: IO[str] | None = None

    def holder(self) -> str:
        try:
            return self.path.read_text().strip() or "unknown"
        except OSError:
            return "unknown"

    def acquire(self) -> WorkFolderLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        said = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not said:
                    self.write(
                        f"Waiting: the work folder {self.path.parent} is in use by local mode pid "
                        f"{self.holder()} (run, run --keep or deploy); this run starts when it ends. "
                        "Ctrl-C to give up, or pass another --workdir to run side by side."
                    )
                    said = True
                time.sleep(self.poll_seconds)
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self.handle = handle
        return self

    def release(self) -> None:
        if self.handle is not None:
            self.handle.seek(0)
            self.handle.truncate()
            self.handle.flush()
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None


def new_run_dir(workdir: Path) -> Path:
    """This run's own directory; the oldest ones beyond KEPT_RUNS go (the lock holder is the only run)."""
    runs = workdir / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    run_dir = runs / f"{stamp}-{os.getpid()}"
    run_dir.mkdir()
    older = sorted(path for path in runs.iterdir() if path.is_dir() and path != run_dir)
    for path in older[: max(0, len(older) - (KEPT_RUNS - 1))]:
        shutil.rmtree(path, ignore_errors=True)
    return run_dir
