"""Configuration of `jamba-eval run arena` (CLI > YAML > these defaults, via `jamba_eval.config.build_config`)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from jamba_eval.config import ModelConfig
from jamba_eval.errors import ConfigError

# Runner arguments that say where or how fast to reach a model, not which model answers: they may change between
# sessions of one run. Everything else in the config must match to resume.
TRANSPORT_ARGS = (
    "base_url",
    "base_urls",
    "api_key",
    "api_key_env",
    "timeout",
    "max_retries",
    "backoff",
    "max_backoff",
    "num_concurrent",
    "batch_size",
    "threads",
)
VOLATILE_KEYS = (
    "batch_size",
    "rounds",
    "seed",
    "style_control",
    "limit",
    "output_dir",
    "questions",
    "baseline_answers",
    "judge_prompt",
    *(f"{who}.model_args.{arg}" for who in ("model", "judge") for arg in TRANSPORT_ARGS),
)
_SECRET = re.compile(r"(^|_)(api_key|key|token|secret|password)$", re.IGNORECASE)


@dataclasses.dataclass
class JudgeConfig:
    """Which model judges: by default an OpenAI-compatible endpoint (e.g. `vllm serve` of a strong open model)."""

    runner: str = "openai"
    model: str = ""
    model_args: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class ArenaConfig:
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    model_name: str | None = None  # name on the leaderboard  [default: the model, or a local path's folder name]
    questions: Path | None = None
    baseline: str = "gpt-4-0314"
    baseline_answers: Path | None = None  # [default: QUESTIONS_DIR/model_answer/BASELINE.jsonl, Arena-Hard's layout]
    judge: JudgeConfig = dataclasses.field(default_factory=JudgeConfig)
    judge_prompt: Path | None = None  # system prompt file  [default: our prompt following Arena-Hard v0.1]
    judge_max_tokens: int = 4096  # Arena-Hard v0.1's judge setting
    max_tokens: int = 4096  # answer length cap, as Arena-Hard v0.1 answer generation
    limit: int | None = None
    style_control: bool = False
    rounds: int = 100
    seed: int = 0
    batch_size: int = 8
    output_dir: Path | None = None

    def __post_init__(self) -> None:
        for name in ("judge_max_tokens", "max_tokens", "batch_size"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if self.rounds < 0:
            raise ConfigError(f"rounds must be 0 or more, got {self.rounds}")
        if self.limit is not None and self.limit <= 0:
            raise ConfigError(f"limit must be a positive number of questions, got {self.limit}")

    def check_complete(self) -> None:
        """The options a run cannot do without (refused here rather than after loading a model)."""
        if self.questions is None:
            raise ConfigError("give the questions: --questions PATH (e.g. arena-hard-v0.1/question.jsonl)")
        if not self.judge.model:
            raise ConfigError(
                "give the judge: --judge MODEL, e.g. --judge-runner openai --judge NAME "
                "--judge-model-args base_url=http://localhost:8000/v1"
            )
        if self.name == self.baseline:
            raise ConfigError(f"the model and the baseline are both named {self.baseline!r}; set model_name")

    @property
    def name(self) -> str:
        if self.model_name:
            return self.model_name
        path = Path(self.model.model)
        return path.name if path.exists() and path.name else self.model.model

    @property
    def run_dir(self) -> Path:
        if self.output_dir is not None:
            return self.output_dir
        return Path("runs") / "arena" / re.sub(r"[^A-Za-z0-9._-]+", "_", self.name)


def redact(model_args: dict[str, Any]) -> dict[str, Any]:
    """Runner arguments safe to write into a run directory (API keys and tokens hidden)."""
    return {k: ("<redacted>" if _SECRET.search(k) and v is not None else v) for k, v in model_args.items()}
