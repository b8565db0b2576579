"""Published numbers shown beside ours, always marked "published", each with its source and a "verified" flag.

- RULER: AI21's Jamba-1.5 model card table "RULER Benchmark - Effective context length" (4K-256K, Jamba-1.5 rows
  author-reported; the other rows repeat NVIDIA's RULER README), checked against the model card text. Our own
  effective length is recomputed from the scores with RULER's strict rule rather than copied.
- Arena-Hard (v0.1: GPT-4-0314 baseline, GPT-4-Turbo judge): the model card (Jamba-1.5 Mini / Large) and the
  Jamba-1.5 paper's comparison table (arXiv 2408.12570), whose Llama-3.1-70B and Mistral-Large-2 values equal the
  official v0.1 board; the 8B and Mixtral values were transcribed, not re-checked.
- Academic benchmarks: the suites' own published values (`jamba_eval.tasks.academic.suites`), not repeated here.
"""

from __future__ import annotations

import dataclasses
import re

RULER_SOURCE = "AI21 Jamba-1.5 model card, RULER table (other rows as in NVIDIA's RULER README)"
ARENA_SOURCE = "Jamba-1.5 model card and paper (arXiv 2408.12570); Arena-Hard v0.1 setup"
RULER_LENGTHS = (4096, 8192, 16384, 32768, 65536, 131072, 262144)
RULER_AVG_LENGTHS = RULER_LENGTHS[:6]  # RULER's Avg / wAvg are over 4K-128K


@dataclasses.dataclass(frozen=True)
class PublishedModel:
    key: str  # matches preset names and academic suites' model names
    name: str
    claimed: str
    ruler: tuple[float | None, ...] = ()  # scores at RULER_LENGTHS (None: not reported)
    arena: float | None = None
    arena_verified: bool = False


PUBLISHED = (
    PublishedModel(
        "jamba-1.5-large",
        "Jamba-1.5-Large",
        "256K",
        (96.7, 96.6, 96.4, 96.0, 95.4, 95.1, 93.9),
        65.4,
        True,
    ),
    PublishedModel("jamba-1.5-mini", "Jamba-1.5-Mini", "256K", (95.7, 95.2, 94.7, 93.8, 92.7, 89.8, 86.1), 46.1, True),
    PublishedModel("gemini-1.5-pro", "Gemini-1.5-Pro", "1M", (96.7, 95.8, 96.0, 95.9, 95.9, 94.4, None)),
    PublishedModel("gpt-4-1106-preview", "GPT-4-1106-preview", "128K", (96.6, 96.3, 95.2, 93.2, 87.0, 81.2, None)),
    PublishedModel("llama-3.1-70b", "Llama-3.1-70B", "128K", (96.5, 95.8, 95.4, 94.8, 88.4, 66.6, None), 55.7, True),
    PublishedModel("llama-3.1-8b", "Llama-3.1-8B", "128K", (95.5, 93.8, 91.6, 87.4, 84.7, 77.0, None), 21.3),
    PublishedModel(
        "mistral-large-2", "Mistral-Large-2 (2407)", "128K", (96.2, 96.1, 95.1, 93.0, 78.8, 23.7, None), 70.4, True
    ),
    PublishedModel("mixtral-8x22b", "Mixtral-8x22B", "64K", (95.6, 94.9, 93.4, 90.9, 84.7, 31.7, None)),
    PublishedModel("mixtral-8x7b", "Mixtral-8x7B", "32K", (94.9, 92.1, 92.5, 85.9, 72.4, 44.5, None), 23.4),
)

_ALIASES = {"mistral-large": "mistral-large-2", "mistral-large-instruct": "mistral-large-2"}


def canonical(key: str) -> str:
    """A measured model key in the published models' spelling: `ai21-jamba-1.5-mini` -> `jamba-1.5-mini`,
    `meta-llama-3.1-8b-instruct` -> `llama-3.1-8b`, `mixtral-8x7b-instruct-v0.1` -> `mixtral-8x7b`."""
    name = key.casefold()
    name = re.sub(r"^(ai21-|meta-|mistralai-)", "", name)
    name = re.sub(r"-(instruct|chat|hf|base)\b.*$", "", name)
    if not name.startswith("jamba"):
        name = re.sub(r"-v\d+(\.\d+)*$", "", name)
    name = re.sub(r"-(2407|2411)$", "", name)
    return _ALIASES.get(name, name)


def published_model(key: str) -> PublishedModel | None:
    wanted = {key.casefold(), canonical(key)}
    return next((p for p in PUBLISHED if p.key in wanted), None)


def ruler_scores(model: PublishedModel) -> dict[int, float]:
    return {length: s for length, s in zip(RULER_LENGTHS, model.ruler, strict=False) if s is not None}


def academic_published(suites: list) -> dict[str, dict[str, tuple[float, bool, str]]]:
    """label -> published model key -> (value, verified, suite source), from the academic suites."""
    table: dict[str, dict[str, tuple[float, bool, str]]] = {}
    for suite in suites:
        for task in suite.tasks:
            label = task.label or task.task
            for model, value in task.published.items():
                table.setdefault(label, {}).setdefault(
                    model, (float(value), bool(task.verified.get(model, False)), suite.source)
                )
    return table


def load_academic_suites() -> list:
    """Every academic suite, or none when the academic task is not importable."""
    from jamba_eval.tasks.academic.suites import load_suite, suite_names

    return [load_suite(name) for name in suite_names()]
