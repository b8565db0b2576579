"""Efficiency: analytic memory (weights, KV cache, Mamba state, what fits a GPU) and measured throughput/memory
against context length (`jamba-eval memory`, `jamba-eval bench throughput|memory`).

The calculator needs only a Hugging Face config dict; the bench measures any runner, one subprocess per point.
Heavy modules (the bench harness, matplotlib) are imported only when used.
"""

from __future__ import annotations

from typing import Any

from jamba_eval.tasks.efficiency.architecture import Architecture, as_architecture, read_hf_config
from jamba_eval.tasks.efficiency.memory import (
    Budget,
    kv_cache_bytes,
    kv_cache_bytes_per_token,
    mamba_state_bytes,
    max_batch,
    max_context,
    num_parameters,
    parse_size,
    required_bytes,
    weight_bytes,
)
from jamba_eval.tasks.efficiency.memory_cli import cli_memory, estimate, list_presets
from jamba_eval.tasks.efficiency.presets import PRESETS, preset_config


def cli_bench(config_path: Any, overrides: dict[str, Any]) -> dict[str, Any]:
    """Entry point of `jamba-eval bench throughput|memory`."""
    from jamba_eval.tasks.efficiency.bench import cli_bench as _cli_bench

    return _cli_bench(config_path=config_path, overrides=overrides)


def run_bench(config: Any) -> dict[str, Any]:
    """Run a `BenchConfig` and return its summary (library use)."""
    from jamba_eval.tasks.efficiency.bench import run_bench as _run_bench

    return _run_bench(config)


def plot_kv_cache_table(output_dir: Any, length: int = 262144) -> list[Any]:
    """The papers' Table 1 as a bar chart (PNG + SVG) in `output_dir`; returns the files written."""
    from jamba_eval.tasks.efficiency.plots import plot_kv_cache_table as _plot

    return _plot(output_dir, length=length)


__all__ = [
    "PRESETS",
    "Architecture",
    "Budget",
    "as_architecture",
    "cli_bench",
    "cli_memory",
    "estimate",
    "kv_cache_bytes",
    "kv_cache_bytes_per_token",
    "list_presets",
    "mamba_state_bytes",
    "max_batch",
    "max_context",
    "num_parameters",
    "parse_size",
    "plot_kv_cache_table",
    "preset_config",
    "read_hf_config",
    "required_bytes",
    "run_bench",
    "weight_bytes",
]
