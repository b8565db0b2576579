"""Batched generation and scoring with our Jamba: what the local torch runner calls.

Both left-pad a batch into one tensor, allocate one `HybridCache` for it, and feed the prompt in chunks of
`prefill_chunk_size` tokens (activation memory O(chunk), not O(length)); the cache carries the Mamba state and KV
across chunks. Padding never changes a row's result (Mamba zeroes padded inputs, attention masks padded keys), and
every row draws its samples from its own generator seeded with `seed`, so a row's output does not depend on what
else is in the batch.

Glossary: b batch rows, L padded prompt length, V vocabulary, k logits kept per chunk.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

import torch

from jamba_eval.model.cache import HybridCache
from jamba_eval.model.jamba import JambaForCausalLM


@dataclasses.dataclass
class GenerationOutput:
    tokens: list[int]  # new tokens, EOS excluded
    finish_reason: str  # "eos" | "stop" | "length"
    time_to_first_token_s: float  # prefill (+ first sampled token) wall time for its batch
    total_time_s: float  # from the start of the batch until this row finished


def left_pad(rows: Sequence[Sequence[int]], pad_token_id: int) -> tuple[torch.Tensor, list[int]]:
    """[b, L] ids with each row right-aligned, and the number of padding slots per row."""
    if not rows or any(len(r) == 0 for r in rows):
        raise ValueError("every sequence needs at least one token")
    L = max(len(r) for r in rows)
    ids = torch.full((len(rows), L), pad_token_id, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, L - len(row) :] = torch.tensor(row, dtype=torch.long)
    return ids, [L - len(r) for r in rows]


def prefill(model: JambaForCausalLM, ids: torch.Tensor, cache: HybridCache, chunk_size: int, keep: int) -> torch.Tensor:
    """Feed ids [b, L] through the cache chunk by chunk; logits [b, keep, V] of the last `keep` positions."""
    if chunk_size < 1:
        raise ValueError(f"prefill_chunk_size must be >= 1, got {chunk_size}")
    L = ids.shape[1]
    kept = []
    for start in range(0, L, chunk_size):
        end = min(L, start + chunk_size)
        k = max(0, min(end - start, keep - (L - end)))  # positions of this chunk among the last `keep`
        logits = model(ids[:, start:end].to(model.device), cache, logits_to_keep=k)  # [b, k, V]
        if k:
            kept.append(logits)
    return torch.cat(kept, dim=1) if len(kept) > 1 else kept[0]


class _Sampler:
    """Greedy at temperature 0; otherwise temperature + nucleus (top-p) sampling, one generator per row."""

    def __init__(self, rows: int, temperature: float, top_p: float, seed: int | None, vocab_limit: int | None):
        if temperature < 0 or not 0 < top_p <= 1:
            raise ValueError(f"need temperature >= 0 and 0 < top_p <= 1, got {temperature}, {top_p}")
        self.temperature, self.top_p, self.vocab_limit = temperature, top_p, vocab_limit
        self.generators = []
        if temperature > 0:
            for _ in range(rows):
                generator = torch.Generator()
                generator.manual_seed(seed) if seed is not None else generator.seed()
                self.generators.append(generator)

    def __call__(self, logits: torch.Tensor) -> list[int]:
        logits = logits.float().cpu()  # [b, V]
        if self.vocab_limit is not None:
            logits[:, self.vocab_limit :] = float("-inf")
        if self.temperature == 0:
            return logits.argmax(dim=-1).tolist()
        probs = torch.softmax(logits / self.temperature, dim=-1)  # [b, V]
        if self.top_p < 1:
            sorted_probs, order = probs.sort(dim=-1, descending=True)
            outside = sorted_probs.cumsum(dim=-1) - sorted_probs >= self.top_p  # the first token always stays
            sorted_probs[outside] = 0
            probs = torch.zeros_like(probs).scatter_(-1, order, sorted_probs)
        return [int(torch.multinomial(p, 1, generator=g)) for p, g in zip(probs, self.generators, strict=True)]


def generate(
    model: JambaForCausalLM,
    prompts: list[list[int]],
    max_new_tokens: int,
    *,
    eos_token_ids: Sequence[int] = (),
    stop_check: Callable[[int, list[int]], bool] | None = None,
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: int | None = None,
    prefill_chunk_size: int = 4096,
    pad_token_id: int = 0,
    vocab_limit: int | None = None,
) -> list[GenerationOutput]:
    """Continue every prompt by up to `max_new_tokens` tokens, as one left-padded batch.

    A row stops at an EOS id (not included), when `stop_check(row, new_tokens)` says so ("stop"; the tokens so far
    are kept), or at `max_new_tokens` ("length"). `vocab_limit` forbids ids >= it (e.g. a tokenizer smaller than
    the model's padded vocabulary).
    """
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    start = time.perf_counter()
    ids, pad = left_pad(prompts, pad_token_id)
    if max_new_tokens == 0:
        return [GenerationOutput([], "length", 0.0, 0.0) for _ in prompts]
    eos = set(eos_token_ids)
    sample = _Sampler(len(prompts), temperature, top_p, seed, vocab_limit)
    tokens: list[list[int]] = [[] for _ in prompts]
    finished: list[tuple[str, float] | None] = [None] * len(prompts)
    with torch.inference_mode():
        cache = model.allocate_cache(len(prompts), ids.shape[1] + max_new_tokens, pad=pad)
        logits = prefill(model, ids, cache, prefill_chunk_size, keep=1)[:, -1]  # [b, V]
        first_token_s = None
        for _ in range(max_new_tokens):
            chosen = sample(logits)
            now = time.perf_counter() - start
            first_token_s = now if first_token_s is None else first_token_s
            for row, token in enumerate(chosen):
                if finished[row] is not None:
                    continue
                if token in eos:
                    finished[row] = ("eos", now)
                    continue
                tokens[row].append(token)
                if stop_check is not None and stop_check(row, tokens[row]):
                    finished[row] = ("stop", now)
                elif len(tokens[row]) == max_new_tokens:
                    finished[row] = ("length", now)
            if all(finished):
                break
            step = torch.tensor(chosen, dtype=torch.long, device=model.device)[:, None]  # [b, 1]
            logits = model(step, cache)[:, -1]  # [b, V]
    return [
        GenerationOutput(row_tokens, reason, first_token_s, total)
        for row_tokens, (reason, total) in zip(tokens, finished, strict=True)  # type: ignore[misc]
    ]


def score(
    model: JambaForCausalLM,
    requests: list[tuple[list[int], list[int]]],
    *,
    prefill_chunk_size: int = 4096,
    batch_size: int = 8,
) -> list[tuple[float, bool]]:
    """(context ids, continuation ids) -> (sum of log p(continuation | context), every token greedy).

    Log-probabilities come from an fp32 log-softmax; long inputs go through the cache chunk by chunk and only the
    logits of continuation positions are formed, so memory is O(chunk), not O(length).
    """
    for context, continuation in requests:
        if not context:
            raise ValueError("score needs a non-empty context (e.g. start with BOS)")
        if not continuation:
            raise ValueError("score needs a non-empty continuation")
    order = sorted(range(len(requests)), key=lambda i: -(len(requests[i][0]) + len(requests[i][1])))
    results: list[tuple[float, bool]] = [(0.0, True)] * len(requests)
    with torch.inference_mode():
        for first in range(0, len(order), batch_size):
            batch = order[first : first + batch_size]
            scored = _score_batch(model, [requests[i] for i in batch], prefill_chunk_size)
            for i, result in zip(batch, scored, strict=True):
                results[i] = result
    return results


def _score_batch(
    model: JambaForCausalLM, requests: list[tuple[list[int], list[int]]], chunk_size: int
) -> list[tuple[float, bool]]:
    inputs = [(context + continuation)[:-1] for context, continuation in requests]
    ids, pad = left_pad(inputs, pad_token_id=0)
    b, L = ids.shape
    n = max(len(continuation) for _, continuation in requests)  # continuation positions: the last n of every row
    targets = torch.zeros(b, n, dtype=torch.long)  # right-aligned like the inputs
    valid = torch.zeros(b, n, dtype=torch.bool)
    for row, (_, continuation) in enumerate(requests):
        targets[row, n - len(continuation) :] = torch.tensor(continuation)
        valid[row, n - len(continuation) :] = True
    logprob = torch.zeros(b, dtype=torch.float64)
    greedy = torch.ones(b, dtype=torch.bool)
    cache = model.allocate_cache(b, L, pad=pad)
    for start in range(0, L, chunk_size):
        end = min(L, start + chunk_size)
        k = max(0, end - max(start, L - n))
        logits = model(ids[:, start:end].to(model.device), cache, logits_to_keep=k)  # [b, k, V]
        if not k:
            continue
        columns = slice(n - (L - end) - k, n - (L - end))  # target columns of positions end-k .. end-1
        logp = torch.log_softmax(logits.float(), dim=-1).cpu()  # [b, k, V]
        wanted, ok = targets[:, columns], valid[:, columns]  # [b, k]
        token_logp = logp.gather(-1, wanted[..., None])[..., 0]  # [b, k]
        logprob += torch.where(ok, token_logp, 0.0).sum(dim=1).double()
        greedy &= ((logp.argmax(dim=-1) == wanted) | ~ok).all(dim=1)
    return [(float(lp), bool(g)) for lp, g in zip(logprob, greedy, strict=True)]
