"""Benchmark suites as data: which lm-eval tasks, their few-shot counts, the metric to report, and the papers'
published numbers (with source and a per-value "verified" flag) so reports can show ours beside theirs."""

from __future__ import annotations

import dataclasses
from importlib import resources
from typing import Any

import yaml

from jamba_eval.config import from_dict
from jamba_eval.errors import ConfigError


@dataclasses.dataclass
class SuiteTask:
    task: str  # an lm-eval task or group name
    label: str = ""
    num_fewshot: int | None = None  # None: the task's own default
    metric: str | None = None  # lm-eval key "<metric>,<filter>" shown in tables; None: every metric
    unsafe_code: bool = False  # executes model-written code (HumanEval): lm-eval's confirm_run_unsafe_code
    published: dict[str, float] = dataclasses.field(default_factory=dict)
    verified: dict[str, bool] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Suite:
    name: str
    tasks: list[SuiteTask]
    description: str = ""
    source: str = ""
    models: list[str] = dataclasses.field(default_factory=list)
    apply_chat_template: bool = False


def suite_names() -> list[str]:
    folder = resources.files("jamba_eval.tasks.academic") / "suites"
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_suite(name: str) -> Suite:
    if name not in suite_names():
        raise ConfigError(f"unknown suite {name!r}; choose one of: {', '.join(suite_names())}")
    path = resources.files("jamba_eval.tasks.academic") / "suites" / f"{name}.yaml"
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return from_dict(Suite, data, where=f"suite {name}")


def list_suites() -> list[tuple[str, str]]:
    """(name, description) for `jamba-eval list suites`."""
    rows = []
    for name in suite_names():
        suite = load_suite(name)
        rows.append((name, f"{suite.description}: {', '.join(t.task for t in suite.tasks)}"))
    return rows
