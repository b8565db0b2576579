"""The 13 RULER tasks as a small declarative table: name -> generator kind + arguments (RULER
`scripts/synthetic.yaml`, reference/ruler.md §1.2), in RULER's order, with the paper's categories and metrics."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from jamba_eval.errors import ConfigError
from jamba_eval.ruler.templates import TOKENS_TO_GENERATE


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    name: str
    kind: str  # niah | variable_tracking | common_words_extraction | freq_words_extraction | qa
    category: str  # the paper's groups: retrieval, multi-hop tracing, aggregation, qa
    args: Mapping[str, Any]

    @property
    def tokens_to_generate(self) -> int:
        return TOKENS_TO_GENERATE[self.kind]

    @property
    def metric(self) -> str:
        return "string_match_part" if self.kind == "qa" else "string_match_all"

    def describe(self) -> dict[str, Any]:
        """JSON-ready description (part of the sample cache key)."""
        return {"name": self.name, "kind": self.kind, "args": dict(self.args), "tokens": self.tokens_to_generate}

    def key(self) -> str:
        return json.dumps(self.describe(), sort_keys=True)


def _niah(name: str, haystack: str, k: str, v: str, n_k: int = 1, n_v: int = 1, n_q: int = 1) -> TaskSpec:
    args = {
        "type_haystack": haystack,
        "type_needle_k": k,
        "type_needle_v": v,
        "num_needle_k": n_k,
        "num_needle_v": n_v,
        "num_needle_q": n_q,
    }
    return TaskSpec(name, "niah", "retrieval", MappingProxyType(args))


_TABLE = (
    _niah("niah_single_1", "noise", "words", "numbers"),
    _niah("niah_single_2", "essay", "words", "numbers"),
    _niah("niah_single_3", "essay", "words", "uuids"),
    _niah("niah_multikey_1", "essay", "words", "numbers", n_k=4),
    _niah("niah_multikey_2", "needle", "words", "numbers"),
    _niah("niah_multikey_3", "needle", "uuids", "uuids"),
    _niah("niah_multivalue", "essay", "words", "numbers", n_v=4),
    _niah("niah_multiquery", "essay", "words", "numbers", n_q=4),
    TaskSpec(
        "vt",
        "variable_tracking",
        "multi-hop tracing",
        MappingProxyType({"type_haystack": "noise", "num_chains": 1, "num_hops": 4}),
    ),
    TaskSpec(
        "cwe",
        "common_words_extraction",
        "aggregation",
        MappingProxyType({"freq_cw": 30, "freq_ucw": 3, "num_cw": 10}),
    ),
    TaskSpec("fwe", "freq_words_extraction", "aggregation", MappingProxyType({"alpha": 2.0})),
    TaskSpec("qa_1", "qa", "qa", MappingProxyType({"dataset": "squad"})),
    TaskSpec("qa_2", "qa", "qa", MappingProxyType({"dataset": "hotpotqa"})),
)

TASKS: Mapping[str, TaskSpec] = MappingProxyType({spec.name: spec for spec in _TABLE})
TASK_NAMES: tuple[str, ...] = tuple(TASKS)
QA_TASKS: tuple[str, ...] = tuple(name for name, spec in TASKS.items() if spec.kind == "qa")


def resolve_tasks(names: list[str] | None) -> list[TaskSpec]:
    """Task specs in RULER's order; unknown names are refused with the list of valid ones."""
    if not names:
        return list(_TABLE)
    unknown = [n for n in names if n not in TASKS]
    if unknown:
        raise ConfigError(f"unknown RULER task(s) {', '.join(unknown)}; choose from: {', '.join(TASK_NAMES)}")
    wanted = set(names)
    return [spec for spec in _TABLE if spec.name in wanted]
