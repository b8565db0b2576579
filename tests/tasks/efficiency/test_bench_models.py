"""The bench on real (tiny, random-weight) models of equal width and depth: Jamba vs Mixtral vs Llama on CPU.

The claim under test is the papers' (Jamba Table 1): with attention in 1 of every 8 layers, Jamba's memory grows
with context at 1/8 of the rate of a Mixtral-shaped model of the same width and depth. Measured here as the slope
of memory held while decoding (weights + caches; see `worker.py`) over several lengths, it must be at most 1/4 of
Mixtral's. Model shapes: `jamba_eval.tasks.efficiency.tiny_models`.
"""

from __future__ import annotations

import json

import pytest

from jamba_eval.cli import main
from jamba_eval.config import build_config
from jamba_eval.results import RunDir
from jamba_eval.tasks.efficiency.bench import BenchConfig, run_bench
from jamba_eval.tasks.efficiency.memory import kv_cache_bytes_per_token


def _bench(tmp_path, models: dict, runner: str, lengths: str, **extra) -> dict:
    cfg = build_config(
        BenchConfig,
        None,
        dict(
            what="memory",
            models=[{"runner": runner, "model": str(path)} for path in models.values()],
            labels=list(models),
            lengths=lengths,
            repeats=1,
            warmup=0,
            decode_tokens=8,
            threads=1,  # CI machines are small and shared: one thread per worker keeps timings sane
            output_dir=tmp_path / "run",
            plots=False,
            **extra,
        ),
    )
    summary = run_bench(cfg)
    assert summary["failures"] == []
    return {m["label"]: m for m in summary["models"]}


def _resident_slope(model: dict) -> float:
    return model["slopes"]["1"]["resident_memory_bytes_per_token"]


@pytest.mark.usefixtures("local_runners")
def test_measured_cache_growth_matches_the_kv_formula_through_transformers(tmp_path, tiny_models):
    """The measuring method against transformers' Llama: memory held while decoding grows by the KV formula."""
    models = _bench(tmp_path, {"llama": tiny_models["llama"]}, "hf_runner:HFRunner", "512,1k,1536")
    expected = kv_cache_bytes_per_token(tiny_models["llama"], "fp32")
    assert models["llama"]["analytic_kv_bytes_per_token"] == expected == 32 * 2 * 4 * 16 * 4
    assert _resident_slope(models["llama"]) == pytest.approx(expected, rel=0.1)


def _torch_runner_available() -> None:
    pytest.importorskip("jamba_eval.model")
    pytest.importorskip("jamba_eval.runners.torch_runner")


def test_jamba_memory_slope_is_at_most_a_quarter_of_mixtrals(tmp_path, tiny_models):
    _torch_runner_available()
    models = _bench(tmp_path, {k: tiny_models[k] for k in ("jamba", "mixtral")}, "torch", "1k,2k,4k")
    jamba, mixtral = _resident_slope(models["jamba"]), _resident_slope(models["mixtral"])
    assert mixtral == pytest.approx(models["mixtral"]["analytic_kv_bytes_per_token"], rel=0.15)
    assert jamba <= mixtral / 4, f"Jamba grows {jamba:.0f} B/token, Mixtral {mixtral:.0f} B/token"


@pytest.mark.slow
def test_full_cli_comparison_with_plots(tmp_path, tiny_models):
    """`jamba-eval bench memory` and `bench throughput` over all three models, as a user runs them."""
    _torch_runner_available()
    config = tmp_path / "bench.yaml"
    config.write_text(
        json.dumps(
            {
                "models": [{"runner": "torch", "model": str(tiny_models[k])} for k in ("jamba", "mixtral", "llama")],
                "labels": ["jamba", "mixtral", "llama"],
                "lengths": "1k,2k,4k,8k",
                "repeats": 3,
                "warmup": 1,
                "decode_tokens": 16,
                "threads": 2,
            }
        )
    )
    for what in ("memory", "throughput"):
        out = tmp_path / what
        main(["--no-progress", "bench", what, "--config", str(config), "-o", str(out)])
        summary = RunDir.load(out).read_summary()
        assert len(summary["table"]) == 12 and all(r["status"] == "ok" for r in summary["table"])
        for stem in ("throughput_vs_context", "memory_vs_context", "kv_cache_table1"):
            assert (out / "plots" / f"{stem}.png").exists() and (out / "plots" / f"{stem}.svg").exists()
        if what == "memory":
            slopes = {m["label"]: m["slopes"]["1"]["resident_memory_bytes_per_token"] for m in summary["models"]}
            assert slopes["jamba"] <= slopes["mixtral"] / 4
