"""The transformers backend of the torch runner: any causal LM from a local directory, with our own decode loop.

The loop follows the same contract as `jamba_eval.model.generate` (left padding, `stop_check`, seeded sampling,
per-row timings), so the torch runner behaves the same whichever backend answers:
- prompts are left-padded; position ids count real tokens only, so a padded row sees what it would see alone;
- each step picks the next token of every row (greedy argmax, or temperature/top-p sampling from one seeded
  `torch.Generator`); a row ends on an EOS id, when `stop_check(row, new_ids)` says so, or at `max_new_tokens`;
- scoring left-pads `sequence[:-1]` and keeps only the logits of the scored tail (`logits_to_keep`).
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import torch

from jamba_eval.registry import require
from jamba_eval.runners.base import TokenScore

logger = logging.getLogger(__name__)

StopCheck = Callable[[int, list[int]], bool]


def token_scores(
    targets: list[int], logprobs: torch.Tensor, top_ids: torch.Tensor, top_logprobs: torch.Tensor
) -> list[TokenScore]:
    """Each target's log-prob (from `logprobs` [n, V], the positions that predict them) beside the top-1 token."""
    index = torch.tensor(targets, device=logprobs.device)[:, None]
    chosen = logprobs.gather(-1, index).squeeze(-1)
    rows = zip(targets, chosen.tolist(), top_ids.tolist(), top_logprobs.tolist(), strict=True)
    return [TokenScore(*row) for row in rows]


@dataclasses.dataclass
class GenerationOutput:
    tokens: list[int]  # new tokens, including the EOS token when one ended the row
    finish_reason: Literal["eos", "stop", "length"]
    time_to_first_token_s: float
    total_time_s: float


def sample_next(
    logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator | None
) -> torch.Tensor:
    """Next token per row from logits [B, V]: argmax when temperature is 0, else temperature + nucleus sampling."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)  # [B, V]
    if top_p >= 1.0:
        return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
    sorted_probs, sorted_ids = probs.sort(dim=-1, descending=True)
    keep = (sorted_probs.cumsum(dim=-1) - sorted_probs) < top_p  # the smallest prefix whose mass reaches top_p
    choice = torch.multinomial(sorted_probs * keep, 1, generator=generator)  # [B, 1]
    return sorted_ids.gather(-1, choice).squeeze(-1)


def left_pad(rows: Sequence[Sequence[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """ids, attention mask and position ids [B, T] for left-padded rows (positions count real tokens only)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
            mask[i, width - len(row) :] = 1
    positions = (mask.cumsum(dim=-1) - 1).clamp(min=0)
    return ids.to(device), mask.to(device), positions.to(device)


class TransformersBackend:
    """`AutoModelForCausalLM` from a local directory, driven by our decode and scoring loops."""

    def __init__(
        self,
        path: Path,
        dtype: torch.dtype | str,
        device: torch.device,
        attn_implementation: str | None = None,
        trust_remote_code: bool = False,
    ):
        transformers = require("transformers", "hf", "the torch runner on a transformers model")
        kwargs: dict[str, Any] = {"dtype": dtype, "trust_remote_code": trust_remote_code}
        if attn_implementation:
            kwargs["attn_implementation"] = attn_implementation
        self.model = transformers.AutoModelForCausalLM.from_pretrained(str(path), **kwargs).to(device).eval()
        self.device = device
        self.config = self.model.config
        self.supports_logits_to_keep = "logits_to_keep" in inspect.signature(self.model.forward).parameters
        generation_eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        self.eos_token_ids = _as_list(generation_eos) or _as_list(getattr(self.config, "eos_token_id", None))
        self.default_max_length = getattr(self.config, "max_position_embeddings", None)
        self.transformers_version = transformers.__version__

    def describe(self) -> dict[str, Any]:
        return {
            "backend": "transformers",
            "transformers": self.transformers_version,
            "model_class": type(self.model).__name__,
            "model_type": getattr(self.config, "model_type", None),
            "dtype": str(next(self.model.parameters()).dtype).removeprefix("torch."),
            "parameters": sum(p.numel() for p in self.model.parameters()),
        }

    def _forward(self, ids, mask, positions, past=None, use_cache: bool = True, keep: int = 1):
        """Logits of the last `keep` positions [B, keep, V] and the updated cache."""
        kwargs: dict[str, Any] = {"attention_mask": mask, "position_ids": positions, "use_cache": use_cache}
        if past is not None:
            kwargs["past_key_values"] = past
        if self.supports_logits_to_keep:
            kwargs["logits_to_keep"] = keep
        out = self.model(input_ids=ids, **kwargs)
        return out.logits[:, -keep:, :], getattr(out, "past_key_values", None)

    @torch.inference_mode()
    def generate(
        self,
        prompts: Sequence[list[int]],
        max_new_tokens: int,
        *,
        eos_token_ids: Sequence[int] = (),
        stop_check: StopCheck | None = None,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        pad_token_id: int = 0,
    ) -> list[GenerationOutput]:
        start = time.perf_counter()
        if max_new_tokens <= 0:
            return [GenerationOutput([], "length", 0.0, 0.0) for _ in prompts]
        generator = None
        if temperature > 0:
            generator = torch.Generator(device=self.device)
            if seed is None:
                generator.seed()
            else:
                generator.manual_seed(seed)
        eos = set(eos_token_ids)
        ids, mask, positions = left_pad(prompts, pad_token_id, self.device)
        logits, past = self._forward(ids, mask, positions)
        rows = len(prompts)
        tokens: list[list[int]] = [[] for _ in range(rows)]
        finish: list[str | None] = [None] * rows
        first_s = [0.0] * rows
        total_s = [0.0] * rows
        for step in range(max_new_tokens):
            next_ids = sample_next(logits[:, -1, :], temperature, top_p, generator)  # [B]
            chosen = next_ids.tolist()
            now = time.perf_counter() - start
            for row in range(rows):
                if finish[row] is not None:
                    continue
                tokens[row].append(chosen[row])
                if step == 0:
                    first_s[row] = now
                if chosen[row] in eos:
                    finish[row] = "eos"
                elif stop_check is not None and stop_check(row, tokens[row]):
                    finish[row] = "stop"
                elif step + 1 == max_new_tokens:
                    finish[row] = "length"
                if finish[row] is not None:
                    total_s[row] = now
            if all(f is not None for f in finish):
                break
            mask = torch.cat([mask, mask.new_ones((rows, 1))], dim=-1)
            positions = positions[:, -1:] + 1
            logits, past = self._forward(next_ids[:, None], mask, positions, past)
        return [GenerationOutput(t, f, a, b) for t, f, a, b in zip(tokens, finish, first_s, total_s, strict=True)]  # type: ignore[arg-type]

    def score(self, requests: Sequence[tuple[list[int], list[int]]], batch_size: int) -> list[tuple[float, bool]]:
        """(sum log-prob of the continuation, every continuation token was the argmax) per (context, continuation)."""
        scored = self.token_scores([c + t for c, t in requests], [len(t) for _, t in requests], batch_size)
        return [(sum(s.logprob for s in row), all(s.is_greedy for s in row)) for row in scored]

    @torch.inference_mode()
    def token_scores(
        self, sequences: Sequence[list[int]], n_scored: Sequence[int], batch_size: int, pad_token_id: int = 0
    ) -> list[list[TokenScore]]:
        """Scores of the last `n_scored[i]` tokens of each sequence (each needs at least one token before them)."""
        results: list[list[TokenScore]] = [[] for _ in sequences]
        order = sorted(range(len(sequences)), key=lambda i: -len(sequences[i]))
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            keep = max(n_scored[i] for i in batch)
            ids, mask, positions = left_pad([sequences[i][:-1] for i in batch], pad_token_id, self.device)
            logits, _ = self._forward(ids, mask, positions, use_cache=False, keep=keep)
            logprobs = torch.log_softmax(logits.float(), dim=-1)  # [B, keep, V]
            top_logprobs, top_ids = logprobs.max(dim=-1)  # [B, keep]
            for row, i in enumerate(batch):
                n = n_scored[i]
                scored = slice(keep - n, keep)  # the positions that predict the last n tokens
                results[i] = token_scores(
                    sequences[i][-n:], logprobs[row, scored], top_ids[row, scored], top_logprobs[row, scored]
                )
        return results


def _as_list(value: Any) -> list[int]:
    if value is None:
        return []
    return [int(v) for v in value] if isinstance(value, list | tuple) else [int(value)]
