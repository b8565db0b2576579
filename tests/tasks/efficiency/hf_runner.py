"""A minimal transformers runner for the bench tests: greedy prefill + cached decode with measured timings.

It stands in for `jamba_eval.runners.torch_runner` so the bench harness can be tested on real models (transformers'
Mixtral / Llama / Jamba) before and independently of our own runner. Loaded by the bench worker as
`hf_runner:HFRunner` (the test puts this folder on PYTHONPATH). EOS is ignored so every run decodes the same number
of tokens.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch

from jamba_eval.runners.base import Completion, GenerationRequest, Runner, encode_prompt
from jamba_eval.tokenizer import HFTokenizer


class HFRunner(Runner):
    def __init__(self, model: str, dtype: str = "float32", threads: int | None = None):
        from transformers import AutoModelForCausalLM

        if threads:
            torch.set_num_threads(threads)
        self.name = f"hf:{model}"
        self.tokenizer = HFTokenizer(model)
        self.model = AutoModelForCausalLM.from_pretrained(model, dtype=getattr(torch, dtype)).eval()
        self.max_length = int(self.model.config.max_position_embeddings)

    @torch.inference_mode()
    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        ids = torch.tensor([encode_prompt(self.tokenizer, r.prompt) for r in requests])  # equal lengths in the bench
        steps = max(r.max_new_tokens for r in requests)
        start = time.perf_counter()
        out = self.model(ids, use_cache=True, logits_to_keep=1)
        token = out.logits[:, -1].argmax(-1, keepdim=True)
        ttft = time.perf_counter() - start
        cache = out.past_key_values
        del out
        for _ in range(steps - 1):
            out = self.model(token, past_key_values=cache, use_cache=True)
            token = out.logits[:, -1].argmax(-1, keepdim=True)
            cache = out.past_key_values
        total = time.perf_counter() - start
        return [Completion("", ids.shape[1], steps, "length", ttft, total) for _ in requests]

    def loglikelihood_tokens(self, requests):
        raise NotImplementedError
