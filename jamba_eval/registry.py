"""Lazy registries: alias -> "module:attr", imported only when chosen, so heavy extras load on demand.

A missing optional dependency becomes a clear `pip install 'jamba-eval[extra]'` error; a registered module that
does not exist yet becomes "not available yet".
"""

from __future__ import annotations

import dataclasses
import importlib
from types import ModuleType
from typing import Any

from jamba_eval.errors import MissingExtraError, NotAvailableYet, UserError


@dataclasses.dataclass(frozen=True)
class Entry:
    name: str
    target: str  # "package.module:attribute"
    extra: str | None = None
    help: str = ""


class Registry:
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, target: str, extra: str | None = None, help: str = "") -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = Entry(name, target, extra, help)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        return [self._entries[n] for n in self.names()]

    def entry(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise UserError(f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}") from None

    def load(self, name: str) -> Any:
        entry = self.entry(name)
        module_name, _, attr = entry.target.partition(":")
        module = import_module(module_name, what=f"{self.kind} {name!r}", extra=entry.extra)
        try:
            return getattr(module, attr)
        except AttributeError:
            raise NotAvailableYet(f"{self.kind} {name!r} is not available yet") from None


def import_module(module_name: str, what: str, extra: str | None = None) -> ModuleType:
    """Import `module_name`; a missing third-party module is reported as a missing extra."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing == module_name or (missing.startswith("jamba_eval") and module_name.startswith(missing)):
            raise NotAvailableYet(f"{what} is not available yet") from None
        if extra:
            raise MissingExtraError(what, extra, exc) from None
        raise UserError(f"{what} needs the Python package {missing!r}, which is not installed") from None


def require(module_name: str, extra: str, what: str) -> ModuleType:
    """Import an optional dependency inside a runner or task, or raise a MissingExtraError naming the extra."""
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise MissingExtraError(what, extra, exc) from None


def call(target: str, what: str, *args: Any, **kwargs: Any) -> Any:
    """Call "module:function" lazily; used by the CLI so commands stay thin and imports stay cheap."""
    module_name, _, attr = target.partition(":")
    module = import_module(module_name, what=what)
    function = getattr(module, attr, None)
    if function is None:
        raise NotAvailableYet(f"{what} is not available yet")
    return function(*args, **kwargs)


RUNNERS = Registry("runner")
RUNNERS.register(
    "torch",
    "jamba_eval.runners.torch_runner:TorchRunner",
    help="local PyTorch: our Jamba for Jamba checkpoints, transformers for any other causal LM",
)
RUNNERS.register(
    "vllm",
    "jamba_eval.runners.vllm_runner:VLLMRunner",
    extra="vllm",
    help="vLLM offline engine (tensor/pipeline parallel, ExpertsInt8)",
)
RUNNERS.register(
    "openai",
    "jamba_eval.runners.openai_runner:OpenAIRunner",
    help="any OpenAI-compatible server (vllm serve, jamba-eval serve, hosted APIs); several base URLs",
)
RUNNERS.register("mock", "jamba_eval.runners.mock:MockRunner", help="scripted answers, no model (dry runs, tests)")

TASKS = Registry("task")
TASKS.register("ruler", "jamba_eval.ruler.run:run_ruler", help="RULER's 13 synthetic long-context tasks")
TASKS.register(
    "academic",
    "jamba_eval.tasks.academic:run_academic",
    extra="lm-eval",
    help="academic benchmarks through lm-evaluation-harness",
)
TASKS.register("arena", "jamba_eval.tasks.arena:run_arena", help="Arena-Hard-style pairwise judging")
TASKS.register("bench", "jamba_eval.tasks.efficiency:run_bench", help="throughput and memory vs context length")
