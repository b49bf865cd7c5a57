"""`risk_job.py --check-config`: load what the job loads at start, without Flink, and say what
it found, so a bad setting or file fails in seconds rather than after a submission.

The summary never shows a secret: API keys live in files or variables the job names, which
are not read here, and passwords in URLs and Kafka properties are masked.
"""

from __future__ import annotations

import sys
from typing import TextIO
from urllib.parse import urlsplit, urlunsplit

import yaml
from pydantic import ValidationError

from jobs.config import SETTINGS, JobConfig, parser
from jobs.settings_cli import format_value
from udfs.patterns.config import CepConfig
from udfs.risk.config import RiskConfig

# Kafka client properties whose values may hold a credential (sasl.jaas.config, ssl.*.password).
_SECRET_PROPERTY_WORDS = ("password", "secret", "jaas", "token", "credential", ".key")
_MASK = "***"


def check_requested(argv: list[str] | None = None) -> bool:
    """Whether the command line asks for --check-config rather than a run."""
    return bool(getattr(parser().parse_args(argv), "check_config", False))


def check_config(cfg: JobConfig, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Validate the patterns and risk files; print the resolved settings. The exit status."""
    problems: list[str] = []
    patterns: CepConfig | None = None
    risk: RiskConfig | None = None
    try:
        patterns = cfg.cep()
        cfg.incidents()
    except (OSError, ValueError, yaml.YAMLError) as error:
        problems.append(f"--patterns {cfg.patterns}: {_reason(error)}")
    try:
        risk = cfg.risk()
    except (OSError, ValueError, yaml.YAMLError) as error:
        problems.append(f"--risk-config {cfg.risk_config}: {_reason(error)}")
    if patterns is None or risk is None:
        print("risk_job.py: invalid configuration\n" + "\n".join(problems), file=err)
        return 1
    print("\n".join(summary(cfg, patterns, risk)), file=out)
    return 0


def _reason(error: Exception) -> str:
    """One line: pydantic's errors as `field.path: why`, others as their message."""
    if isinstance(error, ValidationError):
        return "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or 'file'}: {item['msg']}"
            for item in error.errors()
        )
    return " ".join(str(error).split())


def summary(cfg: JobConfig, patterns: CepConfig, risk: RiskConfig) -> list[str]:
    """The resolved settings, one per line, then what the files and folders hold."""
    width = max(len(s.flag) for s in SETTINGS)
    lines = ["settings (* = not the default):"]
    for setting in SETTINGS:
        value = getattr(cfg, setting.name)
        mark = " " if value == setting.default else "*"
        shown = _shown(setting.name, value)
        if value is None and setting.default_text != shown:
            shown += f" ({setting.default_text})"
        lines.append(f" {mark} {setting.flag:<{width}}  {shown}")
    names = ", ".join(p.name for p in patterns.patterns)
    lines.append(f"patterns: {len(patterns.patterns)} ({names})")
    lines.append(f"risk stage: {_llm(risk)}")
    cache = risk.cache.redis_url
    lines.append(f"verdict cache: {_without_password(cache) if cache else 'off'}")
    lines.append(f"jars: {_jars(cfg)}")
    lines.append("configuration OK")
    return lines


def _llm(risk: RiskConfig) -> str:
    if risk.llm.base_url is None:
        return "no LLM: the local heuristic gives every verdict"
    keys = (
        f"keys from the file {risk.keys_file}"
        if risk.keys_file
        else f"keys from ${risk.keys_env} or the file named by ${risk.keys_file_env}"
    )
    url = _without_password(risk.llm.base_url)
    return f"vision LLM {risk.llm.model} at {url}, {keys} (not read here)"


def _jars(cfg: JobConfig) -> str:
    try:
        jars = cfg.jars()
    except FileNotFoundError as error:
        return f"WARNING {error}"
    return f"{len(jars)} in {jars[0].parent}"


def _shown(name: str, value: object) -> str:
    if name == "kafka_properties":
        pairs = value if isinstance(value, tuple) else ()
        return ", ".join(f"{k}={_property_shown(k, v)}" for k, v in pairs) or "none"
    if isinstance(value, str) and value:
        return _without_password(value)
    return format_value(value)


def _property_shown(key: str, value: str) -> str:
    return _MASK if any(word in key.lower() for word in _SECRET_PROPERTY_WORDS) else value


def _without_password(text: str) -> str:
    """A URL with its password masked (redis://:pw@host -> redis://:***@host)."""
    if "://" not in text or "@" not in text:
        return text
    parts = urlsplit(text)
    if not parts.password:
        return text
    netloc = f"{parts.username or ''}:{_MASK}@{parts.netloc.rpartition('@')[2]}"
    return urlunsplit(parts._replace(netloc=netloc))
