"""A mock runner (like inspect's `mockllm`): scripted answers, no model. For dry runs of a pipeline and for tests.

`--runner mock --model TEXT` answers every prompt with TEXT; from Python, pass `responder=fn(prompt_text) -> str`.
Log-likelihoods are deterministic pseudo-values derived from a hash of the tokens, so code paths can be exercised.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from jamba_eval.runners.base import (
    Completion,
    GenerationRequest,
    LogLikelihood,
    Runner,
    TokenLoglikelihoodRequest,
    encode_prompt,
    truncate_at_stop,
)
from jamba_eval.tokenizer import ByteTokenizer, Tokenizer


class MockRunner(Runner):
    def __init__(
        self,
        model: str = "",
        responder: Callable[[str], str] | None = None,
        tokenizer: Tokenizer | None = None,
        max_length: int = 1 << 20,
    ):
        self.name = f"mock:{model}" if model else "mock"
        self.tokenizer = tokenizer or ByteTokenizer()
        self.max_length = max_length
        self.responder = responder or (lambda prompt: model)
        self.calls: list[list[GenerationRequest]] = []

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        self.calls.append(list(requests))
        results = []
        for request in requests:
            prompt_ids = encode_prompt(self.tokenizer, request.prompt)
            prompt_text = self.tokenizer.decode(prompt_ids, skip_special_tokens=False)
            answer_ids = self.tokenizer.encode(self.responder(prompt_text))
            truncated = len(answer_ids) > request.max_new_tokens
            text = self.tokenizer.decode(answer_ids[: request.max_new_tokens])
            text, stopped = truncate_at_stop(text, request.stop)
            results.append(
                Completion(
                    text=text,
                    prompt_tokens=len(prompt_ids),
                    completion_tokens=len(self.tokenizer.encode(text)),
                    finish_reason="length" if truncated and not stopped else "stop",
                    time_to_first_token_s=0.0,
                    total_time_s=0.0,
                )
            )
        return results

    def loglikelihood_tokens(self, requests: Sequence[TokenLoglikelihoodRequest]) -> list[LogLikelihood]:
        results = []
        for request in requests:
            digest = hashlib.sha256(repr((request.context, request.continuation)).encode()).digest()
            results.append(
                LogLikelihood(
                    logprob=-(digest[0] + 1) / 16.0 * len(request.continuation),
                    is_greedy=digest[1] % 2 == 0,
                    num_tokens=len(request.continuation),
                )
            )
        return results
