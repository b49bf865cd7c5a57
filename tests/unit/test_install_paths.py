"""Lean by default: what `./dev setup` (and so CI and the demo) installs from uv.lock holds no
torch and one OpenCV build; the YOLO stack comes only with the opt-in `yolo` extra."""

from __future__ import annotations

import re
import shlex

from k8s.tools.fetch_schemas import REPO
from tests.unit.k8s.test_dockerfiles import locked_closure

TORCH_STACK = {"torch", "torchvision", "ultralytics"}


def dev_sync_args() -> list[str]:
    """`UV_SYNC_ARGS` of ./dev: the extras and groups every `./dev` command syncs."""
    found = re.search(r'^UV_SYNC_ARGS="([^"]*)"', (REPO / "dev").read_text(), flags=re.M)
    assert found, "./dev no longer sets UV_SYNC_ARGS"
    return shlex.split(found.group(1))


def test_dev_setup_syncs_the_lean_extras_and_the_dev_group():
    args = dev_sync_args()
    extras = {args[i + 1] for i, a in enumerate(args) if a == "--extra"}
    assert extras == {"job", "detector"}
    assert "--group" in args and args[args.index("--group") + 1] == "dev"
    # CI runs plain `./dev setup`, never the opt-in.
    assert "--yolo" not in (REPO / ".ci" / "run").read_text()


def test_the_lean_closure_has_no_torch_and_one_opencv():
    closure = locked_closure("job,detector", dev_group=True)
    assert not TORCH_STACK & closure.keys()
    assert "supervision" in closure  # ByteTrack without torch
    assert "opencv-python-headless" in closure
    markers = set(closure.get("opencv-python", "").split("|")) - {""}
    assert markers <= {"sys_platform == 'never'"}, markers


def test_the_yolo_extra_brings_the_torch_stack():
    assert locked_closure("detector,yolo").keys() >= TORCH_STACK
