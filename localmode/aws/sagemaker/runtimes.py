"""How the emulator runs an image URI: the runtime's executables as processes, or a podman image."""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from localmode import ROOT
from localmode.aws.awsmodel import ApiError

PODMAN_CONF = ROOT / "container" / "podman-containers.conf"
SANDBOX = Path(__file__).resolve().with_name("sandbox.py")
# What a training or serving process inherits from us; everything else (AWS_* above all) stays out,
# as it would outside a container.
INHERITED_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "CONTAINERS_CONF")


class Runtime(Protocol):
    def command(
        self, program: str, base_dir: Path, port: int | None, environment: dict[str, str]
    ) -> tuple[list[str], dict[str, str]]:
        """The argv and process environment that run `program` (train | serve) against base_dir, with
        `environment` (the job's or the model's variables) visible to it."""


def base_environment() -> dict[str, str]:
    inherited = ((name, os.environ.get(name)) for name in INHERITED_VARIABLES)
    env = {name: value for name, value in inherited if value is not None}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass(frozen=True)
class ProcessRuntime:
    """The runtime and the user package installed in a directory (bin/ holds `train` and `serve`).

    Each job and endpoint runs in sandbox.py's namespaces: /opt/ml and /tmp of its own and, for a
    package's own server (which may listen on a fixed 8080), a network of its own with the given
    port forwarded to its 8080. sandboxed=False runs the executables directly (tests of the runtime)."""

    bin_dir: Path
    python_path: tuple[Path, ...] = ()
    extra_bin_dirs: tuple[Path, ...] = ()
    own_server: bool = False
    sandboxed: bool = True

    def command(
        self, program: str, base_dir: Path, port: int | None, environment: dict[str, str]
    ) -> tuple[list[str], dict[str, str]]:
        env = base_environment()
        env.update(environment)
        bin_dirs = [str(path) for path in (self.bin_dir, *self.extra_bin_dirs)]
        env["PATH"] = os.pathsep.join([*bin_dirs, env.get("PATH", "/usr/bin:/bin")])
        if self.python_path:
            env["PYTHONPATH"] = os.pathsep.join(str(path) for path in self.python_path)
        env["SAGEMAKER_BASE_DIR"] = str(base_dir)
        forwarded = port is not None and program == "serve" and self.own_server
        if port is not None and not forwarded:
            env["SAGEMAKER_BIND_TO_PORT"] = str(port)
        argv = [str(self.bin_dir / program)]
        if not self.sandboxed:
            return argv, env
        wrapper = [sys.executable, str(SANDBOX), "--opt-ml", str(base_dir), "--tmp", f"{base_dir}.tmp"]
        if forwarded:
            wrapper += ["--forward", str(port)]
        return [*wrapper, "--", *argv], env


@dataclass(frozen=True)
class PodmanRuntime:
    """A locally built image, run the way SageMaker runs it (`IMAGE train` / `IMAGE serve`)."""

    image: str

    def command(
        self, program: str, base_dir: Path, port: int | None, environment: dict[str, str]
    ) -> tuple[list[str], dict[str, str]]:
        argv = ["podman", "run", "--rm", "--network", "none" if port is None else "bridge"]
        argv += ["-v", f"{base_dir}:/opt/ml"]
        for name, value in sorted(environment.items()):
            argv += ["-e", f"{name}={value}"]
        if port is not None:
            argv += ["-p", f"127.0.0.1:{port}:8080"]
        argv += [self.image, program]
        env = base_environment()
        env.setdefault("CONTAINERS_CONF", str(PODMAN_CONF))
        return argv, env


@dataclass
class ImageCatalog:
    """Image URIs pushed by the local build, mapped to how to run them."""

    _runtimes: dict[str, Runtime] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def register(self, image_uri: str, runtime: Runtime) -> None:
        with self._lock:
            self._runtimes[image_uri] = runtime

    def resolve(self, image_uri: str) -> Runtime:
        with self._lock:
            runtime = self._runtimes.get(image_uri)
        if runtime is None:
            raise ApiError(
                "ValidationException",
                f"Image {image_uri} does not exist or the role cannot pull it (no local build registered it)",
            )
        return runtime
