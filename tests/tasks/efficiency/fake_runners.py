"""Runners with known timings and memory, loaded by bench workers as `fake_runners:Name` (folder on PYTHONPATH).

`ScriptedRunner` reports synthetic timings (no sleeping), so the bench's arithmetic can be checked exactly.
`MemoryRunner` holds `bytes_per_token` × prompt tokens while "decoding", after a transient prefill buffer twice that
size, so the measured memory slope has a known answer without torch.
`FailingRunner` raises at one length, to check that one failed point loses nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from jamba_eval.runners.base import Completion, GenerationRequest, Runner, encode_prompt
from jamba_eval.runners.mock import MockRunner


class ScriptedRunner(MockRunner):
    """TTFT = 1 ms per prompt token; each decoded token after the first takes 10 ms."""

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        results = []
        for r in requests:
            n = len(encode_prompt(self.tokenizer, r.prompt))
            ttft = n * 0.001
            results.append(
                Completion(
                    "x" * r.max_new_tokens, n, r.max_new_tokens, "length", ttft, ttft + 0.01 * (r.max_new_tokens - 1)
                )
            )
        return results


class MemoryRunner(MockRunner):
    def __init__(self, model: str = "", bytes_per_token: int = 4096, decode_s: float = 0.15, **kwargs):
        super().__init__(model, **kwargs)
        self.bytes_per_token = bytes_per_token
        self.decode_s = decode_s

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        start = time.perf_counter()
        n = sum(len(encode_prompt(self.tokenizer, r.prompt)) for r in requests)
        transient = b"\x01" * (2 * n * self.bytes_per_token)  # prefill scratch, freed before decoding
        del transient
        cache = b"\x02" * (n * self.bytes_per_token)  # what decoding holds
        ttft = time.perf_counter() - start
        time.sleep(self.decode_s)
        total = time.perf_counter() - start
        del cache
        return [
            Completion("", len(encode_prompt(self.tokenizer, r.prompt)), r.max_new_tokens, "length", ttft, total)
            for r in requests
        ]


class FailingRunner(MockRunner):
    def __init__(self, model: str = "", fail_at: int = 0, **kwargs):
        super().__init__(model, **kwargs)
        self.fail_at = fail_at

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        if any(len(encode_prompt(self.tokenizer, r.prompt)) == self.fail_at for r in requests):
            raise RuntimeError(f"refusing {self.fail_at} tokens")
        return super().generate(requests)


__all__ = ["FailingRunner", "MemoryRunner", "Runner", "ScriptedRunner"]
