"""Efficiency benchmark: the papers' memory claims on paper, then measured on tiny models of equal width and depth.

    python benchmarks/bench_efficiency.py                      # our Jamba + transformers' Mixtral/Llama (torch runner)
    python benchmarks/bench_efficiency.py --runner hf          # transformers for all three (tests' HFRunner)
    python benchmarks/bench_efficiency.py --lengths 1k,2k,4k,8k,16k --threads 2 --out runs/bench_efficiency

Prints (1) the KV-cache table of both papers recomputed from the presets, (2) the single-GPU / 8-GPU fits under the
stated assumptions, (3) `jamba-eval bench memory` and `bench throughput` tables for Jamba / Mixtral / Llama shaped
models (shapes in `jamba_eval/tasks/efficiency/tiny_models.py`), with memory slopes and Jamba's slope as a fraction of
Mixtral's. Timings are medians of --repeats runs after --warmup runs; every point runs in a worker process with
--threads torch threads. Run directories (with plots) are written under --out and resume if run again.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

from jamba_eval.config import build_config, format_length, parse_lengths
from jamba_eval.tasks.efficiency import Budget, estimate, max_context
from jamba_eval.tasks.efficiency.architecture import as_architecture
from jamba_eval.tasks.efficiency.bench import BenchConfig, run_bench
from jamba_eval.tasks.efficiency.memory import GiB, format_tokens, parse_reserve
from jamba_eval.tasks.efficiency.presets import PAPER_KV_TABLE
from jamba_eval.tasks.efficiency.summary import render_table
from jamba_eval.tasks.efficiency.tiny_models import NAMES, build_tiny_models

ROOT = Path(__file__).resolve().parents[1]


def analytic() -> None:
    print("== KV cache at 256K tokens, 16-bit (papers' Table 1; GB = GiB)")
    print(f"{'model':18} {'computed':>9} {'paper':>6}  source")
    for name, paper, source in PAPER_KV_TABLE:
        kv = estimate(as_architecture(name), 262144)["kv_cache_bytes"] / GiB
        print(f"{name:18} {kv:9.1f} {paper:6g}  {source}")
    reserve = "10%"
    one = Budget(80 * GiB, 1, parse_reserve(reserve, 80 * GiB))
    print(f"\n== Longest context on one 80 GiB GPU: int8 weights, bf16 KV, reserve {reserve} (paper: 140K / 64K / 16K)")
    for name in ("jamba-v0.1", "mixtral-8x7b", "llama-2-70b"):
        print(
            f"{name:18} int8 {format_tokens(max_context(name, one, 'int8')):>9}   bf16 {max_context(name, one, 'bf16')}"
        )
    eight = Budget(80 * GiB, 8, parse_reserve(reserve, 80 * GiB))
    print(f"\n== 8 x 80 GiB GPUs, reserve {reserve}: longest context (paper: Jamba-1.5-Large 256K with ExpertsInt8)")
    for name in ("jamba-1.5-large", "llama-3.1-70b", "mistral-large-2", "llama-3.1-405b"):
        fits = {dtype: format_tokens(max_context(name, eight, dtype)) for dtype in ("experts-int8", "fp8", "bf16")}
        print(f"{name:18} " + "   ".join(f"{dtype} {value:>9}" for dtype, value in fits.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runner", choices=("torch", "hf"), default="torch")
    parser.add_argument("--lengths", default="1k,2k,4k,8k")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--decode-tokens", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench_efficiency")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()

    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()}")
    print(f"command: {' '.join(sys.argv)}\n")
    analytic()

    runner = "torch"
    if args.runner == "hf":  # the tests' transformers runner, imported by the workers from the tests folder
        runner = "hf_runner:HFRunner"
        tests = ROOT / "tests" / "tasks" / "efficiency"
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tests), os.environ.get("PYTHONPATH")]))
    models_dir = args.out / "models"
    if not all((models_dir / n / "config.json").exists() for n in NAMES):
        from jamba_eval.testing import train_bpe_tokenizer

        build_tiny_models(models_dir, train_bpe_tokenizer(args.out / "tokenizer"))
    lengths = parse_lengths(args.lengths)
    print(
        f"\nmodels: {models_dir} (hidden 64, 32 layers, 4 heads = 4 KV heads, fp32); runner {runner}; "
        f"lengths {', '.join(map(format_length, lengths))}; torch threads {args.threads}"
    )
    for what in ("memory",) + (() if args.skip_throughput else ("throughput",)):
        config = build_config(
            BenchConfig,
            None,
            {
                "what": what,
                "models": [{"runner": runner, "model": str(models_dir / n)} for n in NAMES],
                "labels": list(NAMES),
                "lengths": lengths,
                "repeats": args.repeats,
                "warmup": args.warmup,
                "decode_tokens": args.decode_tokens,
                "threads": args.threads,
                "output_dir": args.out / f"{args.runner}-{what}",
            },
        )
        summary = run_bench(config)
        print(f"\n== bench {what} ({summary['run_dir']})")
        print(render_table(summary))
        slopes = {m["label"]: m["slopes"]["1"] for m in summary["models"]}
        for key in ("resident_memory_bytes_per_token", "peak_memory_bytes_per_token"):
            mixtral = slopes["mixtral"][key]
            if mixtral:
                ratios = ", ".join(f"{n} {slopes[n][key] / mixtral:.3f}" for n in NAMES if slopes[n][key] is not None)
                print(f"{key} as a fraction of Mixtral's: {ratios}")
        print("plots: " + ", ".join(summary.get("plots", [])))
        if summary["failures"]:
            print(f"FAILED points: {summary['failures']}")


if __name__ == "__main__":
    main()
