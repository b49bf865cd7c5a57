"""Headless Chromium over the DevTools protocol, and the real `traffic-dashboard` process,
for the dashboard's browser tests."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from stack.paths import REPO

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync",
                  "--window-size=1366,768", "--remote-debugging-port=0"]  # fmt: skip
KEYS = {"Tab": 9, "Enter": 13}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


class Chromium:
    """A headless Chromium with a fresh profile and one page, spoken to over CDP."""

    def __init__(self, profile: Path) -> None:
        binary = shutil.which("chromium") or shutil.which("chromium-browser")
        if binary is None:
            pytest.fail("chromium is not installed (./dev setup installs Debian's chromium)")
        self.proc = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        self.profile = profile
        self.next_id = 0
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def connect(self, session: aiohttp.ClientSession) -> None:
        port_file = self.profile / "DevToolsActivePort"
        for _ in range(200):
            if port_file.exists() and port_file.read_text().strip():
                break
            await asyncio.sleep(0.1)
        port = port_file.read_text().split()[0]
        async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
            pages = [t for t in await response.json() if t["type"] == "page"]
        self.ws = await session.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        assert self.ws is not None
        self.next_id += 1
        await self.ws.send_json({"id": self.next_id, "method": method, "params": params})
        while True:  # events are not needed: skip them
            message = json.loads((await self.ws.receive(timeout=60)).data)
            if message.get("id") == self.next_id:
                assert "error" not in message, message["error"]
                result: dict[str, Any] = message["result"]
                return result

    async def js(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                                 awaitPromise=True)  # fmt: skip
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    async def wait_js(self, expression: str, timeout_s: float, what: str) -> float:
        """Seconds until ``expression`` is truthy on the page."""
        start = time.monotonic()
        while time.monotonic() - start < timeout_s:
            if await self.js(expression):
                return time.monotonic() - start
            await asyncio.sleep(0.05)
        raise AssertionError(f"page never showed {what} within {timeout_s} s")

    async def viewport(self, width: int, height: int, mobile: bool = False) -> None:
        await self.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                        deviceScaleFactor=1, mobile=mobile)  # fmt: skip
        await asyncio.sleep(0.2)  # let the layout settle

    async def key(self, name: str) -> None:
        """A real key press (keyboard navigation, not a scripted click)."""
        code = KEYS[name]
        text = {"Enter": "\r"}.get(name, "")
        await self.send("Input.dispatchKeyEvent", type="keyDown", key=name, code=name,
                        windowsVirtualKeyCode=code, text=text)  # fmt: skip
        await self.send("Input.dispatchKeyEvent", type="keyUp", key=name, code=name,
                        windowsVirtualKeyCode=code)  # fmt: skip

    async def tap(self, selector_js: str) -> None:
        """A real mouse click in the middle of the element (scrolled into view first)."""
        centre = "[r.left + r.width / 2, r.top + r.height / 2]"
        box = await self.js(f"(() => {{ const e = {selector_js}; e.scrollIntoView({{block: "
                            f"'center'}}); const r = e.getBoundingClientRect(); return {centre};"
                            " })()")  # fmt: skip
        for kind in ("mousePressed", "mouseReleased"):
            await self.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1],
                            button="left", clickCount=1)  # fmt: skip

    async def overflow_px(self) -> int:
        """How far the page is wider than the window (0: no sideways scrolling)."""
        width = await self.js("document.documentElement.scrollWidth - window.innerWidth")
        return int(width)

    async def screenshot(self, path: Path) -> None:
        shot = await self.send("Page.captureScreenshot", format="png")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, 15)
        self.proc.wait(10)


def start_dashboard(
    port: int, redis_url: str, token: str, kafka: str = "none"
) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "dashboard.server", "--port", str(port), "--redis-url", redis_url,
         "--kafka-bootstrap", kafka],
        env={**os.environ, "TRAFFIC_DASHBOARD_TOKEN": token}, cwd=REPO,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
            return proc
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("dashboard did not start")


def stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(5)
