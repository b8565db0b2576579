"""`jamba-eval serve`: any runner behind an OpenAI-compatible API (FastAPI + uvicorn, extra `serve`).

Endpoints: `GET /health`, `GET /v1/models`, `POST /v1/completions` (text, token-id and batched prompts; `echo`;
`logprobs` up to 1, over prompt and generated tokens), `POST /v1/chat/completions`. Prompts are encoded here, by
the protocol's rules, and checked against the model's length before they are queued; one worker thread owns the
runner and answers queued requests in whole batches (`batcher.BatchWorker`). Bad requests get a 4xx JSON error in
OpenAI's format (`{"error": {"message", "type", "code"}}`), never a crash; a failed runner call is a 500 for the
requests it held, and the server keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from typing import Any

from jamba_eval.errors import UserError
from jamba_eval.registry import require
from jamba_eval.runners.base import Completion, GenerationRequest, Runner, encode_prompt
from jamba_eval.runners.batcher import BatchWorker
from jamba_eval.runners.openai_api import (
    MAX_LOGPROBS,
    ChatBody,
    CompletionBody,
    chat_choice,
    completion_choice,
    completion_response,
    error_body,
    logprobs_block,
)

logger = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 64 * 1024 * 1024


class ApiError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param = status, message, param


def create_app(
    runner: Runner, served_model_name: str, max_batch_size: int = 8, max_request_bytes: int = MAX_REQUEST_BYTES
):
    """The FastAPI app; its lifespan starts and stops the worker thread (the caller closes the runner)."""
    fastapi = require("fastapi", "serve", "jamba-eval serve")
    from fastapi.concurrency import run_in_threadpool
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    worker = BatchWorker({"generate": runner.generate, "score": runner.prompt_logprobs}, max_batch_size)
    started = int(time.time())

    @contextlib.asynccontextmanager
    async def lifespan(app: Any):
        worker.start()
        yield
        worker.stop()

    app = fastapi.FastAPI(title="jamba-eval serve", lifespan=lifespan)
    app.state.worker = worker

    def error(status: int, message: str, param: str | None = None) -> JSONResponse:
        kind = "invalid_request_error" if status < 500 else "server_error"
        if status == 404:
            kind = "not_found_error"
        return JSONResponse(error_body(message, status, kind, param), status_code=status)

    @app.exception_handler(ApiError)
    async def _api_error(request: Any, exc: ApiError) -> JSONResponse:
        return error(exc.status, exc.message, exc.param)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Any, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request", "type": ""}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        if first.get("type") == "json_invalid":
            return error(400, f"request body is not valid JSON: {first.get('msg')}")
        return error(400, f"{where or 'body'}: {first.get('msg')}", where or None)

    @app.exception_handler(HTTPException)
    async def _http(request: Any, exc: HTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail))

    @app.middleware("http")
    async def _limit_size(request: Any, call_next: Any) -> Any:
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > max_request_bytes:
            return error(413, f"request body of {length} bytes exceeds the limit of {max_request_bytes}")
        return await call_next(request)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": served_model_name, "queued": worker.queued, **worker.stats}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        card = {
            "id": served_model_name,
            "object": "model",
            "created": started,
            "owned_by": "jamba-eval",
            "max_model_len": runner.max_length,
        }
        return {"object": "list", "data": [card]}

    def check_common(body: Any) -> None:
        if body.model is not None and body.model != served_model_name:
            raise ApiError(404, f"The model `{body.model}` does not exist; this server has `{served_model_name}`.")
        if body.n != 1:
            raise ApiError(400, "only n=1 is supported", "n")
        if body.stream:
            raise ApiError(400, "streaming is not supported", "stream")

    def encode(prompt: Any, max_tokens: int) -> list[int]:
        try:
            ids = encode_prompt(runner.tokenizer, prompt)
        except UserError as exc:
            raise ApiError(400, str(exc)) from None
        if not ids:
            raise ApiError(400, "the prompt is empty", "prompt")
        vocab = runner.tokenizer.vocab_size
        if isinstance(prompt, list) and any(not 0 <= t < vocab for t in ids):
            raise ApiError(400, f"token ids must lie in [0, {vocab})", "prompt")
        if len(ids) + max_tokens > runner.max_length:
            raise ApiError(
                400,
                f"This model's maximum context length is {runner.max_length} tokens. However, you requested "
                f"{len(ids) + max_tokens} tokens ({len(ids)} in the prompt, {max_tokens} in the completion).",
            )
        return ids

    async def call(kind: str, items: list[Any]) -> list[Any]:
        try:
            return list(await asyncio.gather(*(worker.submit(kind, item) for item in items)))
        except UserError as exc:
            raise ApiError(400, str(exc)) from None
        except NotImplementedError as exc:
            raise ApiError(400, f"not supported by this model's runner: {exc}") from None
        except Exception as exc:
            logger.exception("runner failed")
            raise ApiError(500, f"the runner failed: {type(exc).__name__}: {exc}") from None

    @app.post("/v1/completions")
    async def completions(body: CompletionBody) -> dict[str, Any]:
        check_common(body)
        if body.logprobs is not None and body.logprobs > MAX_LOGPROBS:
            raise ApiError(400, f"logprobs may be at most {MAX_LOGPROBS} on this server", "logprobs")
        prompts = body.prompts()
        if not prompts:
            raise ApiError(400, "the prompt is empty", "prompt")
        max_tokens = 16 if body.max_tokens is None else body.max_tokens
        ids = await run_in_threadpool(lambda: [encode(p, max_tokens) for p in prompts])
        results: list[Completion | None] = [None] * len(ids)
        if max_tokens > 0:
            requests = [
                GenerationRequest(p, max_tokens, body.stop_list(), body.temperature, body.top_p, body.seed) for p in ids
            ]
            results = await call("generate", requests)
        blocks: list[dict | None] = [None] * len(ids)
        if body.logprobs is not None:
            blocks = await logprob_blocks(ids, results, body.echo, body.logprobs)
        choices = []
        for i, (prompt, completion) in enumerate(zip(prompts, results, strict=True)):
            text = completion.text if completion is not None else ""
            if body.echo:
                text = (prompt if isinstance(prompt, str) else runner.tokenizer.decode(ids[i])) + text
            choices.append(completion_choice(i, text, completion, blocks[i]))
        completion_tokens = sum(c.completion_tokens for c in results if c is not None)
        return completion_response(served_model_name, choices, sum(map(len, ids)), completion_tokens)

    async def logprob_blocks(
        ids: list[list[int]], results: list[Completion | None], echo: bool, top: int
    ) -> list[dict | None]:
        generated = []
        for completion in results:
            if completion is not None and completion.token_ids is None:
                raise ApiError(400, "this runner does not report generated token ids; use echo with max_tokens=0")
            generated.append(completion.token_ids if completion is not None else [])
        scores = await call("score", [p + g for p, g in zip(ids, generated, strict=True)])
        blocks = []
        for prompt_ids, gen_ids, score in zip(ids, generated, scores, strict=True):
            if echo:  # every prompt token (the first has no context) and then the generated ones
                blocks.append(logprobs_block(runner.tokenizer, prompt_ids + gen_ids, [None, *score], top))
            else:
                blocks.append(logprobs_block(runner.tokenizer, gen_ids, score[len(prompt_ids) - 1 :], top))
        return blocks

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatBody) -> dict[str, Any]:
        check_common(body)
        if body.logprobs:
            raise ApiError(400, "logprobs are not supported on chat completions; use /v1/completions", "logprobs")
        try:
            messages = [{"role": m.role, "content": m.text()} for m in body.messages]
        except ValueError as exc:
            raise ApiError(400, str(exc), "messages") from None
        limit = body.max_completion_tokens if body.max_completion_tokens is not None else body.max_tokens
        ids = await run_in_threadpool(encode, messages, limit or 0)
        max_tokens = limit if limit is not None else runner.max_length - len(ids)
        request = GenerationRequest(ids, max_tokens, body.stop_list(), body.temperature, body.top_p, body.seed)
        [completion] = await call("generate", [request])
        return completion_response(
            served_model_name, [chat_choice(completion)], len(ids), completion.completion_tokens, chat=True
        )

    return app


def cli_main(model: dict[str, Any], host: str, port: int, served_model_name: str | None, max_batch_size: int) -> None:
    """`jamba-eval serve`: load the runner, then serve until interrupted."""
    require("fastapi", "serve", "jamba-eval serve")
    uvicorn = require("uvicorn", "serve", "jamba-eval serve")
    from jamba_eval.config import ModelConfig, build_config
    from jamba_eval.runners.base import load_runner

    if max_batch_size < 1:
        raise UserError(f"--max-batch-size must be at least 1, got {max_batch_size}")
    _check_port_free(host, port)
    config = build_config(ModelConfig, None, overrides=model)
    runner = load_runner(config)
    name = served_model_name or config.model
    app = create_app(runner, name, max_batch_size)
    logger.info("serving %s (runner %s) at http://%s:%d/v1", name, config.runner, host, port)
    try:
        uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
    finally:
        runner.close()


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
