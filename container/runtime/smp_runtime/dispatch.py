"""`smp-dispatch`: the image's ENTRYPOINT. With arguments it runs them; with none it picks train or serve.

SageMaker runs `IMAGE train` / `IMAGE serve`, which with this ENTRYPOINT become
`smp-dispatch train` / `smp-dispatch serve`: the arguments are exec'd unchanged, so `train` or
`serve` (or `bash`, `python3 -c ...`) replaces this process as PID 1 and receives SIGTERM itself.

Some launchers give no command at all (the SageMaker Python SDK 3.x ModelTrainer in local
container mode writes a compose file with neither command nor entrypoint). Then the role comes
from what SageMaker provides in the container:
- training: `input/config/{resourceconfig,hyperparameters,inputdataconfig}.json` under /opt/ml,
  or TRAINING_JOB_NAME / TRAINING_JOB_ARN in the environment;
- hosting: a non-empty /opt/ml/model, or a SageMaker hosting variable (SAGEMAKER_BIND_TO_PORT,
  SAGEMAKER_SAFE_PORT_RANGE, ...) - hosting never has input/config.
Nothing of either: exit 2 with how to run the image, rather than a guess.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from smp_runtime import env_vars
from smp_runtime.paths import DEFAULT_BASE_DIR

EXIT_NO_ROLE = 2

TRAINING_CONFIG_FILES = ("resourceconfig.json", "hyperparameters.json", "inputdataconfig.json")
TRAINING_VARIABLES = ("TRAINING_JOB_NAME", "TRAINING_JOB_ARN")
HOSTING_VARIABLES = (
    env_vars.SAGEMAKER_BIND_TO_PORT,
    "SAGEMAKER_SAFE_PORT_RANGE",
    "SAGEMAKER_MODEL_SERVER_WORKERS",
    "SAGEMAKER_MULTI_MODEL",
)

HOW_TO_RUN = (
    "smp-dispatch: started without a command and nothing says whether to train or serve.\n"
    "  Give the command: docker run IMAGE train | docker run IMAGE serve | docker run IMAGE <command>\n"
    "  Or provide SageMaker's layout: a training job has {config}/resourceconfig.json (or\n"
    "  hyperparameters.json / inputdataconfig.json, or TRAINING_JOB_NAME set); an endpoint has a\n"
    "  non-empty {model} (or SAGEMAKER_BIND_TO_PORT set).\n"
)


class NoRole(Exception):
    """Started without a command and nothing in the container says train or serve."""


@dataclass(frozen=True)
class Choice:
    command: str | None  # "train", "serve", or None when nothing identifies the role
    reason: str


def base_dir(environ: Mapping[str, str], root: Path) -> Path:
    """/opt/ml (or SAGEMAKER_BASE_DIR) as seen from ``root`` (``/`` in the container, a temp dir in tests)."""
    configured = environ.get(env_vars.SAGEMAKER_BASE_DIR) or DEFAULT_BASE_DIR
    return root / configured.lstrip("/")


def choose(environ: Mapping[str, str], root: Path = Path("/")) -> Choice:
    """train or serve from SageMaker's environment and files; training wins (jobs have model/ too)."""
    base = base_dir(environ, root)
    config = base / "input" / "config"
    for name in TRAINING_CONFIG_FILES:
        if (config / name).is_file():
            return Choice("train", f"found {config / name}")
    for name in TRAINING_VARIABLES:
        if environ.get(name):
            return Choice("train", f"{name} is set")
    model = base / "model"
    if model.is_dir() and any(model.iterdir()):
        return Choice("serve", f"{model} holds a model")
    for name in HOSTING_VARIABLES:
        if environ.get(name):
            return Choice("serve", f"{name} is set")
    return Choice(None, "")


def command_line(
    argv: Sequence[str], environ: Mapping[str, str], root: Path = Path("/")
) -> tuple[list[str], str]:
    """The command to exec and a note for stderr ("" when the arguments are run as given)."""
    if argv:
        return list(argv), ""
    choice = choose(environ, root)
    if choice.command is None:
        base = base_dir(environ, root)
        raise NoRole(HOW_TO_RUN.format(config=base / "input" / "config", model=base / "model"))
    return [choice.command], f"smp-dispatch: no command given; running `{choice.command}` ({choice.reason})\n"


def main() -> int:
    try:
        command, note = command_line(sys.argv[1:], os.environ)
    except NoRole as error:
        sys.stderr.write(str(error))
        return EXIT_NO_ROLE
    sys.stderr.write(note)
    sys.stderr.flush()
    try:
        os.execvp(command[0], command)  # noqa: S606 - the container's command, as docker would run it
    except FileNotFoundError:
        sys.stderr.write(
            f"smp-dispatch: {command[0]}: command not found (PATH={os.environ.get('PATH', '')})\n"
        )
        return 127
    except PermissionError:
        sys.stderr.write(f"smp-dispatch: {command[0]}: not executable\n")
        return 126
    return 0  # not reached: execvp replaces this process
