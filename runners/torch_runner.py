"""The `torch` runner: a local PyTorch model, our Jamba for Jamba checkpoints, transformers for any other causal LM.

`--model` is a local directory (its `config.json` `model_type` picks the backend: `jamba` -> our Jamba, anything
else -> transformers' `AutoModelForCausalLM`), a Hugging Face repo id already in the local cache, or a built-in
name of our Jamba such as `jamba-tiny` (byte tokenizer, no files). `--model-args` (lm-eval style):

    backend=auto|jamba|transformers  dtype=float32|bfloat16|float16|auto  device=cpu|cuda|cuda:N|auto
    threads=N  batch_size=N  max_length=N|32k  prefill_chunk_size=N (our Jamba)  experts_int8=true (our Jamba)
    tokenizer=DIR|byte  attn_implementation=sdpa|eager  trust_remote_code=true

Both backends share the batching here: prompts are encoded by the protocol's rules, greedy requests are batched
together (left padding), sampled requests are batched by (temperature, top_p, seed), and a seeded request runs
alone so its sample depends only on its prompt and seed. Stop strings end a row as soon as they appear; the text is
cut before the earliest one. Each completion carries its timings, token counts and the batch's peak memory.
"""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from jamba_eval.config import parse_length
from jamba_eval.errors import UserError
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
from jamba_eval.runners.memory import memory_kind, peak_bytes, reset_peak
from jamba_eval.tokenizer import ByteTokenizer, HFTokenizer, Tokenizer, load_tokenizer

logger = logging.getLogger(__name__)

DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
}
BACKENDS = ("auto", "jamba", "transformers")
DEFAULT_MAX_LENGTH = 262_144  # Jamba's trained context when a model states none


class TorchRunner(Runner):
    def __init__(
        self,
        model: str = "jamba-tiny",
        *,
        backend: str = "auto",
        dtype: str = "float32",
        device: str = "cpu",
        threads: int | None = None,
        batch_size: int = 8,
        max_length: int | str | None = None,
        prefill_chunk_size: int = 4096,
        experts_int8: bool = False,
        tokenizer: str | None = None,
        attn_implementation: str | None = None,
        trust_remote_code: bool = False,
        **unknown: Any,
    ):
        if unknown:
            raise UserError(
                f"torch runner: unknown model argument(s) {', '.join(sorted(unknown))}; accepted: backend, dtype, "
                "device, threads, batch_size, max_length, prefill_chunk_size, experts_int8, tokenizer, "
                "attn_implementation, trust_remote_code"
            )
        if backend not in BACKENDS:
            raise UserError(f"torch runner: backend={backend!r}; choose one of {', '.join(BACKENDS)}")
        if int(batch_size) < 1:
            raise UserError(f"torch runner: batch_size must be at least 1, got {batch_size}")
        if threads:
            torch.set_num_threads(int(threads))
        self.device = _device(str(device))
        self.batch_size = int(batch_size)
        path, model_type = resolve_model(str(model))
        use_jamba = backend == "jamba" or (backend == "auto" and (path is None or model_type == "jamba"))
        if path is None and not use_jamba:
            raise UserError(f"torch runner: {model!r} is not a local directory; backend=transformers needs one")
        torch_dtype = _dtype(str(dtype), self.device, transformers_auto=not use_jamba)
        self.tokenizer: Tokenizer = _tokenizer(tokenizer, path)
        if use_jamba:
            from jamba_eval.runners.jamba_backend import JambaBackend

            self.backend: Any = JambaBackend(
                str(path or model),
                torch_dtype,
                self.device,
                bool(experts_int8),
                int(prefill_chunk_size),
                vocab_limit=self.tokenizer.vocab_size,
            )
        else:
            from jamba_eval.runners.hf_backend import TransformersBackend

            self.backend = TransformersBackend(path, torch_dtype, self.device, attn_implementation, trust_remote_code)
        self.name = str(model)
        default_length = self.backend.default_max_length or DEFAULT_MAX_LENGTH
        self.max_length = parse_length(max_length) if max_length is not None else default_length
        # EOS: the tokenizer's, plus the checkpoint's own (generation_config), as vLLM does; a built-in model speaks
        # only through its tokenizer
        eos = [self.tokenizer.eos_token_id] if self.tokenizer.eos_token_id is not None else []
        self.eos_token_ids = sorted(set(eos) | set(self.backend.eos_token_ids if path is not None else []))
        self.pad_token_id = next(
            (t for t in (self.tokenizer.pad_token_id, self.tokenizer.eos_token_id) if t is not None), 0
        )
        self.peak_memory_bytes = 0
        logger.info("torch runner: %s on %s (%s)", self.name, self.device, self.backend.describe()["backend"])

    # ---------------------------------------------------------------------------------------------- generation

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        prompts = [encode_prompt(self.tokenizer, r.prompt) for r in requests]
        for prompt in prompts:
            self._check_prompt(prompt)
        results: list[Completion | None] = [None] * len(requests)
        for batch in self._generation_batches(requests, prompts):
            completions = self._generate_batch([requests[i] for i in batch], [prompts[i] for i in batch])
            for i, completion in zip(batch, completions, strict=True):
                results[i] = completion
        return results  # type: ignore[return-value]

    def _generation_batches(self, requests: Sequence[GenerationRequest], prompts: list[list[int]]) -> list[list[int]]:
        """Indices grouped by sampling settings, longest prompts first; seeded samples one at a time."""
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(requests):
            key = ("greedy",) if r.temperature <= 0 else ("sample", r.temperature, r.top_p, r.seed)
            groups.setdefault(key, []).append(i)
        batches = []
        for key, members in groups.items():
            members.sort(key=lambda i: -len(prompts[i]))
            size = 1 if key[0] == "sample" and key[3] is not None else self.batch_size
            batches += [members[s : s + size] for s in range(0, len(members), size)]
        return batches

    def _generate_batch(self, requests: list[GenerationRequest], prompts: list[list[int]]) -> list[Completion]:
        room = [self.max_length - len(p) for p in prompts]
        limits = [max(0, min(r.max_new_tokens, n)) for r, n in zip(requests, room, strict=True)]
        stops = [[s for s in r.stop if s] for r in requests]
        windows = [4 * max(map(len, s)) + 8 if s else 0 for s in stops]

        def stop_check(row: int, new_ids: list[int]) -> bool:
            if len(new_ids) >= limits[row]:
                return True
            if not stops[row]:
                return False
            tail = self.tokenizer.decode(new_ids[-windows[row] :])
            return any(s in tail for s in stops[row])

        first = requests[0]
        if max(limits) == 0:  # nothing to generate (e.g. max_new_tokens=0)
            return [Completion("", len(p), 0, "length", 0.0, 0.0, token_ids=[]) for p in prompts]
        reset_peak(self.device)
        outputs = self.backend.generate(
            prompts,
            max(limits),
            eos_token_ids=self.eos_token_ids,
            stop_check=stop_check,
            temperature=first.temperature,
            top_p=first.top_p,
            seed=first.seed,
            pad_token_id=self.pad_token_id,
        )
        peak = self._record_peak()
        completions = []
        for request, prompt, out in zip(requests, prompts, outputs, strict=True):
            text, stopped = truncate_at_stop(self.tokenizer.decode(out.tokens), request.stop)
            completions.append(
                Completion(
                    text=text,
                    prompt_tokens=len(prompt),
                    completion_tokens=len(out.tokens),
                    finish_reason="stop" if out.finish_reason == "eos" or stopped else "length",
                    time_to_first_token_s=out.time_to_first_token_s,
                    total_time_s=out.total_time_s,
                    peak_memory_bytes=peak,
                    token_ids=[int(t) for t in out.tokens],
                )
            )
        return completions

    def _check_prompt(self, prompt: list[int]) -> None:
        if not prompt:
            raise UserError("torch runner: empty prompt (no tokens to condition on)")
        if len(prompt) >= self.max_length:
            raise UserError(
                f"torch runner: prompt of {len(prompt)} tokens leaves no room to generate within max_length "
                f"{self.max_length} (raise it with --model-args max_length=N, or shorten the prompt)"
            )

    # ----------------------------------------------------------------------------------------------- scoring

    def loglikelihood_tokens(self, requests: Sequence[TokenLoglikelihoodRequest]) -> list[LogLikelihood]:
        pairs = [self._fit(r.context, r.continuation) for r in requests]
        todo = [i for i, (_, cont) in enumerate(pairs) if cont]
        reset_peak(self.device)
        scores = self.backend.score([pairs[i] for i in todo], self.batch_size) if todo else []
        self._record_peak()
        results = [LogLikelihood(0.0, True, 0) for _ in requests]  # an empty continuation has probability 1
        for i, (logprob, greedy) in zip(todo, scores, strict=True):
            results[i] = LogLikelihood(float(logprob), bool(greedy), len(pairs[i][1]))
        return results

    def _fit(self, context: list[int], continuation: list[int]) -> tuple[list[int], list[int]]:
        """lm-eval's truncation: keep the continuation and as much of the context (from the right) as fits."""
        if not context:
            raise UserError("torch runner: loglikelihood needs a non-empty context (use the prefix token)")
        if len(continuation) > self.max_length:
            raise UserError(f"torch runner: continuation of {len(continuation)} tokens exceeds max_length")
        room = self.max_length + 1 - len(continuation)
        return list(context[-room:]), list(continuation)

    def prompt_logprobs(self, prompts: Sequence[list[int]]) -> list[list[TokenScore]]:
        sequences = [list(p)[-(self.max_length + 1) :] for p in prompts]
        todo = [i for i, seq in enumerate(sequences) if len(seq) > 1]
        scored = self.backend.token_scores(
            [sequences[i] for i in todo], [len(sequences[i]) - 1 for i in todo], self.batch_size, self.pad_token_id
        )
        results: list[list[TokenScore]] = [[] for _ in prompts]
        for i, scores in zip(todo, scored, strict=True):
            results[i] = scores
        return results

    # ---------------------------------------------------------------------------------------------- the rest

    def _record_peak(self) -> int:
        peak = peak_bytes(self.device)
        self.peak_memory_bytes = max(self.peak_memory_bytes, peak)
        return peak

    def memory_stats(self) -> dict[str, Any]:
        return {"peak_memory_bytes": self.peak_memory_bytes, "kind": memory_kind(self.device)}

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            **self.backend.describe(),
            "device": str(self.device),
            "threads": torch.get_num_threads(),
            "batch_size": self.batch_size,
            "torch": torch.__version__,
        }

    def close(self) -> None:
        self.backend = None
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def resolve_model(model: str) -> tuple[Path | None, str | None]:
    """(local directory, config model_type) of a path or a cached Hugging Face repo id; (None, None) for a
    built-in name of our Jamba."""
    path = Path(model).expanduser()
    if path.exists() and not path.is_dir():
        raise UserError(f"torch runner: {model!r} is a file, not a model directory")
    if not path.exists():
        if model.count("/") == 1 and not model.startswith((".", "/", "~")):
            path = _from_hub_cache(model)
        elif "/" in model or model.startswith((".", "~")):
            raise UserError(f"torch runner: no model directory {model!r}")
        else:
            return None, None
    config = path / "config.json"
    if not config.exists():
        raise UserError(f"torch runner: no config.json in {path}")
    try:
        model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError) as exc:
        raise UserError(f"torch runner: cannot read {config}: {exc}") from None
    return path, model_type


def _from_hub_cache(repo_id: str) -> Path:
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id))
    except Exception as exc:  # offline, unknown repo, gated: all mean "not here"
        raise UserError(
            f"torch runner: {repo_id!r} is neither a local directory nor a downloadable Hugging Face model "
            f"({type(exc).__name__}); download it first, e.g. `hf download {repo_id} --local-dir DIR`"
        ) from None


def _device(spec: str) -> torch.device:
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise UserError(f"torch runner: unknown device {spec!r} (cpu, cuda, cuda:N or auto)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError("torch runner: device=cuda but torch sees no CUDA GPU (this torch may be the CPU build)")
    return device


def _dtype(spec: str, device: torch.device, transformers_auto: bool) -> torch.dtype | str:
    if spec == "auto":
        if transformers_auto:
            return "auto"  # the checkpoint's own dtype
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if spec not in DTYPES:
        raise UserError(f"torch runner: unknown dtype {spec!r}; choose one of {', '.join(DTYPES)}, auto")
    return DTYPES[spec]


def _tokenizer(spec: str | None, path: Path | None) -> Tokenizer:
    if spec is not None:
        return load_tokenizer(spec)
    if path is None:
        return ByteTokenizer()
    return HFTokenizer(path)
