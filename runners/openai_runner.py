"""The `openai` runner: any OpenAI-compatible server (`vllm serve`, `jamba-eval serve`, hosted APIs) over httpx.

`--model` is the served model name; `--model-args` (names as lm-eval's API models where they exist):

    base_url=URL|URL|...   one or more replicas, `|`-separated (commas separate model args), each up to `/v1`
                           [default: $OPENAI_BASE_URL or http://127.0.0.1:8000/v1]
    api_key_env=NAME       environment variable holding the API key [default: OPENAI_API_KEY]; the key itself is
                           never accepted as an argument, so it never lands in a run's config or logs
    tokenizer=DIR|byte     the model's tokenizer, needed for log-likelihoods and token counting by tasks
    num_concurrent=N  max_retries=N  timeout=SECONDS  backoff=SECONDS  max_backoff=SECONDS  max_length=N

Prompts follow the protocol's encoding rules by letting the server encode them: text goes to `/v1/completions`
(the server adds BOS), chat messages to `/v1/chat/completions` (the server applies its chat template), token ids to
`/v1/completions` as a token array. Log-likelihoods use `/v1/completions` with the token ids of context +
continuation, `echo: true`, `logprobs: 1`, `max_tokens: 1` (as lm-eval's `local-completions`), reading the
echoed prompt log-probs; a server that cannot echo log-probs gets a clear error.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

from jamba_eval.config import parse_length
from jamba_eval.errors import UserError
from jamba_eval.runners.base import (
    Completion,
    GenerationRequest,
    LogLikelihood,
    Runner,
    TokenLoglikelihoodRequest,
    truncate_at_stop,
)
from jamba_eval.runners.http_pool import ReplicaPool, RequestFailed, RetryPolicy
from jamba_eval.tokenizer import Tokenizer, load_tokenizer

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
ECHO_HELP = (
    "log-likelihoods need /v1/completions with echo + logprobs over token ids "
    "(vllm serve and jamba-eval serve have it; most hosted chat APIs do not)"
)


class NoTokenizer:
    """Stands in when no tokenizer is given: generation works, anything needing token ids says how to fix it."""

    name = "none"
    vocab_size = 0
    bos_token_id = eos_token_id = pad_token_id = None

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise UserError("openai runner: this needs the model's tokenizer; pass --model-args tokenizer=DIR (or byte)")

    encode = encode_with_offsets = decode = count = apply_chat_template = fingerprint = _refuse


class OpenAIRunner(Runner):
    def __init__(
        self,
        model: str,
        *,
        base_url: str | list[str] | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        tokenizer: str | None = None,
        num_concurrent: int = 8,
        max_retries: int = 5,
        timeout: float = 300.0,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        max_length: int | str | None = None,
        batch_size: int | None = None,  # accepted like the other runners; concurrency is num_concurrent
        **unknown: Any,
    ):
        if "api_key" in unknown:
            raise UserError(
                "openai runner: do not pass the API key as a model argument (it would be saved with the run); "
                "put it in an environment variable and pass api_key_env=NAME"
            )
        if unknown:
            raise UserError(
                f"openai runner: unknown model argument(s) {', '.join(sorted(unknown))}; accepted: base_url, "
                "api_key_env, tokenizer, num_concurrent, max_retries, timeout, backoff, max_backoff, max_length"
            )
        if int(num_concurrent) < 1 or int(max_retries) < 0 or float(timeout) <= 0:
            raise UserError("openai runner: num_concurrent >= 1, max_retries >= 0 and timeout > 0 are required")
        self.name = str(model)
        self.base_urls = parse_base_urls(base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL)
        self.api_key_env = api_key_env
        api_key = os.environ.get(api_key_env) if api_key_env else None
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.tokenizer: Tokenizer = load_tokenizer(tokenizer) if tokenizer else NoTokenizer()  # type: ignore[assignment]
        self.pool = ReplicaPool(
            self.base_urls,
            headers,
            timeout_s=float(timeout),
            num_concurrent=int(num_concurrent),
            policy=RetryPolicy(int(max_retries), float(backoff), float(max_backoff)),
        )
        self._max_length = parse_length(max_length) if max_length is not None else None
        self._lock = threading.Lock()

    @property
    def max_length(self) -> int:  # type: ignore[override]
        """From `max_length=`, else the server's `/v1/models` (`max_model_len`, as vLLM reports it)."""
        with self._lock:
            if self._max_length is None:
                models = self.pool.get("/models").get("data", [])
                entry = next((m for m in models if m.get("id") == self.name), models[0] if models else {})
                if not entry.get("max_model_len"):
                    raise UserError(
                        f"openai runner: the server does not report max_model_len for {self.name!r}; "
                        "pass --model-args max_length=N"
                    )
                self._max_length = int(entry["max_model_len"])
            return self._max_length

    # ---------------------------------------------------------------------------------------------- generation

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        return self.pool.map(self._generate_one, list(requests), "openai generate")

    def _generate_one(self, request: GenerationRequest, cancel: threading.Event) -> Completion:
        payload: dict[str, Any] = {
            "model": self.name,
            "max_tokens": request.max_new_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
        }
        if request.stop:
            payload["stop"] = list(request.stop)
        if request.seed is not None:
            payload["seed"] = request.seed
        chat = isinstance(request.prompt, list) and bool(request.prompt) and isinstance(request.prompt[0], dict)
        if chat:
            payload["messages"] = request.prompt
        else:
            payload["prompt"] = request.prompt
        body, retries, seconds = self.pool.post("/chat/completions" if chat else "/completions", payload, cancel)
        try:
            choice = body["choices"][0]
            text = choice["message"]["content"] if chat else choice["text"]
            usage = body.get("usage") or {}
        except (KeyError, IndexError, TypeError):
            raise RequestFailed(f"openai runner: malformed response from the server: {str(body)[:200]}") from None
        text, stopped = truncate_at_stop(text or "", request.stop)
        return Completion(
            text=text,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            finish_reason="length" if choice.get("finish_reason") == "length" and not stopped else "stop",
            time_to_first_token_s=None,  # not measurable without streaming
            total_time_s=seconds,
            retries=retries,
        )

    # ----------------------------------------------------------------------------------------------- scoring

    def loglikelihood_tokens(self, requests: Sequence[TokenLoglikelihoodRequest]) -> list[LogLikelihood]:
        return self.pool.map(self._score_one, list(requests), "openai loglikelihood")

    def _score_one(self, request: TokenLoglikelihoodRequest, cancel: threading.Event) -> LogLikelihood:
        if not request.context:
            raise UserError("openai runner: loglikelihood needs a non-empty context (use the prefix token)")
        prompt = [int(t) for t in request.context] + [int(t) for t in request.continuation]
        payload = {
            "model": self.name,
            "prompt": prompt,
            "max_tokens": 1,
            "temperature": 0.0,
            "logprobs": 1,
            "echo": True,
        }
        try:
            body, retries, _ = self.pool.post("/completions", payload, cancel)
        except RequestFailed as exc:
            if exc.status is not None and 400 <= exc.status < 500:
                raise UserError(f"openai runner: {exc}; {ECHO_HELP}") from None
            raise
        try:
            logprobs = body["choices"][0]["logprobs"]
            token_logprobs = logprobs["token_logprobs"]
            top_logprobs = logprobs.get("top_logprobs")
        except (KeyError, IndexError, TypeError):
            raise UserError(f"openai runner: the server returned no prompt log-probs; {ECHO_HELP}") from None
        if len(token_logprobs) < len(prompt) or not top_logprobs:
            raise UserError(f"openai runner: the server did not echo log-probs for every prompt token; {ECHO_HELP}")
        span = range(len(request.context), len(prompt))
        chosen = [token_logprobs[i] for i in span]
        if any(lp is None for lp in chosen):
            raise UserError(f"openai runner: the server left continuation log-probs empty; {ECHO_HELP}")
        greedy = all(top_logprobs[i] and chosen[k] >= max(top_logprobs[i].values()) for k, i in enumerate(span))
        return LogLikelihood(float(sum(chosen)), bool(greedy), len(chosen), retries=retries)

    # ---------------------------------------------------------------------------------------------- the rest

    def describe(self) -> dict[str, Any]:
        return {
            "runner": type(self).__name__,
            "name": self.name,
            "base_urls": self.base_urls,
            "api_key_env": self.api_key_env,  # the variable's name only, never its value
            "tokenizer": self.tokenizer.name,
            "max_length": self._max_length,
            "num_concurrent": self.pool.num_concurrent,
            "retry_policy": vars(self.pool.policy),
            "retries": self.pool.retries,
            "replicas": self.pool.describe(),
        }

    def close(self) -> None:
        self.pool.close()

    def __repr__(self) -> str:
        return f"OpenAIRunner({self.name!r}, base_urls={self.base_urls})"


def parse_base_urls(value: str | Sequence[str]) -> list[str]:
    """`"http://a/v1|http://b/v1"` (or a list) -> base URLs without trailing `/` or endpoint suffix."""
    items = value.split("|") if isinstance(value, str) else list(value)
    urls = []
    for item in items:
        url = str(item).strip().rstrip("/")
        for suffix in ("/chat/completions", "/completions"):
            url = url.removesuffix(suffix)
        if not url.startswith(("http://", "https://")):
            raise UserError(f"openai runner: base_url {item!r} must start with http:// or https://")
        urls.append(url)
    if not urls:
        raise UserError("openai runner: base_url is empty")
    return urls
