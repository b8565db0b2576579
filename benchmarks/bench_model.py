"""Speed and memory of our Jamba (jamba_eval.model) against transformers' JambaForCausalLM on CPU.

    python benchmarks/bench_model.py                  # everything (~20-30 min on 2 cores)
    python benchmarks/bench_model.py --quick          # 1K/4K only, no 256K, 1 repeat (a smoke run)

What it measures (issue 4's benchmark), each cell in its own subprocess so that peak RSS (ru_maxrss) belongs to
that cell alone, with `torch.set_num_threads(--threads)`:

- prefill seconds at 1K, 4K, 16K tokens (median of --repeats runs after a warm-up), for the embedded `jamba-tiny`
  and a small realistic config (hidden 1024, d_inner 2048, 8 layers, 4 experts top-2). Both implementations load
  the same safetensors weights. transformers runs `model(ids, use_cache=False, logits_to_keep=1)` (its CPU path:
  a Python loop over tokens in every Mamba layer); ours runs `prefill()` in 4096-token chunks through the cache,
  keeping the last logits only.
- decode tokens/s after a 4K prompt (64 greedy steps through the cache, after warming up the cached path).
- model FLOPs of a prefill (every linear layer plus causal attention scores over all positions, 2 per MAC) divided
  by its time, beside the FLOP/s of a plain fp32 matmul (4096x1024 @ 1024x4096) on the same threads.
- our scan throughput per Mamba layer at d_inner 8192 (`selective_scan`, which picks the per-token in-place loop
  at this size, and the sequential reference).
- jamba-tiny prefill at 4K / 64K / 256K (fp32 and bf16), and the 256K peak RSS against weights + cache + one
  chunk's activations (measured as the 4K run's increment beyond weights and its cache).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

K = 1024


def small_config():
    from jamba_eval.model import JambaConfig

    return JambaConfig(
        vocab_size=1024, hidden_size=1024, intermediate_size=2048, num_hidden_layers=8, num_attention_heads=8,
        num_key_value_heads=2, attn_layer_period=8, attn_layer_offset=4, expert_layer_period=2,
        expert_layer_offset=1, num_experts=4, num_experts_per_tok=2, pad_token_id=0, bos_token_id=1, eos_token_id=2,
    )  # fmt: skip


def prefill_flops(config, length: int) -> float:
    """Model FLOPs of a prefill that yields the last position's logits: 2 x MACs of every linear layer for `length`
    tokens plus causal attention scores (QK^T and PV); in the last layer only the last position's output is needed
    (its keys/values still cover every token). Scan, norms and other element-wise work are not counted."""
    H, E, N, R, I = (
        config.hidden_size,
        config.d_inner,
        config.mamba_d_state,
        config.mamba_dt_rank,
        config.intermediate_size,
    )
    macs = 0.0
    for layer in range(config.num_hidden_layers):
        outputs = 1 if layer == config.num_hidden_layers - 1 else length  # positions whose output is needed
        if config.is_attention(layer):
            q, kv = config.num_attention_heads * config.head_dim, config.num_key_value_heads * config.head_dim
            pairs = length * (length + 1) / 2 if outputs == length else length  # query-key pairs
            macs += length * 2 * H * kv + outputs * 2 * H * q + pairs * q * 2
        else:
            macs += length * (H * 2 * E + E * config.mamba_d_conv + E * (R + 2 * N) + R * E + E * H)
        if config.is_moe(layer):
            macs += outputs * (config.num_experts_per_tok * 3 * H * I + H * config.num_experts)
        else:
            macs += outputs * 3 * H * I
    return 2 * (macs + H * config.vocab_size)  # logits of the last position


# ------------------------------------------------------------------------------------------------------ workers


def _rss_mib() -> float:
    """Peak RSS of this process image (VmHWM; ru_maxrss would carry the forking parent's peak across exec)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


def _current_rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _load(impl: str, directory: str, dtype: str = "float32"):
    import torch

    if impl == "ours":
        from jamba_eval.model import load_jamba

        return load_jamba(directory, dtype=getattr(torch, dtype))
    import transformers

    transformers.logging.set_verbosity_error()
    return transformers.JambaForCausalLM.from_pretrained(directory, dtype=getattr(torch, dtype)).eval()


def _prefill_once(impl, model, ids, chunk: int = 4096):
    import torch

    with torch.inference_mode():
        if impl == "ours":
            from jamba_eval.model.generate import prefill

            cache = model.allocate_cache(ids.shape[0], ids.shape[1])
            return prefill(model, ids, cache, chunk, keep=1)
        return model(ids, use_cache=False, logits_to_keep=1).logits


def worker(cell: dict) -> dict:
    import torch

    torch.set_num_threads(cell["threads"])
    if cell.get("impl") == "ours":  # the baseline includes the code that runs, so that it counts no weights
        import jamba_eval.model.generate  # noqa: F401
    elif cell.get("impl") == "transformers":
        import transformers  # noqa: F401
    base = _current_rss_mib()
    kind = cell["kind"]
    if kind == "matmul":
        a, b = torch.randn(4096, 1024), torch.randn(1024, 4096)
        times = []
        for _ in range(7):
            start = time.perf_counter()
            torch.mm(a, b)
            times.append(time.perf_counter() - start)
        return {"gflops": 2 * 4096 * 1024 * 4096 / statistics.median(times[2:]) / 1e9}
    if kind == "scan":
        from jamba_eval.model.scan import selective_scan, selective_scan_reference

        D, N = cell["channels"], 16
        out = {}
        for name, fn, L in (("fast", selective_scan, 1024), ("reference", selective_scan_reference, 256)):
            g = torch.Generator().manual_seed(0)
            u, delta = torch.randn(1, L, D, generator=g), torch.rand(1, L, D, generator=g) * 0.1
            A, B, C = -torch.rand(D, N, generator=g) * 16, torch.randn(1, L, N, generator=g), torch.randn(1, L, N)
            times = []
            with torch.inference_mode():
                for _ in range(3):
                    start = time.perf_counter()
                    fn(u, delta, A, B, C, None)
                    times.append(time.perf_counter() - start)
            out[name] = L / statistics.median(times)
        return out
    model = _load(cell["impl"], cell["dir"], cell.get("dtype", "float32"))
    loaded = _current_rss_mib()
    vocab = model.config.vocab_size
    g = torch.Generator().manual_seed(0)
    if kind == "prefill":
        ids = torch.randint(3, min(vocab, 263), (1, cell["length"]), generator=g)
        _prefill_once(cell["impl"], model, ids[:, :256])  # warm-up
        times = []
        for _ in range(cell["repeats"]):
            start = time.perf_counter()
            _prefill_once(cell["impl"], model, ids)
            times.append(time.perf_counter() - start)
        return {"seconds": statistics.median(times), "runs": times, "peak_mib": _rss_mib(), "base_mib": base,
                "loaded_mib": loaded}  # fmt: skip
    if kind == "decode":
        ids = torch.randint(3, min(vocab, 263), (1, cell["length"]), generator=g)
        steps = cell["steps"]
        with torch.inference_mode():
            for length, n in ((64, 8), (cell["length"], steps)):  # warm the cached path first
                if cell["impl"] == "ours":
                    from jamba_eval.model.generate import prefill

                    cache = model.allocate_cache(1, length + n + 1)
                    token = prefill(model, ids[:, :length], cache, 4096, keep=1)[:, -1].argmax(-1, keepdim=True)
                    start = time.perf_counter()
                    for _ in range(n):
                        token = model(token, cache)[:, -1].argmax(-1, keepdim=True)
                else:
                    out = model(ids[:, :length], use_cache=True, logits_to_keep=1)
                    past, token = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
                    start = time.perf_counter()
                    for _ in range(n):
                        out = model(token, past_key_values=past, use_cache=True)
                        past, token = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
                elapsed = time.perf_counter() - start
        return {"tokens_per_s": steps / elapsed, "peak_mib": _rss_mib()}
    raise ValueError(kind)


def run_cell(cell: dict, timeout: int) -> dict:
    """Run one cell in a fresh interpreter; failures and timeouts come back as {"error": ...}."""
    command = [sys.executable, __file__, "--worker", json.dumps(cell)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout}s"}
    if done.returncode:
        return {"error": (done.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------------------- main


def fmt(value, pattern="{:.2f}") -> str:
    return "-" if value is None else pattern.format(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1K/4K only, 1 repeat, no long runs")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return

    import torch

    from jamba_eval.model import save_checkpoint
    from jamba_eval.model.presets import BYTE_VOCAB, init_random, preset_config

    lengths = [1 * K, 4 * K] if args.quick else [1 * K, 4 * K, 16 * K]
    repeats = 1 if args.quick else args.repeats
    print(f"# bench_model: torch {torch.__version__}, {args.threads} threads, {os.cpu_count()} CPUs visible, "
          f"load average {os.getloadavg()[0]:.1f}; median of {repeats} run(s) per cell")  # fmt: skip
    common = {"threads": args.threads}
    matmul = run_cell({"kind": "matmul", **common}, args.timeout)["gflops"]
    print(f"plain fp32 matmul 4096x1024 @ 1024x4096: {matmul:.1f} GFLOP/s\n")

    root = Path(tempfile.mkdtemp(prefix="bench_model_"))
    configs = {"tiny": preset_config("jamba-tiny"), "small": small_config()}
    dirs = {}
    for name, config in configs.items():
        model = init_random(config, used_vocab=BYTE_VOCAB if name == "tiny" else None)
        dirs[name] = str(save_checkpoint(model, root / name))
        del model

    header = f"{'config':6} {'impl':13} " + " ".join(f"{f'{n // K}K s':>8}" for n in lengths)
    header += f" {'decode tok/s':>13} {'peak RSS MiB':>13} {'GFLOP/s':>8} {'% matmul':>8}"
    print(header)
    results: dict[tuple[str, str], dict] = {}
    for name, config in configs.items():
        for impl in ("transformers", "ours"):
            row = {}
            for length in lengths:
                cell = {"kind": "prefill", "impl": "ours" if impl == "ours" else "hf", "dir": dirs[name],
                        "length": length, "repeats": repeats, **common}  # fmt: skip
                row[length] = run_cell(cell, args.timeout)
            decode = run_cell({"kind": "decode", "impl": "ours" if impl == "ours" else "hf", "dir": dirs[name],
                               "length": 4 * K, "steps": 64, **common}, args.timeout)  # fmt: skip
            results[(name, impl)] = {"prefill": row, "decode": decode}
            longest = row[lengths[-1]]
            seconds = longest.get("seconds")
            gflops = prefill_flops(config, lengths[-1]) / seconds / 1e9 if seconds else None
            peak = max([r.get("peak_mib", 0) for r in row.values()] + [decode.get("peak_mib", 0)])
            line = f"{name:6} {impl:13} " + " ".join(f"{fmt(row[n].get('seconds')):>8}" for n in lengths)
            line += f" {fmt(decode.get('tokens_per_s'), '{:.1f}'):>13} {peak:>13.0f} {fmt(gflops, '{:.1f}'):>8}"
            line += f" {fmt(gflops and 100 * gflops / matmul, '{:.0f}%'):>8}"
            print(line, flush=True)
            for n, r in row.items():
                if "error" in r:
                    print(f"    {impl} {n}: {r['error']}")
            if "error" in decode:
                print(f"    {impl} decode: {decode['error']}")
        theirs, ours = results[(name, "transformers")], results[(name, "ours")]
        speedups = []
        for n in lengths:
            a, b = theirs["prefill"][n].get("seconds"), ours["prefill"][n].get("seconds")
            speedups.append(f"{a / b:.1f}x" if a and b else "-")
        a, b = theirs["decode"].get("tokens_per_s"), ours["decode"].get("tokens_per_s")
        decode_speedup = f"{b / a:.1f}x" if a and b else "-"
        print(f"{name:6} {'speedup':13} " + " ".join(f"{s:>8}" for s in speedups) + f" {decode_speedup:>13}\n")

    scan = run_cell({"kind": "scan", "channels": 8192, **common}, args.timeout)
    print(f"scan per Mamba layer at d_inner 8192, d_state 16, batch 1: ours {fmt(scan.get('fast'), '{:.0f}')} "
          f"tokens/s, sequential reference {fmt(scan.get('reference'), '{:.0f}')} tokens/s\n")  # fmt: skip

    if args.quick:
        return
    tiny = configs["tiny"]
    print(f"jamba-tiny ({tiny.num_parameters() / 1e6:.1f}M parameters, layout {tiny.layout()}) prefill, ours, "
          "4096-token chunks, last logits only:")  # fmt: skip
    long_runs = {}
    for dtype in ("float32", "bfloat16"):
        for length in (4 * K, 64 * K, 256 * K):
            cell = {"kind": "prefill", "impl": "ours", "dir": dirs["tiny"], "length": length, "dtype": dtype,
                    "repeats": 2 if length > 64 * K else repeats, **common}  # fmt: skip
            r = long_runs[(dtype, length)] = run_cell(cell, args.timeout)
            rate = f"{length / r['seconds'] / 1e3:.1f}K tok/s" if "seconds" in r else r.get("error")
            print(f"  {dtype:8} {length // K:>4}K: {fmt(r.get('seconds'))} s  ({rate}), peak RSS "
                  f"{fmt(r.get('peak_mib'), '{:.0f}')} MiB")  # fmt: skip
    last = tiny.num_hidden_layers - 1  # compare jamba-tiny's attention placement with the other one
    other = last if tiny.attn_layer_offset != last else 4
    alt = save_checkpoint(init_random(dataclasses.replace(tiny, attn_layer_offset=other)), root / f"tiny-{other}")
    r = run_cell({"kind": "prefill", "impl": "ours", "dir": str(alt), "length": 64 * K, "repeats": 1, **common},
                 args.timeout)  # fmt: skip
    where = ("last (its queries only for the last token: O(L))" if other == last
             else f"at offset {other} (queries at every position: O(L^2))")  # fmt: skip
    print(f"  the same config with the attention layer {where}: 64K prefill {fmt(r.get('seconds'))} s "
          f"{r.get('error', '')}\n")  # fmt: skip

    four, full = long_runs[("float32", 4 * K)], long_runs[("float32", 256 * K)]
    if "peak_mib" in four and "peak_mib" in full:
        weights = tiny.weight_bytes("float32") / 2**20
        cache_4k, cache_256k = (
            tiny.cache_bytes(1, 4 * K, "float32") / 2**20,
            tiny.cache_bytes(1, 256 * K, "float32") / 2**20,
        )
        chunk = four["peak_mib"] - four["loaded_mib"] - cache_4k  # one chunk's activations (+ allocator slack)
        budget = weights + cache_256k + chunk
        used = full["peak_mib"] - full["loaded_mib"] + weights  # what the prefill added to the loaded model, + weights
        # building on the meta device makes torch import torch._dynamo and sympy (~76 MiB of code, not weights)
        fixed = full["loaded_mib"] - full["base_mib"] - weights
        print(f"256K memory: peak RSS {full['peak_mib']:.0f} MiB = baseline (interpreter, torch, jamba_eval) "
              f"{full['base_mib']:.0f} + code loaded with the model {fixed:.0f} + weights and prefill {used:.0f}; "
              f"weights {weights:.1f} + cache {cache_256k:.1f} + one chunk's activations {chunk:.1f} = {budget:.1f} "
              f"MiB; ratio {used / budget:.2f} (goal <= 1.5)")  # fmt: skip


if __name__ == "__main__":
    main()
