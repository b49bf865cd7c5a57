"""The commands the README and docs/ tell a reader to run exist after `./dev setup`.

The rule: a ```bash block in README.md or docs/*.md holds commands to run from the repository
root after `./dev setup`, with .venv/bin on PATH (an activated venv). Plain ``` blocks are
diagrams, listings or commands for another machine (docker, kubectl). Every program such a
command names must resolve; the cheap ones (ending in `--help` or `--version`) run verbatim.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from stack.paths import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
VENV_BIN = REPO / ".venv" / "bin"
FENCE = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)
SUBSTITUTION = re.compile(r"\$\(([^)]*)\)")
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
CHEAP = ("--help", "--version")


@dataclass(frozen=True)
class Command:
    source: str  # file:line
    text: str  # continuation lines joined, comment dropped

    def programs(self) -> list[str]:
        """The program of the command and of each `$(...)` inside it."""
        found = [inner.split()[0] for inner in SUBSTITUTION.findall(self.text) if inner.split()]
        words = [w for w in shlex.split(SUBSTITUTION.sub("x", self.text)) if w]
        while words and ASSIGNMENT.match(words[0]):
            words.pop(0)
        return [*([words[0]] if words else []), *found]

    def cheap(self) -> bool:
        return self.text.split()[-1] in CHEAP


def commands(path: Path) -> list[Command]:
    """Every command of the ```bash blocks of ``path``."""
    text = path.read_text()
    found: list[Command] = []
    for block in FENCE.finditer(text):
        first_line = text.count("\n", 0, block.start(1)) + 1
        pending, start = "", first_line
        for offset, line in enumerate(block.group(1).splitlines()):
            if not pending:
                start = first_line + offset
            pending += line
            if pending.endswith("\\"):
                pending = pending[:-1] + " "
                continue
            command = " ".join(shlex.split(pending, comments=True))
            if command:
                found.append(Command(f"{path.relative_to(REPO)}:{start}", pending.split(" #")[0]))
            pending = ""
    return found


ALL = [c for path in DOCS for c in commands(path)]


def venv_path() -> str:
    return os.pathsep.join([str(VENV_BIN), os.environ.get("PATH", "")])


def resolves(program: str) -> bool:
    if "/" in program:
        return os.access(REPO / program, os.X_OK)
    return shutil.which(program, path=venv_path()) is not None


def test_the_docs_have_commands_to_check() -> None:
    named = {p for c in ALL for p in c.programs()}
    assert {"./dev", "flink", ".venv/bin/python", ".venv/bin/traffic-sim"} <= named
    assert any(c.cheap() for c in ALL)


@pytest.mark.skipif(not VENV_BIN.is_dir(), reason="no .venv: run ./dev setup")
@pytest.mark.parametrize("command", ALL, ids=lambda c: c.source)
def test_every_program_a_command_names_resolves(command: Command) -> None:
    missing = [p for p in command.programs() if not resolves(p)]
    assert not missing, f"{command.source}: `{command.text}` names {missing}, not on the PATH"


@pytest.mark.skipif(not VENV_BIN.is_dir(), reason="no .venv: run ./dev setup")
@pytest.mark.parametrize("command", [c for c in ALL if c.cheap()], ids=lambda c: c.source)
def test_cheap_commands_run_verbatim(command: Command) -> None:
    done = subprocess.run(
        command.text, shell=True, cwd=REPO, env={**os.environ, "PATH": venv_path()},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"{command.source}: {command.text}\n{done.stderr[-2000:]}"
    assert done.stdout.strip()
