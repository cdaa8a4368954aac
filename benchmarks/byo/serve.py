"""Start the reference stack the way the example's `serve` script does.

nginx (one worker, not daemonised) and gunicorn (`-k gevent`, workers = CPU count unless
MODEL_SERVER_WORKERS, timeout MODEL_SERVER_TIMEOUT or 60 s, bound to a unix socket) run as
children; when either exits, or on SIGTERM, both are stopped. Adapted only in where files
live: `python -m benchmarks.byo.serve --port PORT --run-dir DIR --model-path FILE`.
"""

import argparse
import multiprocessing
import os
import shutil
import signal
import string
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
NGINX_CANDIDATES = ("nginx", "/usr/sbin/nginx")


def nginx_binary() -> str:
    for candidate in NGINX_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    raise SystemExit("nginx is not installed: run `make system-deps` as root (Debian package nginx)")


def write_nginx_conf(run_dir: Path, port: int) -> Path:
    template = string.Template((HERE / "nginx.conf.template").read_text())
    conf = run_dir / "nginx.conf"
    conf.write_text(template.safe_substitute(RUN_DIR=str(run_dir), PORT=str(port)))
    return conf


def start(port: int, run_dir: Path, model_path: Path) -> int:
    workers = int(os.environ.get("MODEL_SERVER_WORKERS", multiprocessing.cpu_count()))
    timeout = os.environ.get("MODEL_SERVER_TIMEOUT", "60")
    run_dir.mkdir(parents=True, exist_ok=True)
    # Started as root, nginx workers drop to an unprivileged user that must reach the socket:
    # the caller gives a run directory whose parents are traversable (see benchmarks.serving).
    run_dir.chmod(0o755)
    conf = write_nginx_conf(run_dir, port)
    print(f"Starting the inference server with {workers} workers.", flush=True)

    env = {**os.environ, "BYO_MODEL_PATH": str(model_path), "PYTHONUNBUFFERED": "TRUE"}
    nginx = subprocess.Popen(
        [nginx_binary(), "-p", str(run_dir), "-e", str(run_dir / "nginx-error.log"), "-c", str(conf)]
    )
    gunicorn = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn",
            "--timeout", str(timeout),
            "-k", "gevent",
            "-b", f"unix:{run_dir}/gunicorn.sock",
            "-w", str(workers),
            "--chdir", str(HERE),
            # Newer gunicorn opens a control socket in $HOME; the example's gunicorn had none.
            "--no-control-socket",
            "wsgi:app",
        ],
        env=env,
    )  # fmt: skip
    children = (nginx, gunicorn)

    def stop_children(*_args) -> None:
        for child, sig in ((nginx, signal.SIGQUIT), (gunicorn, signal.SIGTERM)):
            if child.poll() is None:
                child.send_signal(sig)
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop_children)
    signal.signal(signal.SIGINT, stop_children)
    pids = {child.pid for child in children}
    while True:
        pid, _status = os.wait()
        if pid in pids:
            break
    stop_children()
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--model-path", type=Path, required=True)
    args = parser.parse_args()
    start(args.port, args.run_dir, args.model_path)


if __name__ == "__main__":
    main()
