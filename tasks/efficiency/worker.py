"""The measuring process of `jamba-eval bench`: load one runner, warm it up, time points, report peak memory.

Run as `python -m jamba_eval.tasks.efficiency.worker` with a JSON job on stdin; every result is one stdout line
starting with `MARK`, so stray prints of libraries cannot be mistaken for results. A fresh process per point is what
makes peak RSS (`ru_maxrss`, a whole-process high-water mark) a per-point number.

Per point: `warmup` untimed runs, then `repeats` timed runs of one `generate` call on `batch` random prompts of
exactly `length` token ids; medians are reported. From a runner's `Completion` timings:
    prefill tokens/s = prompt tokens / time to first token
    decode tokens/s  = (completion tokens − 1) / (total time − time to first token)
A thread samples current memory (RSS, or CUDA allocated) while each run is in flight; the median taken while
decoding (after the prefill's transient buffers are freed) is the memory held by weights + caches, the quantity the
analytic KV/Mamba formulas predict. Peak memory is the RSS high-water mark on CPU (reset per point) and
`torch.cuda.max_memory_allocated` on GPU.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import logging
import os
import random
import resource
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

MARK = "@@jamba-eval-bench "
log = logging.getLogger(__name__)


def emit(event: dict[str, Any]) -> None:
    sys.stdout.write(MARK + json.dumps(event) + "\n")
    sys.stdout.flush()


def load_runner(model: dict[str, Any]) -> Any:
    """A registered runner name, or `package.module:Class` for a Runner of your own."""
    from jamba_eval.config import ModelConfig
    from jamba_eval.runners.base import load_runner as _load

    runner, name, args = model["runner"], model["model"], dict(model.get("model_args") or {})
    if ":" in runner:
        module_name, _, attr = runner.partition(":")
        return getattr(importlib.import_module(module_name), attr)(name, **args)
    return _load(ModelConfig(runner=runner, model=name, model_args=args))


class MemoryProbe:
    """Current and peak memory of this process: CUDA allocated when the runner put tensors on a GPU, else RSS.

    CPU peak on Linux is `VmHWM` (the high-water mark of this process image), reset before each point through
    `/proc/self/clear_refs`. Not `ru_maxrss`: a child started by vfork/exec inherits its parent's peak there.
    """

    STATUS, CLEAR_REFS = Path("/proc/self/status"), Path("/proc/self/clear_refs")

    def __init__(self) -> None:
        torch = sys.modules.get("torch")
        self.torch = torch
        self.cuda = bool(torch is not None and torch.cuda.is_available() and torch.cuda.memory_allocated() > 0)
        self.kind = "cuda_allocated" if self.cuda else "rss"
        self.peak_method = "cuda_max_allocated" if self.cuda else ("VmHWM" if self._hwm() is not None else "ru_maxrss")
        import psutil

        self._process = psutil.Process()

    def current(self) -> int:
        if self.cuda:
            return int(self.torch.cuda.memory_allocated())
        return int(self._process.memory_info().rss)

    def reset_peak(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()
            self.torch.cuda.reset_peak_memory_stats()
        elif self.peak_method == "VmHWM":
            try:
                self.CLEAR_REFS.write_text("5")  # "reset the peak resident set size" (proc(5), Linux >= 4.0)
            except OSError:
                self.peak_method = "VmHWM (not reset)"

    def peak(self) -> int:
        if self.cuda:
            self.torch.cuda.synchronize()
            return int(self.torch.cuda.max_memory_allocated())
        hwm = self._hwm()
        if hwm is not None:
            return hwm
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(maxrss if sys.platform == "darwin" else maxrss * 1024)  # bytes on macOS, KiB on Linux

    def _hwm(self) -> int | None:
        try:
            for line in self.STATUS.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            return None
        return None


class Sampler:
    """Samples `probe.current()` every `interval` seconds on a thread while a run is in flight."""

    def __init__(self, probe: MemoryProbe, interval: float):
        self.probe, self.interval = probe, interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.start_time = 0.0

    def __enter__(self) -> Sampler:
        self.samples.clear()
        self._stop.clear()
        self.start_time = time.perf_counter()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter() - self.start_time, self.probe.current()))
            self._stop.wait(self.interval)

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def during(self, start: float, end: float) -> list[int]:
        return [value for t, value in self.samples if start <= t <= end]


def prompt_ids(tokenizer: Any, length: int, seed: int, index: int) -> list[int]:
    """`length` random token ids (no BOS/EOS/PAD or other special ids), the same for every model and run."""
    special = {getattr(tokenizer, n, None) for n in ("bos_token_id", "eos_token_id", "pad_token_id")}
    special |= set(getattr(tokenizer, "special_ids", {}).values())
    vocab = int(tokenizer.vocab_size)
    rng = random.Random(f"jamba-eval-bench/{seed}/{length}/{index}")
    ids = []
    while len(ids) < length:
        token = rng.randrange(vocab)
        if token not in special:
            ids.append(token)
    return ids


@dataclasses.dataclass
class Run:
    """One timed `generate` call on a batch."""

    wall_s: float
    ttft_s: float | None
    total_s: float
    prompt_tokens: int
    completion_tokens: int
    prefill_tok_s: float | None
    decode_tok_s: float | None
    resident_bytes: int | None
    sampled_peak_bytes: int | None


def _one_run(runner: Any, requests: list[Any], sampler: Sampler) -> Run:
    with sampler:
        start = time.perf_counter()
        completions = runner.generate(requests)
        wall = time.perf_counter() - start
    ttfts = [c.time_to_first_token_s for c in completions]
    totals = [c.total_time_s for c in completions]
    ttft = max(ttfts) if all(t is not None for t in ttfts) else None
    total = max(totals) if all(t is not None for t in totals) else wall
    prompt_tokens = sum(c.prompt_tokens for c in completions)
    decoded = sum(max(c.completion_tokens - 1, 0) for c in completions)
    resident = None
    if ttft is not None and total > ttft:
        # skip the first tenth of decoding: the prefill's freed buffers may still be on their way back to the OS
        window = sampler.during(ttft + 0.1 * (total - ttft), total)
        resident = int(statistics.median(window)) if window else None
    values = [v for _, v in sampler.samples]
    return Run(
        wall_s=wall,
        ttft_s=ttft,
        total_s=total,
        prompt_tokens=prompt_tokens,
        completion_tokens=sum(c.completion_tokens for c in completions),
        prefill_tok_s=prompt_tokens / ttft if ttft else None,
        decode_tok_s=decoded / (total - ttft) if ttft is not None and total > ttft and decoded else None,
        resident_bytes=resident,
        sampled_peak_bytes=max(values) if values else None,
    )


def _median(values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def measure_point(runner: Any, probe: MemoryProbe, job: dict[str, Any], point: dict[str, Any]) -> dict[str, Any]:
    from jamba_eval.runners.base import GenerationRequest

    length, batch = point["length"], point["batch"]
    if length + job["decode_tokens"] > runner.max_length:
        return {
            "status": "skipped",
            "reason": f"length + decode tokens exceeds the runner's max_length {runner.max_length}",
        }
    requests = [
        GenerationRequest(
            prompt=prompt_ids(runner.tokenizer, length, job["seed"], i), max_new_tokens=job["decode_tokens"]
        )
        for i in range(batch)
    ]
    sampler = Sampler(probe, job["sample_interval_s"])
    probe.reset_peak()
    for _ in range(job["warmup"]):
        _one_run(runner, requests, sampler)
    runs = [_one_run(runner, requests, sampler) for _ in range(job["repeats"])]
    if any(r.prompt_tokens != length * batch for r in runs):
        log.warning("runner reported %s prompt tokens for %d x %d", runs[0].prompt_tokens, batch, length)
    return {
        "status": "ok",
        "prompt_tokens": runs[0].prompt_tokens,
        "completion_tokens": _median([r.completion_tokens for r in runs]),
        "ttft_s": _median([r.ttft_s for r in runs]),
        "total_s": _median([r.total_s for r in runs]),
        "wall_s": _median([r.wall_s for r in runs]),
        "prefill_tok_s": _median([r.prefill_tok_s for r in runs]),
        "decode_tok_s": _median([r.decode_tok_s for r in runs]),
        "e2e_tok_s": _median([(r.prompt_tokens + r.completion_tokens) / r.wall_s for r in runs]),
        "peak_memory_bytes": probe.peak(),
        "resident_memory_bytes": _median([r.resident_bytes for r in runs]),
        "sampled_peak_bytes": max((r.sampled_peak_bytes or 0) for r in runs) or None,
        "runs": [dataclasses.asdict(r) for r in runs],
    }


def _model_config(runner: Any, model: dict[str, Any]) -> dict[str, Any] | None:
    """The architecture the runner serves, for the analytic curves: a local config.json, or the runner's config."""
    path = Path(model["model"]) / "config.json"
    if path.is_file():
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
    for owner in (runner, _module(runner)):
        config = getattr(owner, "config", None)
        if config is None:
            continue
        data = config.to_dict() if hasattr(config, "to_dict") else None
        if data is None and dataclasses.is_dataclass(config):
            data = dataclasses.asdict(config)
            data.setdefault(
                "model_type",
                next((t for t in ("jamba", "mixtral", "llama") if t in type(config).__name__.lower()), None),
            )
        if isinstance(data, dict):
            try:
                return json.loads(json.dumps(data, default=str))
            except (TypeError, ValueError):
                return None
    return None


def _module(runner: Any) -> Any:
    """The torch module a runner serves: `runner.model`, or its backend's (our torch runner)."""
    module = getattr(runner, "model", None)
    return module if module is not None else getattr(getattr(runner, "backend", None), "model", None)


def _weights_dtype(runner: Any) -> str | None:
    module = _module(runner)
    parameters = getattr(module, "parameters", None)
    if parameters is None:
        return None
    try:
        return str(next(iter(parameters())).dtype).removeprefix("torch.")
    except (StopIteration, TypeError):
        return None


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or "out of memory" in str(exc).lower()


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    job = json.loads(sys.stdin.read())
    if job.get("threads"):
        import torch

        torch.set_num_threads(int(job["threads"]))
    start = time.perf_counter()
    runner = load_runner(job["model"])
    load_time = time.perf_counter() - start
    probe = MemoryProbe()
    # the first cached call of a process is slow (lazy initialisation): run a short one before measuring anything
    from jamba_eval.runners.base import GenerationRequest

    runner.generate([GenerationRequest(prompt=prompt_ids(runner.tokenizer, 16, job["seed"], 0), max_new_tokens=4)])
    torch = sys.modules.get("torch")
    emit(
        {
            "event": "loaded",
            "load_time_s": load_time,
            "baseline_bytes": probe.current(),
            "peak_after_load_bytes": probe.peak(),
            "memory_kind": probe.kind,
            "peak_method": probe.peak_method,
            "weights_dtype": _weights_dtype(runner),
            "model_config": _model_config(runner, job["model"]),
            "runner": runner.describe(),
            "torch_threads": torch.get_num_threads() if torch is not None else None,
            "pid": os.getpid(),
            "malloc_mmap_threshold": os.environ.get("MALLOC_MMAP_THRESHOLD_"),
        }
    )
    for point in job["points"]:
        try:
            result = measure_point(runner, probe, job, point)
        except Exception as exc:  # one failed point must not lose the others
            if not _is_oom(exc):
                emit({"event": "error", "id": point["id"], "error": f"{type(exc).__name__}: {exc}"})
                continue
            result = {"status": "oom", "reason": f"{type(exc).__name__}: {str(exc)[:300]}"}
        emit({"event": "point", "id": point["id"], **result})
    runner.close()


if __name__ == "__main__":
    main()
