"""The OpenAI API's request bodies (validated with pydantic) and response bodies, as the server speaks them.

Unknown fields are ignored, as OpenAI-compatible servers do, so clients that send extra options still work;
options that would change the answer and that we do not support (`n > 1`, `stream`, `logprobs > 1`) are refused.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from jamba_eval.runners.base import Completion, TokenScore
from jamba_eval.tokenizer import Tokenizer

MAX_LOGPROBS = 1  # we report the top-1 alternative per position


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    temperature: float = Field(1.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    n: int = Field(1, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False

    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)


class CompletionBody(_Body):
    prompt: str | list[int] | list[str] | list[list[int]]
    max_tokens: int | None = Field(16, ge=0)
    echo: bool = False
    logprobs: int | None = Field(None, ge=0)

    def prompts(self) -> list[str | list[int]]:
        """The prompt field as a list of prompts (text or token ids)."""
        prompt = self.prompt
        if isinstance(prompt, str):
            return [prompt]
        if prompt and all(isinstance(p, int) for p in prompt):
            return [list(prompt)]  # type: ignore[arg-type]
        return list(prompt)  # type: ignore[arg-type]


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: str = Field(min_length=1)
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if self.content is None or isinstance(self.content, str):
            return self.content or ""
        if any(part.type != "text" for part in self.content):
            raise ValueError("only text content parts are supported")
        return "".join(part.text or "" for part in self.content)


class ChatBody(_Body):
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=0)
    max_completion_tokens: int | None = Field(None, ge=0)
    logprobs: bool = False


def error_body(message: str, status: int, kind: str = "invalid_request_error", param: str | None = None) -> dict:
    return {"error": {"message": message, "type": kind, "param": param, "code": status}, "object": "error"}


def completion_response(
    model: str, choices: list[dict[str, Any]], prompt_tokens: int, completion_tokens: int, chat: bool = False
) -> dict[str, Any]:
    return {
        "id": f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}",
        "object": "chat.completion" if chat else "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def completion_choice(index: int, text: str, completion: Completion | None, logprobs: dict | None) -> dict:
    return {
        "index": index,
        "text": text,
        "logprobs": logprobs,
        "finish_reason": completion.finish_reason if completion is not None else "length",
    }


def chat_choice(completion: Completion) -> dict:
    return {
        "index": 0,
        "message": {"role": "assistant", "content": completion.text},
        "logprobs": None,
        "finish_reason": completion.finish_reason,
    }


def logprobs_block(
    tokenizer: Tokenizer,
    token_ids: Sequence[int],
    scores: Sequence[TokenScore | None],
    top: int,
    text_offset: int = 0,
) -> dict[str, Any]:
    """The legacy completions `logprobs` object over `token_ids` (a None score: the first prompt token)."""
    tokens = [tokenizer.decode([t], skip_special_tokens=False) for t in token_ids]
    offsets = []
    for token in tokens:
        offsets.append(text_offset)
        text_offset += len(token)
    top_logprobs: list[dict[str, float] | None] = []
    for score in scores:
        if score is None:
            top_logprobs.append(None)
            continue
        alternatives = {tokenizer.decode([score.token_id], skip_special_tokens=False): score.logprob}
        if top >= 1:  # the chosen token and the top-1 (written last so a shared string keeps the top value)
            alternatives[tokenizer.decode([score.top_token_id], skip_special_tokens=False)] = score.top_logprob
        top_logprobs.append(alternatives if top >= 1 else {})
    return {
        "tokens": tokens,
        "token_logprobs": [None if s is None else s.logprob for s in scores],
        "top_logprobs": top_logprobs,
        "text_offset": offsets,
    }
