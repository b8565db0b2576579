"""Run configuration: length parsing, `k=v` model args, and dataclass configs loaded from YAML.

Precedence is CLI > YAML > dataclass defaults (`build_config`). Unknown YAML keys are refused with an error that
names the key, so a typo never silently falls back to a default. Task-specific config dataclasses live next to
their task (e.g. `jamba_eval.ruler.config`); this module holds the shared machinery and `ModelConfig`.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from jamba_eval.errors import ConfigError

T = TypeVar("T")

_LENGTH_RE = re.compile(r"^([1-9][0-9]*)([kKmM]?)$")
_MULTIPLIER = {"": 1, "k": 1024, "m": 1024**2}
LENGTH_HELP = "a positive whole number of tokens, optionally with k (x1024) or m (x1048576): e.g. 4096, 4k, 128K, 1m"


def parse_length(text: str | int) -> int:
    """`"256k"` -> 262144. Accepts plain integers and k/m suffixes (k = 1024); refuses anything else."""
    if isinstance(text, bool):
        raise ConfigError(f"invalid length {text!r}: expected {LENGTH_HELP}")
    if isinstance(text, int):
        if text <= 0:
            raise ConfigError(f"invalid length {text!r}: expected {LENGTH_HELP}")
        return text
    match = _LENGTH_RE.match(str(text).strip())
    if not match:
        raise ConfigError(f"invalid length {str(text)!r}: expected {LENGTH_HELP}")
    number, suffix = match.groups()
    return int(number) * _MULTIPLIER[suffix.lower()]


def parse_lengths(text: str | list) -> list[int]:
    """`"4k,8k"` (or a list) -> sorted, de-duplicated token counts."""
    items = text if isinstance(text, list) else [part for part in str(text).split(",")]
    if not items or any(str(item).strip() == "" for item in items):
        raise ConfigError(f"invalid length list {text!r}: expected comma-separated lengths, each {LENGTH_HELP}")
    return sorted({parse_length(item) for item in items})


def format_length(tokens: int) -> str:
    """262144 -> "256K" (the inverse of `parse_length` for exact multiples), used in tables and file names."""
    if tokens % 1024**2 == 0:
        return f"{tokens // 1024**2}M"
    if tokens % 1024 == 0:
        return f"{tokens // 1024}K"
    return str(tokens)


def _coerce_scalar(value: str) -> Any:
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def parse_model_args(text: str | None) -> dict[str, Any]:
    """lm-eval style `"k=v,k2=v2"` -> dict; ints, floats, booleans and none are converted."""
    if text is None or not str(text).strip():
        return {}
    result: dict[str, Any] = {}
    for item in str(text).split(","):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"invalid --model-args item {item!r}: expected key=value pairs separated by commas")
        if key in result:
            raise ConfigError(f"--model-args gives {key!r} twice")
        result[key] = _coerce_scalar(value.strip())
    return result


@dataclasses.dataclass
class ModelConfig:
    """Which model answers: a runner name, a model name or path, and runner-specific arguments."""

    runner: str = "torch"
    model: str = "jamba-tiny"
    model_args: dict[str, Any] = dataclasses.field(default_factory=dict)


# --------------------------------------------------------------------------------------------- dataclass loading


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _convert(value: Any, tp: Any, where: str, parser: Any = None) -> Any:
    if parser is not None and value is not None:
        try:
            return parser(value)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return _convert(value, option, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}: {value!r} matches none of the allowed types")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return from_dict(tp, value, where)
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        item_type = args[0] if args else Any
        return [_convert(v, item_type, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        value_type = args[1] if len(args) == 2 else Any
        return {str(k): _convert(v, value_type, f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if tp is Path:
        if not isinstance(value, str | Path):
            raise ConfigError(f"{where}: expected a path, got {value!r}")
        return Path(value)
    raise ConfigError(f"{where}: unsupported config type {_type_name(tp)}")


def from_dict(cls: type[T], data: Mapping[str, Any], where: str | None = None) -> T:
    """Build dataclass `cls` from a mapping, refusing unknown keys (kebab-case keys are accepted as snake_case).

    A field may carry `metadata={"parse": fn}` to turn a raw value into its typed form (e.g. `parse_lengths`).
    """
    where = where or cls.__name__
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = str(raw_key).replace("-", "_")
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"unknown key {raw_key!r} in {where} (known keys: {known})")
        kwargs[key] = _convert(value, hints[key], f"{where}.{key}", fields[key].metadata.get("parse"))
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field without default
        raise ConfigError(f"{where}: {exc}") from None


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping with `safe_load`; a missing file, bad syntax or a non-mapping is a ConfigError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"invalid YAML in {path}{at}: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config {path} must be a mapping of keys to values, got {type(data).__name__}")
    return data


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        key = str(key).replace("-", "_")
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def build_config(cls: type[T], yaml_path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> T:
    """Resolve a config with CLI > YAML > defaults. `overrides` holds only the values given on the command line
    (None means "not given"); nested dataclass fields may be overridden with nested mappings."""
    data: dict[str, Any] = {}
    if yaml_path is not None:
        data = {str(k).replace("-", "_"): v for k, v in load_yaml(yaml_path).items()}
    given = _drop_none(overrides or {})
    return from_dict(cls, _deep_merge(data, given), where=str(yaml_path) if yaml_path else None)


def _drop_none(mapping: Mapping[str, Any]) -> dict[str, Any]:
    result = {}
    for key, value in mapping.items():
        if isinstance(value, Mapping):
            value = _drop_none(value)
            if not value:
                continue
        if value is not None:
            result[key] = value
    return result


def to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass (paths become strings)."""

    def clean(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    return clean(dataclasses.asdict(config))
