"""The runner protocol: every task talks to a model only through these whole-batch calls.

As in lm-evaluation-harness, a runner takes a list of requests and returns results in the same order, so it may
sort, batch and cache as it likes. The interface is synchronous; the HTTP runner uses a pool inside.

Prompt encoding rules (shared by all runners, so their outputs agree):
- a text prompt is encoded with the tokenizer's special tokens (`add_special_tokens=True`: e.g. BOS), as vLLM and
  OpenAI-compatible servers do for `/v1/completions`;
- chat messages are rendered with the tokenizer's chat template and encoded without adding special tokens (the
  template carries them), as servers do for `/v1/chat/completions`;
- a list of token ids is used as it is.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Sequence
from typing import Any, Literal

from jamba_eval.tokenizer import Message, Tokenizer

Prompt = str | list[Message] | list[int]
FinishReason = Literal["stop", "length"]


@dataclasses.dataclass
class GenerationRequest:
    """Generate a continuation. temperature 0 means greedy; `seed` makes sampling reproducible per request."""

    prompt: Prompt
    max_new_tokens: int = 256
    stop: list[str] = dataclasses.field(default_factory=list)
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None


@dataclasses.dataclass
class Completion:
    text: str  # the continuation, cut before the first stop string (the stop string itself is not included)
    prompt_tokens: int
    completion_tokens: int
    finish_reason: FinishReason  # "stop": EOS or a stop string; "length": max_new_tokens reached
    time_to_first_token_s: float | None = None
    total_time_s: float | None = None
    retries: int = 0  # HTTP retries spent on this request (0 for local runners)
    peak_memory_bytes: int | None = None  # peak memory while the batch holding this request ran (local runners)
    token_ids: list[int] | None = None  # generated ids (may run past a stop string cut from `text`; local runners)


@dataclasses.dataclass
class LoglikelihoodRequest:
    """Score `continuation` given `context` (lm-eval's (context, continuation) pair)."""

    context: str
    continuation: str


@dataclasses.dataclass
class LogLikelihood:
    logprob: float  # sum of the continuation tokens' log-probabilities
    is_greedy: bool  # every continuation token was the argmax
    num_tokens: int  # continuation tokens scored
    retries: int = 0  # HTTP retries spent on this request (0 for local runners)


@dataclasses.dataclass
class TokenLoglikelihoodRequest:
    """Score `continuation` token ids given `context` token ids (context must be non-empty)."""

    context: list[int]
    continuation: list[int]


@dataclasses.dataclass
class TokenScore:
    """One scored token: its log-probability and the model's top-1 token there (what `echo` + `logprobs` return)."""

    token_id: int
    logprob: float
    top_token_id: int
    top_logprob: float

    @property
    def is_greedy(self) -> bool:
        return self.token_id == self.top_token_id or self.logprob >= self.top_logprob


class Runner(abc.ABC):
    """Base class of all runners. Subclasses implement `generate` and `loglikelihood_tokens`."""

    name: str
    tokenizer: Tokenizer
    max_length: int

    @abc.abstractmethod
    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        """Answer every request; results come back in request order."""

    @abc.abstractmethod
    def loglikelihood_tokens(self, requests: Sequence[TokenLoglikelihoodRequest]) -> list[LogLikelihood]:
        """Token-level scoring, the primitive under `loglikelihood` and lm-eval's rolling windows."""

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LogLikelihood]:
        """String-level scoring, tokenized the way lm-eval's `hf` model does (see `split_for_loglikelihood`)."""
        token_requests = [
            TokenLoglikelihoodRequest(*split_for_loglikelihood(self.tokenizer, r.context, r.continuation))
            for r in requests
        ]
        return self.loglikelihood_tokens(token_requests)

    def prompt_logprobs(self, prompts: Sequence[list[int]]) -> list[list[TokenScore]]:
        """Per-token scores of each prompt's tokens 1..n-1 (token 0 has no context), for `echo` + `logprobs`.

        Optional: runners that can score every position in one pass override it."""
        raise NotImplementedError(f"{type(self).__name__} does not return per-token prompt log-probs")

    def describe(self) -> dict[str, Any]:
        """What answered: recorded in every run's provenance."""
        return {
            "runner": type(self).__name__,
            "name": self.name,
            "max_length": self.max_length,
            "tokenizer": getattr(self.tokenizer, "name", None),
        }

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op for runners holding nothing
        """Release engines, pools and memory."""

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def encode_prompt(tokenizer: Tokenizer, prompt: Prompt) -> list[int]:
    """Token ids of a prompt, by the module's encoding rules."""
    if isinstance(prompt, str):
        return tokenizer.encode(prompt, add_special_tokens=True)
    if prompt and isinstance(prompt[0], dict):
        return tokenizer.encode(tokenizer.apply_chat_template(prompt, add_generation_prompt=True))
    return [int(t) for t in prompt]  # type: ignore[union-attr]


def prefix_token_id(tokenizer: Tokenizer) -> int:
    """The token that stands in for an empty context (BOS, else EOS), as lm-eval does."""
    token = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    if token is None:
        raise ValueError(f"tokenizer {tokenizer.name!r} has neither BOS nor EOS to score an empty context")
    return token


def split_for_loglikelihood(tokenizer: Tokenizer, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """lm-eval's `hf` split: trailing spaces of the context move to the continuation; context and context +
    continuation are encoded with the tokenizer's special tokens (as text prompts are) and the continuation is what
    follows the context's own encoding; an empty context becomes the prefix token (BOS, else EOS)."""
    if not context:
        continuation_ids = tokenizer.encode(continuation)
        prefix = prefix_token_id(tokenizer)
        if continuation_ids and continuation_ids[0] == prefix:
            return continuation_ids[:1], continuation_ids[1:]
        return [prefix], continuation_ids
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    whole = tokenizer.encode(context + continuation, add_special_tokens=True)
    context_ids = tokenizer.encode(context, add_special_tokens=True)
    return context_ids, whole[len(context_ids) :]


def truncate_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut `text` before the earliest stop string; returns (text, whether a stop string was found)."""
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def load_runner(model: Any, **overrides: Any) -> Runner:
    """Instantiate the runner named by a `ModelConfig` (runner, model, model_args)."""
    from jamba_eval.registry import RUNNERS

    cls = RUNNERS.load(model.runner)
    return cls(model.model, **{**model.model_args, **overrides})
