"""A frozen pydantic model as a command line: flags, environment variables and a YAML file.

Each field states its name, type, default and help once (`Field(description=...)`); its flag
(`--field-name`), environment variable (prefix + `FIELD_NAME`) and YAML key (the field name)
follow from that. `Option` in a field's `Annotated` metadata covers the exceptions: another
flag or variable name, none, or a default better described in words. Values resolve as
flags > environment > YAML file > defaults, and pydantic converts and checks every one, so a
bad value gets the same one-line error, naming its option, wherever it came from.
"""

from __future__ import annotations

import argparse
import os
import textwrap
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, NoReturn, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

Settings = TypeVar("Settings", bound=BaseModel)


@dataclass(frozen=True)
class Option:
    """A field's command-line details, where those derived from its name do not fit."""

    flag: str | None = None  # default: --field-name
    env: str | None = None  # full variable name; default: the prefix + FIELD_NAME
    no_env: bool = False  # no environment variable (flags and the file only)
    metavar: str | None = None
    default_text: str | None = None  # shown in --help and summaries instead of the value


@dataclass(frozen=True)
class Setting:
    """One field as its flag, environment variable and help text present it."""

    name: str
    flag: str
    env: str | None
    description: str
    default: Any
    default_text: str
    choices: tuple[str, ...] | None
    is_switch: bool  # a bool: a bare flag, `VAR=true` in the environment
    is_repeatable: bool  # a tuple: the flag may be given many times
    metavar: str | None
    empty_is_value: bool  # an empty variable is a value (strings), else it counts as unset

    def help(self) -> str:
        """The --help text: description, [VARIABLE] and the default (argparse-escaped)."""
        env = ""
        if self.env:
            env = f" [{self.env}=true]" if self.is_switch else f" [{self.env}]"
        return f"{self.description}{env} (default: {self.default_text})".replace("%", "%%")


def _members(annotation: Any) -> tuple[Any, ...]:
    """The types a union admits, or the one type."""
    if get_origin(annotation) in (Union, types.UnionType):
        return get_args(annotation)
    return (annotation,)


def format_value(value: Any) -> str:
    """A setting's value as --help and summaries show it (`off`, `unset`, `5`)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "on" if value else "off"
    if value in ((), ""):
        return "none" if value == () else "empty"
    return str(value)


def _setting(name: str, field: FieldInfo, env_prefix: str) -> Setting:
    option = next((m for m in field.metadata if isinstance(m, Option)), Option())
    if not field.description:
        raise TypeError(f"setting {name} has no description (its --help text)")
    members = _members(field.annotation)
    literal = next((m for m in members if get_origin(m) is Literal), None)
    default = field.get_default(call_default_factory=True)
    env = None if option.no_env else option.env or env_prefix + name.upper()
    return Setting(
        name=name,
        flag=option.flag or "--" + name.replace("_", "-"),
        env=env,
        description=field.description,
        default=default,
        default_text=option.default_text or format_value(default),
        choices=tuple(str(c) for c in get_args(literal)) if literal else None,
        is_switch=field.annotation is bool,
        is_repeatable=any(get_origin(m) is tuple for m in members),
        metavar=option.metavar,
        empty_is_value=str in members,
    )


def settings_of(model: type[BaseModel], env_prefix: str) -> list[Setting]:
    """Every field of `model` as a setting, in declaration order."""
    return [_setting(name, field, env_prefix) for name, field in model.model_fields.items()]


class SettingsCli(Generic[Settings]):
    """Builds the parser for `model` and resolves its values from all sources."""

    def __init__(
        self,
        model: type[Settings],
        *,
        env_prefix: str,
        file_env: str,
        prog: str,
        description: str,
    ) -> None:
        self.model = model
        self.file_env = file_env
        self.prog = prog
        self.description = description
        self.settings = settings_of(model, env_prefix)

    def parser(self) -> argparse.ArgumentParser:
        """Flags for every setting; a flag not given is absent from the parsed namespace."""
        parser = argparse.ArgumentParser(
            prog=self.prog,
            description=self.description,
            usage="%(prog)s [options]",
            formatter_class=_KeepFlagsWhole,
        )
        parser.add_argument(
            "--config",
            metavar="FILE",
            default=argparse.SUPPRESS,
            help="YAML file of settings, keys = the names below without -- and with _ "
            f"(window_s: 30); flags and the environment override it [{self.file_env}]",
        )
        group = parser.add_argument_group(
            "settings", "each flag overrides its environment variable (in brackets), which "
            "overrides the --config file, which overrides the default",
        )  # fmt: skip
        for setting in self.settings:
            kwargs: dict[str, Any] = {"dest": setting.name, "help": setting.help()}
            if setting.is_switch:
                kwargs["action"] = "store_true"
            elif setting.is_repeatable:
                kwargs.update(action="append", metavar=setting.metavar)
            else:
                kwargs.update(choices=setting.choices, metavar=setting.metavar)
            group.add_argument(setting.flag, default=argparse.SUPPRESS, **kwargs)
        return parser

    def resolve(
        self, argv: list[str] | None = None, parser: argparse.ArgumentParser | None = None
    ) -> Settings:
        """The model from flags > environment > file > defaults; exits with an argparse error
        naming the option (and where its value came from) when a value is bad."""
        parser = parser or self.parser()
        given = vars(parser.parse_args(argv))
        values: dict[str, Any] = {}
        origins: dict[str, str] = {}
        flags = {setting.name: setting.flag for setting in self.settings}
        config_file = given.get("config") or os.environ.get(self.file_env)
        if config_file:
            for key, value in _read_file(config_file, parser).items():
                values[str(key)] = value
                origins[str(key)] = (
                    f"argument {flags[key]} (from {key} in {config_file})"
                    if key in flags
                    else f"--config {config_file}: {key}"
                )
        for setting in self.settings:
            raw = os.environ.get(setting.env) if setting.env else None
            if raw is not None and (raw or setting.empty_is_value):
                values[setting.name] = raw
                origins[setting.name] = f"argument {setting.flag} (from {setting.env})"
            if setting.name in given:
                values[setting.name] = given[setting.name]
                origins[setting.name] = f"argument {setting.flag}"
        try:
            return self.model.model_validate(values)
        except ValidationError as error:
            parser.error(_describe(error, origins))


class _KeepFlagsWhole(argparse.HelpFormatter):
    """Wraps help text between words only, so `--risk-config` or `group-offsets` stay whole."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


def _read_file(path: str, parser: argparse.ArgumentParser) -> dict[Any, Any]:
    def fail(why: str) -> NoReturn:
        parser.error(f"argument --config: {path}: {' '.join(why.split())}")

    try:
        doc = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        fail(str(error))
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        fail("expected a mapping of setting names to values, e.g. `window_s: 30`")
    return doc


def _describe(error: ValidationError, origins: dict[str, str]) -> str:
    """pydantic's errors as one argparse-style line: `argument --x (from ...): why; ...`."""
    problems = []
    for item in error.errors():
        name = str(item["loc"][0]) if item["loc"] else ""
        why = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            why = "no such setting"
        elif not item["type"].startswith("value_error"):
            why = f"{why}, got {item['input']!r}"
        why = why[:1].lower() + why[1:]
        problems.append(f"{origins[name]}: {why}" if name in origins else why)
    return "; ".join(problems)
