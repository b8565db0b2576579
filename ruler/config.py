"""The `jamba-eval run ruler` config: CLI > YAML (`--config`) > these defaults (`jamba_eval.config.build_config`)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from jamba_eval.config import ModelConfig, parse_length, parse_lengths
from jamba_eval.errors import ConfigError
from jamba_eval.ruler.generator import VERIFY_MODES
from jamba_eval.ruler.tasks import resolve_tasks
from jamba_eval.ruler.templates import check_template_name

MIN_LENGTH = 4096
SMALLEST_LENGTH = 256  # below this no RULER prompt fits


def _task_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ConfigError(f"tasks: expected a list of task names or a comma-separated string, got {value!r}")


@dataclasses.dataclass
class RulerConfig:
    """What to run. `lengths` wins over `max_len`; output_dir defaults to runs/ruler/<runner>-<model>[-<template>]."""

    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    max_len: int = dataclasses.field(default=131072, metadata={"parse": parse_length})
    lengths: list[int] | None = dataclasses.field(default=None, metadata={"parse": parse_lengths})
    tasks: list[str] | None = dataclasses.field(default=None, metadata={"parse": _task_list})
    samples: int = 500
    seed: int = 42
    template: str = "base"
    batch_size: int = 8
    haystack_file: Path | None = None
    qa_data: Path | None = None
    output_dir: Path | None = None
    resume: bool = True
    threshold: float = 85.6
    bootstrap_rounds: int = 1000
    cache_dir: Path | None = None  # sample-plan cache; default $JAMBA_EVAL_CACHE/ruler or ~/.cache/jamba-eval/ruler
    verify: str = "first"  # "first": check additivity on sample 0 per (task, length); "all": tokenize every prompt

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ConfigError(f"samples must be at least 1, got {self.samples}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.bootstrap_rounds < 0:
            raise ConfigError(f"bootstrap_rounds must be 0 (off) or more, got {self.bootstrap_rounds}")
        if self.verify not in VERIFY_MODES:
            raise ConfigError(f"verify must be one of {', '.join(VERIFY_MODES)}, got {self.verify!r}")
        check_template_name(self.template)
        resolve_tasks(self.tasks)
        for length in self.resolved_lengths():
            if length < SMALLEST_LENGTH:
                raise ConfigError(f"length {length} is too short for RULER prompts (at least {SMALLEST_LENGTH})")

    def resolved_lengths(self) -> list[int]:
        """`lengths` if given, else powers of two from 4K up to `max_len` (and `max_len` itself)."""
        if self.lengths:
            return sorted(set(self.lengths))
        if self.max_len <= MIN_LENGTH:
            return [self.max_len]
        lengths, length = [], MIN_LENGTH
        while length <= self.max_len:
            lengths.append(length)
            length *= 2
        if lengths[-1] != self.max_len:
            lengths.append(self.max_len)
        return lengths

    def default_output_dir(self) -> Path:
        name = Path(str(self.model.model)).name or str(self.model.model)
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{self.model.runner}-{name}").strip("-")[:80] or "model"
        if self.template != "base":
            slug += f"-{self.template}"
        return Path("runs") / "ruler" / slug
