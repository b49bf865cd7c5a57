"""The OpenAI-compatible stub server (`stack/openai_stub.py`) as a subprocess for tests."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.request import Request, urlopen

from stack.paths import REPO


@contextmanager
def running_stub(*options: str) -> Iterator[str]:
    """Start the stub on a free port with `options`; yield its base URL (without /v1)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "stack.openai_stub", "--port", "0", *options],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on"), line
        yield "http://" + line.split()[-1]
    finally:
        proc.terminate()
        proc.wait(10)


def post(url: str, body: dict[str, Any]) -> Any:
    request = Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urlopen(request) as resp:
        return json.load(resp)


def get(url: str) -> Any:
    with urlopen(url) as resp:
        return json.load(resp)
