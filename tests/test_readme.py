"""No README statement that the code contradicts: every `likeness` command and every
Python example of the README that needs no network checkpoint runs, as it is, from a copy
of the clone's root (the bundled samples)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from likeness.cli import main
from likeness.evaluation.catalog.registry import METRICS, parse_metric_names
from likeness.study import open_study
from study_support import complete, free_port, prefer, start_serve_process

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def _commands() -> list[list[str]]:
    commands = []
    for block in _blocks("sh"):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("#")[0].strip()
            if line.startswith("likeness "):
                commands.append(shlex.split(line)[1:])
    return commands


def _needs_weights(arguments: list[str]) -> bool:
    if arguments[0] in ("fid", "kid", "weights"):
        return True
    if "--metrics" not in arguments:
        return arguments[0] == "style"  # the whole protocol: networks
    names = parse_metric_names(arguments[arguments.index("--metrics") + 1],
                               command=arguments[0])
    return any(METRICS[name].network for name in names)


COMMANDS = _commands()


@pytest.fixture
def clone_root(tmp_path, monkeypatch):
    shutil.copytree(REPO / "samples", tmp_path / "samples")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_readme_has_runnable_examples():
    assert sum(1 for c in COMMANDS if not _needs_weights(c)) >= 2
    assert _blocks("python")


@pytest.mark.parametrize("arguments", [c for c in COMMANDS if not _needs_weights(c)
                                       and c[0] != "study"],
                         ids=lambda c: " ".join(c[:2]))
def test_every_readme_command_runs(arguments, clone_root):
    result = CliRunner().invoke(main, [*arguments, "--no-cache"])
    assert result.exit_code == 0, result.output
    if "--out-dir" in arguments:
        folder = clone_root / arguments[arguments.index("--out-dir") + 1]
        assert (folder / "methods.md").is_file()


@pytest.mark.parametrize("number", range(len(_blocks("python"))))
def test_every_readme_python_example_runs(number, clone_root):
    code = _blocks("python")[number]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=240, cwd=clone_root,
                            env={**os.environ, "LIKENESS_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr[-3000:]


def test_the_readme_study_runs_in_order_with_participants_in_between(clone_root):
    """create → serve (three participants answer over HTTP) → export → analyze."""
    steps = [c for c in COMMANDS if c[0] == "study"]
    assert [c[1] for c in steps] == ["create", "serve", "export", "analyze"]
    runner = CliRunner()
    for arguments in steps:
        if arguments[1] != "serve":
            result = runner.invoke(main, arguments)
            assert result.exit_code == 0, result.output
            continue
        folder = clone_root / arguments[2]
        port = free_port()  # the README's port may be taken here
        server = start_serve_process(folder, port)
        try:
            for _ in range(3):
                complete(port, prefer(open_study(folder), "jpeg"))
        finally:
            server.kill()
            server.wait(timeout=30)
    folder = clone_root / steps[-1][steps[-1].index("--out-dir") + 1]
    assert (folder / "methods.md").is_file()
