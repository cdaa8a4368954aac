"""Process mode's stand-in for a container: one training job or endpoint in its own namespaces.

    python sandbox.py --opt-ml DIR --tmp DIR [--forward PORT] -- PROGRAM [ARGS...]

runs PROGRAM with DIR mounted at /opt/ml and its own /tmp (a mount namespace with bind mounts), so
code that hard-codes SageMaker's paths runs unchanged and concurrent jobs never share them. With
--forward, PROGRAM also gets a network namespace of its own: it listens on 8080 as in a container,
and 127.0.0.1:PORT on this machine is forwarded to it (through a unix socket, which crosses network
namespaces), so two endpoints of one stack (blue/green, concurrent runs) never collide.

Run as root, it uses `unshare --mount [--net]`; otherwise a user namespace (`unshare --user
--map-root-user`). Where neither works, a training job runs without the private /opt/ml (with
SAGEMAKER_BASE_DIR pointing at DIR, and a note in its log saying so), and a --forward server fails,
saying to run it in a container (`--image`). Standard library only: it runs outside the project.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import fcntl
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

OPT_ML = Path("/opt/ml")
CONTAINER_PORT = 8080
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
PR_SET_PDEATHSIG = 1
Connect = Callable[[], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


def unshare_flags(network: bool) -> list[str]:
    # --pid: the job's processes live and die together, as in a container: when the first one (this
    # script's inner half) ends, the kernel ends every process the job started.
    flags = ["--mount", "--pid", "--kill-child"] + (["--net"] if network else [])
    if os.geteuid() != 0:
        flags = ["--user", "--map-root-user", *flags]
    return flags


def namespace_problem(network: bool) -> str | None:
    """Why this machine cannot give a process its own mount (and network) namespace, or None."""
    if shutil.which("unshare") is None:
        return "`unshare` (util-linux) is not installed"
    probe = subprocess.run(
        ["unshare", *unshare_flags(network), "--fork", "true"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        return (probe.stderr or probe.stdout).strip() or f"unshare exited with {probe.returncode}"
    return None


# --- inside the namespaces ---------------------------------------------------------------------


def _mount(*arguments: str) -> None:
    result = subprocess.run(["mount", *arguments], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise OSError(f"mount {' '.join(arguments)}: {result.stderr.strip()}")


def _make_opt_ml_mountpoint(scratch: Path) -> None:
    """/opt/ml for the bind mount, without touching this machine's /opt: when it is missing, /opt
    becomes a tmpfs holding the original entries (bound back) and an empty ml/."""
    if OPT_ML.is_dir():
        return
    opt = OPT_ML.parent
    if not opt.is_dir():
        raise OSError(f"{opt} does not exist on this machine, so /opt/ml cannot be mounted")
    original = scratch / "host-opt"
    original.mkdir(parents=True, exist_ok=True)
    _mount("--bind", str(opt), str(original))
    _mount("-t", "tmpfs", "-o", "mode=755", "tmpfs", str(opt))
    for entry in original.iterdir():
        placeholder = opt / entry.name
        if entry.is_symlink():
            placeholder.symlink_to(os.readlink(entry))
            continue
        if entry.is_dir():
            placeholder.mkdir()
        else:
            placeholder.touch()
        _mount("--bind", str(entry), str(placeholder))
    OPT_ML.mkdir()


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        request = struct.pack("16sH", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(probe, SIOCGIFFLAGS, request)[:18])[1]
        fcntl.ioctl(probe, SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | IFF_UP))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        writer.close()


async def _relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, connect: Connect) -> None:
    try:
        upstream_reader, upstream_writer = await connect()
    except OSError:
        writer.close()  # not listening yet: the caller sees a closed connection and retries
        return
    await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
    for side in (writer, upstream_writer):
        side.close()


def _serve_relay(start: Callable[[], Awaitable[asyncio.AbstractServer]]) -> threading.Event:
    """Runs a relay server on an event loop in a daemon thread; the event is set once it listens."""
    listening = threading.Event()

    async def main() -> None:
        server = await start()
        listening.set()
        async with server:
            await server.serve_forever()

    threading.Thread(target=asyncio.run, args=(main(),), daemon=True, name="sandbox-relay").start()
    return listening


def _parent_death_signal() -> Callable[[], None]:
    """What a child runs before exec so that the kernel SIGKILLs it when the process that started it
    dies (prctl PR_SET_PDEATHSIG): a killed sandbox then takes its namespaces' processes with it.
    libc is loaded here, in the parent: the child only makes the call."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def set_signal() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    return set_signal


def _start(program: Sequence[str], env: dict[str, str], die_with_parent: bool = False) -> subprocess.Popen:
    before_exec = _parent_death_signal() if die_with_parent else None
    return subprocess.Popen(list(program), env=env, preexec_fn=before_exec)


def _wait(child: subprocess.Popen) -> int:
    def forward(signum: int, frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    code = child.wait()
    return 128 - code if code < 0 else code


def _run_program(program: Sequence[str], env: dict[str, str]) -> int:
    return _wait(_start(program, env))


def _paths_under_tmp(args: argparse.Namespace) -> list[Path]:
    """This machine's folders under /tmp that the job still needs once /tmp is its own (its working
    directory, its code, its interpreter and virtualenv, whose scripts name it in their #! line):
    the fewest that cover them all, by the path given and by the path it resolves to."""
    needed = [Path.cwd(), Path(args.opt_ml), Path(args.program[0]).parent]
    needed += [Path(sys.executable).parent, Path(sys.prefix), Path(sys.base_prefix)]
    for variable in ("PYTHONPATH", "PATH"):
        needed += [Path(item) for item in os.environ.get(variable, "").split(os.pathsep) if item]
    tmp = Path("/tmp")  # noqa: S108 - this machine's /tmp, not a file in it
    candidates = {
        form for path in needed if path.is_dir() for form in (Path(os.path.abspath(path)), path.resolve())
    }
    under = sorted(path for path in candidates if tmp in path.parents)
    return [path for path in under if not any(other in path.parents for other in under)]


def _own_tmp(job_tmp: Path, keep: list[Path]) -> None:
    """Mounts `job_tmp` at /tmp, with the folders in `keep` bound back at their places inside it."""
    for path in keep:
        mountpoint = job_tmp / path.relative_to(path.anchor, "tmp")
        mountpoint.mkdir(parents=True, exist_ok=True)
        _mount("--bind", str(path), str(mountpoint))
    _mount("--rbind", str(job_tmp), "/tmp")  # noqa: S108 - the job's own /tmp, as in its container


def inner(args: argparse.Namespace) -> int:
    scratch = Path(args.tmp) / ".sandbox"
    keep = _paths_under_tmp(args)
    _make_opt_ml_mountpoint(scratch)
    _mount("--bind", args.opt_ml, str(OPT_ML))
    _own_tmp(Path(args.tmp), keep)
    env = dict(os.environ, SAGEMAKER_BASE_DIR=str(OPT_ML), TMPDIR="/tmp")  # noqa: S108
    if args.socket:
        _loopback_up()
        env["SAGEMAKER_BIND_TO_PORT"] = str(CONTAINER_PORT)

        def connect() -> Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
            return asyncio.open_connection("127.0.0.1", CONTAINER_PORT)

        def start() -> Awaitable[asyncio.AbstractServer]:
            return asyncio.start_unix_server(lambda r, w: _relay(r, w, connect), path=args.socket)

        _serve_relay(start).wait(10)
    return _run_program(args.program, env)


# --- on this machine ---------------------------------------------------------------------------


def outer(args: argparse.Namespace) -> int:
    network = args.forward is not None
    for folder in (args.opt_ml, args.tmp):
        Path(folder).mkdir(parents=True, exist_ok=True)
    problem = namespace_problem(network)
    if problem and network:
        print(
            f"sandbox: this server listens on a fixed port and needs a network namespace of its own, "
            f"which this machine cannot give ({problem}). Run it in a container instead: "
            "./launch-cicd-pipeline.sh --local run --image",
            file=sys.stderr,
            flush=True,
        )
        return 1
    if problem:
        print(
            f"sandbox: note: no private /opt/ml for this job ({problem}); SAGEMAKER_BASE_DIR={args.opt_ml}. "
            "Code that hard-codes /opt/ml needs a container: ./launch-cicd-pipeline.sh --local run --image",
            file=sys.stderr,
            flush=True,
        )
        env = dict(os.environ, SAGEMAKER_BASE_DIR=args.opt_ml, TMPDIR=args.tmp)
        return _run_program(args.program, env)
    command = ["unshare", *unshare_flags(network), "--fork", "--", sys.executable, __file__, "--inner"]
    command += ["--opt-ml", args.opt_ml, "--tmp", args.tmp]
    with tempfile.TemporaryDirectory(prefix="smp-sandbox-", dir=_socket_parent()) as sockets:
        path = str(Path(sockets) / "serve.sock")  # short: unix socket paths end at 108 bytes
        if network:
            command += ["--socket", path]
        # Started before any thread of ours (the relay): the child's pre-exec step must not inherit a
        # lock another thread held at the fork.
        child = _start([*command, "--", *args.program], dict(os.environ), die_with_parent=True)
        if network:

            def connect() -> Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
                return asyncio.open_unix_connection(path)

            def start() -> Awaitable[asyncio.AbstractServer]:
                return asyncio.start_server(lambda r, w: _relay(r, w, connect), "127.0.0.1", args.forward)

            _serve_relay(start).wait(10)
            print(
                f"sandbox: own network namespace; 127.0.0.1:{args.forward} forwards to its port "
                f"{CONTAINER_PORT}; /opt/ml and /tmp of its own",
                file=sys.stderr,
                flush=True,
            )
        return _wait(child)


SHORT_SOCKET_PARENT = "/dev/shm"  # noqa: S108 - a private mkdtemp below it; short enough for a socket path


def _socket_parent() -> str | None:
    return SHORT_SOCKET_PARENT if os.access(SHORT_SOCKET_PARENT, os.W_OK) else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--opt-ml", required=True, help="the job's directory, mounted at /opt/ml")
    parser.add_argument("--tmp", required=True, help="the job's directory, mounted at /tmp")
    parser.add_argument("--forward", type=int, help="host port forwarded to the program's port 8080")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--socket", help=argparse.SUPPRESS)
    parser.add_argument("program", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.program[:1] == ["--"]:
        args.program = args.program[1:]
    if not args.program:
        parser.error("no program to run (give it after --)")
    try:
        return inner(args) if args.inner else outer(args)
    except OSError as error:
        print(f"sandbox: {error}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
