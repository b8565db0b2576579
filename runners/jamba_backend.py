"""The Jamba backend of the torch runner: our own Jamba (`jamba_eval.model`), imported only when chosen.

`jamba_eval.model` gives `load_jamba`, `generate` (left padding, chunked prefill, `stop_check`, seeded sampling,
per-row timings), `score` (sum log-prob, all-greedy) and `prefill` (the logits of the last positions), from which
per-token prompt scores (a server's `echo` + `logprobs`) come in one pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from jamba_eval.errors import NotAvailableYet
from jamba_eval.runners.base import TokenScore
from jamba_eval.runners.hf_backend import StopCheck, token_scores


class JambaBackend:
    def __init__(
        self,
        name_or_path: str,
        dtype: torch.dtype,
        device: torch.device,
        experts_int8: bool = False,
        prefill_chunk_size: int = 4096,
        vocab_limit: int | None = None,
    ):
        """`vocab_limit`: the tokenizer's vocabulary size; ids past it (a padded embedding) are never sampled."""
        try:
            from jamba_eval.model import generate as generation
            from jamba_eval.model import load_jamba
        except ImportError as exc:
            raise NotAvailableYet(
                f"our Jamba (jamba_eval.model) is not available yet ({exc}); "
                "for a Jamba checkpoint use --model-args backend=transformers"
            ) from None
        self._generate = generation.generate
        self._score = generation.score
        self._prefill = generation.prefill
        self._left_pad = generation.left_pad
        self.model = load_jamba(name_or_path, dtype=dtype, experts_int8=experts_int8, device=str(device))
        self.device = device
        self.experts_int8 = experts_int8
        self.prefill_chunk_size = prefill_chunk_size
        self.vocab_limit = vocab_limit
        self.config = getattr(self.model, "config", None)
        eos = getattr(self.config, "eos_token_id", None)
        self.eos_token_ids = [] if eos is None else list(eos) if isinstance(eos, list | tuple) else [int(eos)]
        self.default_max_length = getattr(self.config, "max_position_embeddings", None)

    def describe(self) -> dict[str, Any]:
        parameters = getattr(self.model, "parameters", None)
        return {
            "backend": "jamba_eval.model",
            "model_class": type(self.model).__name__,
            "experts_int8": self.experts_int8,
            "prefill_chunk_size": self.prefill_chunk_size,
            "parameters": sum(p.numel() for p in parameters()) if callable(parameters) else None,
        }

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
    ) -> list[Any]:
        return self._generate(
            self.model,
            [list(p) for p in prompts],
            max_new_tokens,
            eos_token_ids=tuple(eos_token_ids),
            stop_check=stop_check,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
            prefill_chunk_size=self.prefill_chunk_size,
            pad_token_id=pad_token_id,
            vocab_limit=self.vocab_limit,
        )

    def score(self, requests: Sequence[tuple[list[int], list[int]]], batch_size: int) -> list[tuple[float, bool]]:
        return self._score(
            self.model, list(requests), prefill_chunk_size=self.prefill_chunk_size, batch_size=batch_size
        )

    def token_scores(
        self, sequences: Sequence[list[int]], n_scored: Sequence[int], batch_size: int, pad_token_id: int = 0
    ) -> list[list[TokenScore]]:
        """Scores of the last `n_scored[i]` tokens of each sequence (each needs at least one token before them):
        one chunked prefill per batch through the cache, keeping only the scored positions' logits."""
        results: list[list[TokenScore]] = [[] for _ in sequences]
        order = sorted(range(len(sequences)), key=lambda i: -len(sequences[i]))
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            keep = max(n_scored[i] for i in batch)
            ids, pad = self._left_pad([list(sequences[i][:-1]) for i in batch], pad_token_id)
            with torch.inference_mode():
                cache = self.model.allocate_cache(len(batch), ids.shape[1], pad=pad)
                logits = self._prefill(self.model, ids, cache, self.prefill_chunk_size, keep=keep)  # [B, keep, V]
            logprobs = torch.log_softmax(logits.float(), dim=-1).cpu()  # over the whole vocabulary, as `score`
            allowed = logprobs[..., : self.vocab_limit] if self.vocab_limit else logprobs
            top_logprobs, top_ids = allowed.max(dim=-1)  # [B, keep]: top-1 among ids the tokenizer can produce
            for row, i in enumerate(batch):
                n = n_scored[i]
                scored = slice(keep - n, keep)  # the positions that predict the last n tokens
                results[i] = token_scores(
                    sequences[i][-n:], logprobs[row, scored], top_ids[row, scored], top_logprobs[row, scored]
                )
        return results
