"""Throughput of `jamba-eval serve` under concurrent clients, with and without request batching.

Builds a tiny random Llama (save_pretrained + a BPE tokenizer trained here), starts `jamba-eval serve --runner torch`
on it once per `--max-batch-size`, and has C concurrent clients send N greedy /v1/completions each. Prints requests/s,
generated tokens/s and latency percentiles (median of --repeats runs).

    python benchmarks/serve_throughput.py [--clients 32] [--requests 8] [--max-tokens 16] [--batch-sizes 1,8]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

PROMPTS = [
    "The President said",
    "Congress shall make no law respecting",
    "We the people of the United States",
    "Four score and seven years ago our fathers",
]


def build_model(root: Path) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from jamba_eval.testing import train_bpe_tokenizer

    tokenizer = train_bpe_tokenizer(root / "tokenizer")
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=1024,
        hidden_size=256,
        intermediate_size=512,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    model_dir = root / "llama"
    LlamaForCausalLM(config).save_pretrained(model_dir)
    for file in tokenizer.iterdir():
        shutil.copy(file, model_dir / file.name)
    return model_dir


@contextlib.contextmanager
def server(model_dir: Path, max_batch_size: int, threads: int):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "jamba_eval", "serve", "--runner", "torch", "--model", str(model_dir)]
    command += ["--model-args", f"threads={threads},batch_size={max_batch_size}", "--port", str(port)]
    command += ["--max-batch-size", str(max_batch_size), "--served-model-name", "bench"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/health").status_code == 200:
                    break
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait()


async def load(base: str, clients: int, requests: int, max_tokens: int) -> tuple[float, int, list[float]]:
    latencies: list[float] = []
    tokens = 0

    async def client(j: int, http: httpx.AsyncClient) -> None:
        nonlocal tokens
        for k in range(requests):
            body = {"prompt": PROMPTS[(j + k) % len(PROMPTS)], "max_tokens": max_tokens, "temperature": 0}
            started = time.perf_counter()
            response = await http.post("/v1/completions", json=body)
            response.raise_for_status()
            latencies.append(time.perf_counter() - started)
            tokens += response.json()["usage"]["completion_tokens"]

    async with httpx.AsyncClient(base_url=base, timeout=600, limits=httpx.Limits(max_connections=clients)) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(j, http) for j in range(clients)))
        return time.perf_counter() - started, tokens, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=8, help="requests per client")
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--batch-sizes", default="1,8")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_model(Path(tmp))
        print(f"model: tiny Llama (hidden 256, 4 layers, vocab 1024), torch threads {args.threads}")
        print(f"load: {args.clients} clients x {args.requests} requests, greedy, max_tokens {args.max_tokens}")
        header = f"{'max_batch_size':>14} {'req/s':>8} {'gen tok/s':>10} {'p50 s':>7} {'p95 s':>7}"
        print(f"{header}  (median of {args.repeats} runs)")
        for size in [int(s) for s in args.batch_sizes.split(",")]:
            with server(model_dir, size, args.threads) as base:
                asyncio.run(load(base, 4, 1, args.max_tokens))  # warm-up
                runs = [
                    asyncio.run(load(base, args.clients, args.requests, args.max_tokens)) for _ in range(args.repeats)
                ]
            n = args.clients * args.requests
            seconds = statistics.median(r[0] for r in runs)
            tokens = statistics.median(r[1] for r in runs)
            latencies = sorted(x for r in runs for x in r[2])
            p50, p95 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.95)]
            print(f"{size:>14} {n / seconds:>8.1f} {tokens / seconds:>10.1f} {p50:>7.3f} {p95:>7.3f}")


if __name__ == "__main__":
    main()
