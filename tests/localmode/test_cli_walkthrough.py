"""examples/README.md's walkthrough, typed as written in a fresh clone: from `git clone` to a served
prediction with one's own package and data, in ten commands or fewer.

Two substitutions keep the test off the network: the clone's URL is this checkout (its committed
HEAD, as a fresh clone would have it), and `make venv` (pip and npm from the internet) becomes a link
to this checkout's already built .venv and node_modules. Every other line runs verbatim, with HOME
holding the user's data file the walkthrough copies (`~/my-data.csv`)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from localmode import ROOT

pytestmark = pytest.mark.e2e

WALKTHROUGH = re.compile(r"<!-- walkthrough:.*?-->\n```bash\n(.*?)```", re.DOTALL)


def walkthrough() -> str:
    [block] = WALKTHROUGH.findall((ROOT / "examples" / "README.md").read_text(encoding="utf-8"))
    return block


def commands(block: str) -> list[str]:
    """The commands a user types: lines outside here-documents (a here-document is part of its line)."""
    typed, ending = [], None
    for line in block.splitlines():
        if ending is not None:
            ending = None if line == ending else ending
            continue
        typed.append(line)
        heredoc = re.search(r"<<'?(\w+)'?", line)
        ending = heredoc.group(1) if heredoc else None
    return typed


def test_the_walkthrough_is_ten_commands_or_fewer():
    typed = commands(walkthrough())

    assert typed[0].startswith("git clone ") and typed[1] == "make venv"
    assert sum(len(re.split(r"&&|;", line)) for line in typed) <= 10
    assert typed[-1] == "./launch-cicd-pipeline.sh --local delete --purge"


def test_the_walkthrough_serves_a_prediction_from_ones_own_package_and_data(tmp_path: Path):
    home = tmp_path / "home"
    home.mkdir()
    # the user's data: y = 3a - 2b + 1, label first
    (home / "my-data.csv").write_text(
        "".join(f"{3 * a - 2 * b + 1},{a},{b}\n" for a in range(1, 8) for b in range(5))
    )
    block = walkthrough()
    clone = re.search(r"^git clone (\S+) && cd (\S+)", block, re.M)
    assert clone is not None
    origin = tmp_path / "origin" / "sagemaker-pipeline"  # a clone is named after its source
    origin.parent.mkdir()
    origin.symlink_to(ROOT)
    script = block.replace(clone.group(1), str(origin), 1).replace(
        "\nmake venv\n", f"\nln -s {ROOT / '.venv'} .venv && ln -s {ROOT / 'node_modules'} node_modules\n", 1
    )
    environment = {name: value for name, value in os.environ.items() if not name.startswith(("SMP_", "AWS_"))}
    environment.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1")
    environment.pop("PYTHONPATH", None)
    environment.pop("VIRTUAL_ENV", None)

    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
        check=False,
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Train    job" in output and "validation:rmse 0" in output
    served = output.split("Live prediction from endpoint smp-demo-endpoint", 1)[1].split("Stack outputs")[0]
    answers = re.findall(r"^  (\S+)  ->  (\S+)$", served, re.M)
    assert [row for row, _ in answers] == ["1,0", "1,1", "1,2"]
    assert [round(float(value), 6) for _, value in answers] == [4.0, 2.0, 0.0]
    assert "Removed " in output  # the delete --purge found nothing running and removed the work folder
    assert not (tmp_path / "sagemaker-pipeline" / ".local-run").exists()


LOCAL_MODE_DOC = ROOT / "docs" / "local-mode.md"


def doc_section() -> str:
    text = LOCAL_MODE_DOC.read_text(encoding="utf-8")
    return text.split("## Your package, data and parameters", 1)[1].split("\n## ", 1)[0]


def test_the_local_mode_docs_error_examples_print_what_they_show(tmp_path: Path):
    examples = re.findall(r"^\$ (\./launch-cicd-pipeline\.sh .*)\n(error: .*)$", doc_section(), re.M)
    assert len(examples) == 2
    environment = {name: value for name, value in os.environ.items() if not name.startswith("SMP_")}
    environment["SMP_ENV_FILE"] = str(tmp_path / "empty.env")
    (tmp_path / "empty.env").write_text("")
    for command, shown in examples:
        result = subprocess.run(
            ["bash", "-c", command], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 2
        assert result.stderr.strip() == shown


def test_the_local_mode_docs_run_of_another_package_works_as_written(tmp_path: Path):
    [block] = re.findall(r"```bash\n(.*?)```", doc_section(), re.DOTALL)
    script = block.replace("/tmp/smp-line", str(tmp_path / "work"))
    environment = {name: value for name, value in os.environ.items() if not name.startswith(("SMP_", "AWS_"))}
    environment["SMP_ENV_FILE"] = str(tmp_path / "empty.env")
    (tmp_path / "empty.env").write_text("")

    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "validation:rmse 0" in result.stdout
    assert "Deploy   endpoint smp-demo-endpoint InService" in result.stdout  # the gate let it through
