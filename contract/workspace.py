"""Where the product keeps its working files (jars, model and wheel caches, the sample).

`TRAFFIC_HOME` when set (images set it); else the source checkout this code runs from, so
`./dev` and a clone work without configuration; else `~/.local/share/traffic-risk` for a
wheel installed outside any checkout. The runtime never imports the local stack for this.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_PARENT = Path(__file__).resolve().parent.parent


def home() -> Path:
    """The working folder (see the module docstring)."""
    configured = os.environ.get("TRAFFIC_HOME")
    if configured:
        return Path(configured)
    if (_PACKAGE_PARENT / "pyproject.toml").is_file() and (_PACKAGE_PARENT / "contract").is_dir():
        return _PACKAGE_PARENT
    return Path.home() / ".local" / "share" / "traffic-risk"


def flink_jars_dir() -> Path:
    """Jars the job loads (Kafka connector, the contract check), unless --jars-dir names
    another folder: `./dev setup` fetches them from Maven Central into `.jvm/flink`."""
    configured = os.environ.get("TRAFFIC_FLINK_JARS_DIR")
    return Path(configured) if configured else home() / ".jvm" / "flink"
