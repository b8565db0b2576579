"""The `vllm` runner: vLLM's offline engine (`vllm.LLM`), imported only when chosen (extra `jamba-eval[vllm]`).

`--model` is a local directory or a Hugging Face repo id. `--model-args` (names as lm-eval's `vllm` model):

    tensor_parallel_size=N  pipeline_parallel_size=N  max_model_len=N|256k (or max_length)  dtype=auto|bfloat16|...
    gpu_memory_utilization=0.9  quantization=experts_int8  seed=N  max_num_seqs=N  enforce_eager=true
    tokenizer=DIR  trust_remote_code=true   (any other argument is passed to `vllm.LLM` as it is)

Prompts are encoded by our tokenizer (the protocol's rules) and given to vLLM as token ids, and completions are
decoded by it, so the text matches the other runners token for token. Log-likelihoods read vLLM's prompt
log-probs (`prompt_logprobs=1`: the actual token and the top-1). Scripts that build an `LLM` need an
`if __name__ == "__main__":` guard (vLLM spawns its engine process); on CPU builds set `VLLM_CPU_KVCACHE_SPACE`.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jamba_eval.config import parse_length
from jamba_eval.errors import UserError
from jamba_eval.registry import require
from jamba_eval.runners.base import (
    Completion,
    GenerationRequest,
    LogLikelihood,
    Runner,
    TokenLoglikelihoodRequest,
    TokenScore,
    encode_prompt,
    truncate_at_stop,
)
from jamba_eval.tokenizer import HFTokenizer, Tokenizer, load_tokenizer

logger = logging.getLogger(__name__)


class VLLMRunner(Runner):
    def __init__(
        self,
        model: str,
        *,
        tokenizer: str | None = None,
        dtype: str = "auto",
        tensor_parallel_size: int = 1,
        pipeline_parallel_size: int = 1,
        max_model_len: int | str | None = None,
        max_length: int | str | None = None,
        gpu_memory_utilization: float | None = None,
        quantization: str | None = None,
        seed: int = 0,
        max_num_seqs: int | None = None,
        enforce_eager: bool = False,
        trust_remote_code: bool = False,
        batch_size: int | None = None,  # accepted for symmetry with the other runners; vLLM schedules itself
        **engine_args: Any,
    ):
        vllm = require("vllm", "vllm", "the vllm runner")
        if max_model_len is not None and max_length is not None:
            raise UserError("vllm runner: give max_model_len or max_length, not both")
        length = max_model_len if max_model_len is not None else max_length
        path = _local_or_repo(str(model))
        self.tokenizer: Tokenizer = load_tokenizer(tokenizer) if tokenizer else HFTokenizer(_tokenizer_dir(path))
        options: dict[str, Any] = {
            "dtype": dtype,
            "tensor_parallel_size": int(tensor_parallel_size),
            "pipeline_parallel_size": int(pipeline_parallel_size),
            "seed": int(seed),
            "enforce_eager": bool(enforce_eager),
            "trust_remote_code": bool(trust_remote_code),
            "disable_log_stats": False,  # keeps per-request timings (time to first token, total)
            **engine_args,
        }
        optional = {
            "max_model_len": parse_length(length) if length is not None else None,
            "gpu_memory_utilization": gpu_memory_utilization,
            "quantization": quantization,
            "max_num_seqs": max_num_seqs,
            "tokenizer": tokenizer if tokenizer and tokenizer != "byte" else None,
        }
        options.update({k: v for k, v in optional.items() if v is not None})
        self.options = options
        self.name = str(model)
        self._vllm = vllm
        self.llm = vllm.LLM(model=str(path), **options)
        self.max_length = int(self.llm.llm_engine.model_config.max_model_len)
        self.version = getattr(vllm, "__version__", None)
        logger.info("vllm runner: %s (max_model_len %d)", self.name, self.max_length)

    def _tokens_prompt(self, ids: list[int]) -> Any:
        return {"prompt_token_ids": ids}

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        prompts = [encode_prompt(self.tokenizer, r.prompt) for r in requests]
        params = []
        for request, prompt in zip(requests, prompts, strict=True):
            if not prompt or len(prompt) >= self.max_length:
                raise UserError(
                    f"vllm runner: a prompt of {len(prompt)} tokens does not fit max_model_len {self.max_length}"
                )
            params.append(
                self._vllm.SamplingParams(
                    max_tokens=max(1, min(request.max_new_tokens, self.max_length - len(prompt))),
                    temperature=request.temperature,
                    top_p=request.top_p,
                    seed=request.seed,
                    stop=[s for s in request.stop if s] or None,
                )
            )
        outputs = self.llm.generate([self._tokens_prompt(p) for p in prompts], params, use_tqdm=False)
        completions = []
        for request, prompt, output in zip(requests, prompts, outputs, strict=True):
            choice = output.outputs[0]
            token_ids = list(choice.token_ids) if request.max_new_tokens > 0 else []
            text, stopped = truncate_at_stop(self.tokenizer.decode(token_ids), request.stop)
            first, total = _timings(output)
            completions.append(
                Completion(
                    text=text,
                    prompt_tokens=len(prompt),
                    completion_tokens=len(token_ids),
                    finish_reason="stop" if choice.finish_reason == "stop" or stopped else "length",
                    time_to_first_token_s=first,
                    total_time_s=total,
                    token_ids=token_ids,
                )
            )
        return completions

    def _prompt_scores(self, sequences: list[list[int]]) -> list[list[TokenScore]]:
        """vLLM's prompt log-probs of tokens 1..n-1 of each sequence, with the top-1 token at each position."""
        params = self._vllm.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=1, detokenize=False)
        outputs = self.llm.generate([self._tokens_prompt(s) for s in sequences], params, use_tqdm=False)
        results = []
        for seq, output in zip(sequences, outputs, strict=True):
            scores = []
            for position in range(1, len(seq)):
                entry = output.prompt_logprobs[position]
                top_id, top = min(entry.items(), key=lambda kv: (kv[1].rank or 0, -kv[1].logprob))
                scores.append(TokenScore(seq[position], float(entry[seq[position]].logprob), top_id, top.logprob))
            results.append(scores)
        return results

    def loglikelihood_tokens(self, requests: Sequence[TokenLoglikelihoodRequest]) -> list[LogLikelihood]:
        sequences, lengths = [], []
        for r in requests:
            if not r.context:
                raise UserError("vllm runner: loglikelihood needs a non-empty context (use the prefix token)")
            if len(r.continuation) > self.max_length:
                raise UserError(f"vllm runner: continuation of {len(r.continuation)} tokens exceeds max_model_len")
            room = self.max_length - len(r.continuation)  # vLLM scores a prompt of at most max_model_len tokens
            sequences.append(list(r.context[-room:]) + list(r.continuation))
            lengths.append(len(r.continuation))
        todo = [i for i, n in enumerate(lengths) if n]
        scored = self._prompt_scores([sequences[i] for i in todo]) if todo else []
        results = [LogLikelihood(0.0, True, 0) for _ in requests]
        for i, scores in zip(todo, scored, strict=True):
            tail = scores[-lengths[i] :]
            results[i] = LogLikelihood(sum(s.logprob for s in tail), all(s.is_greedy for s in tail), lengths[i])
        return results

    def prompt_logprobs(self, prompts: Sequence[list[int]]) -> list[list[TokenScore]]:
        sequences = [list(p)[-self.max_length :] for p in prompts]
        todo = [i for i, s in enumerate(sequences) if len(s) > 1]
        results: list[list[TokenScore]] = [[] for _ in prompts]
        for i, scores in zip(todo, self._prompt_scores([sequences[i] for i in todo]) if todo else [], strict=True):
            results[i] = scores
        return results

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "vllm": self.version, "engine_args": self.options}

    def close(self) -> None:
        llm, self.llm = getattr(self, "llm", None), None
        engine = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        if engine is not None and hasattr(engine, "shutdown"):
            engine.shutdown()
        del llm
        gc.collect()


def _local_or_repo(model: str) -> Path | str:
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    if path.exists() or model.startswith((".", "/", "~")):
        raise UserError(f"vllm runner: no model directory {model!r}")
    return model  # a Hugging Face repo id: vLLM resolves it


def _tokenizer_dir(model: Path | str) -> Path:
    if isinstance(model, Path):
        return model
    from jamba_eval.runners.torch_runner import resolve_model

    path, _ = resolve_model(model)
    if path is None:
        raise UserError(f"vllm runner: {model!r} is neither a model directory nor a Hugging Face repo id")
    return path


def _timings(output: Any) -> tuple[float | None, float | None]:
    """(time to first token, total) from vLLM's request stats when it keeps them (else None, None)."""
    metrics = getattr(output, "metrics", None)
    first = getattr(metrics, "first_token_latency", 0.0) or None
    first_ts, last_ts = getattr(metrics, "first_token_ts", 0.0), getattr(metrics, "last_token_ts", 0.0)
    total = first + (last_ts - first_ts) if first is not None and first_ts and last_ts else None
    return first, total
