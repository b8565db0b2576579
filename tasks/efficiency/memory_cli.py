"""`jamba-eval memory`: the analytic calculator as a table or JSON, and `jamba-eval list presets`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from jamba_eval.config import format_length
from jamba_eval.errors import UserError
from jamba_eval.tasks.efficiency.architecture import Architecture, read_hf_config
from jamba_eval.tasks.efficiency.memory import (
    CACHE_DTYPES,
    Budget,
    format_bytes,
    format_tokens,
    kv_cache_bytes,
    kv_cache_bytes_per_token,
    mamba_state_bytes,
    max_batch,
    max_context,
    normalize_dtype,
    parse_reserve,
    parse_size,
    weight_bytes,
)
from jamba_eval.tasks.efficiency.presets import PRESETS, preset_config

DEFAULT_RESERVE = "10%"  # vLLM's default gpu_memory_utilization of 0.9 leaves the same share


def list_presets() -> list[tuple[str, str]]:
    """(name, one-line description) of every preset, for `jamba-eval list presets`."""
    return [(p.name, p.description) for p in PRESETS.values()]


def estimate(
    model: Architecture,
    length: int,
    dtype: str = "bf16",
    kv_dtype: str = "bf16",
    batch: int = 1,
    budget: Budget | None = None,
    source: str = "",
) -> dict[str, Any]:
    """Everything the calculator knows about one model at one length, JSON-ready (bytes as integers)."""
    weights = weight_bytes(model, dtype)
    kv = kv_cache_bytes(model, length, batch, kv_dtype)
    state = mamba_state_bytes(model, batch, kv_dtype)
    result: dict[str, Any] = {
        "model": model.name,
        "source": source,
        "model_type": model.model_type,
        "layers": model.num_layers,
        "attention_layers": model.attention_layers,
        "mamba_layers": model.mamba_layers,
        "moe_layers": model.moe_layers,
        "params_total": model.num_parameters(),
        "params_active": model.num_parameters(active=True),
        "dtype": dtype,
        "kv_dtype": kv_dtype,
        "length": length,
        "batch": batch,
        "weight_bytes": weights,
        "kv_cache_bytes_per_token": kv_cache_bytes_per_token(model, kv_dtype),
        "kv_cache_bytes": kv,
        "mamba_state_bytes_per_sequence": mamba_state_bytes(model, 1, kv_dtype),
        "mamba_state_bytes": state,
        "total_bytes": weights + kv + state,
        "max_position_embeddings": model.max_position_embeddings,
        "gpu": None,
        "fits": None,
        "max_context": None,
        "max_batch": None,
    }
    if budget is not None:
        result["gpu"] = {
            "memory_bytes": budget.gpu_memory,
            "gpus": budget.gpus,
            "reserve_bytes_per_gpu": budget.reserve,
            "usable_bytes": budget.usable,
        }
        result["fits"] = result["total_bytes"] <= budget.usable
        result["max_context"] = max_context(model, budget, dtype, kv_dtype, batch)
        result["max_batch"] = max_batch(model, budget, length, dtype, kv_dtype)
    return result


def _models(preset: str | None, config: Path | None) -> list[tuple[Architecture, str]]:
    if (preset is None) == (config is None):
        raise UserError("give exactly one of --preset NAME (see `jamba-eval list presets`) or --config PATH")
    if config is not None:
        return [(Architecture.from_hf_config(read_hf_config(config), name=str(config)), str(config))]
    names = list(PRESETS) if preset.strip().lower() == "all" else [n.strip() for n in preset.split(",") if n.strip()]
    if not names:
        raise UserError("--preset is empty; give a preset name, a comma-separated list, or all")
    models = []
    for name in names:
        data = preset_config(name)
        models.append((Architecture.from_hf_config(data, name=name.lower()), PRESETS[name.lower()].source))
    return models


def cli_memory(
    preset: str | None,
    config: Path | None,
    length: int,
    dtype: str,
    kv_dtype: str | None,
    gpu_memory: str | None,
    gpus: int,
    reserve: str | None,
    batch: int,
    as_json: bool,
) -> list[dict[str, Any]]:
    """Entry point of `jamba-eval memory`; prints a table (or JSON) and returns the estimates."""
    models = _models(preset, config)
    dtype = normalize_dtype(dtype, what="--dtype")
    kv_dtype = normalize_dtype(kv_dtype or "bf16", CACHE_DTYPES, "--kv-dtype")
    for name, value in (("--gpus", gpus), ("--batch", batch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UserError(f"{name} must be a whole number of at least 1, got {value!r}")
    budget = None
    if gpu_memory is not None:
        memory = parse_size(gpu_memory, "--gpu-memory")
        budget = Budget(memory, gpus, parse_reserve(reserve if reserve is not None else DEFAULT_RESERVE, memory))
    elif reserve is not None or gpus != 1:
        raise UserError("--reserve and --gpus need --gpu-memory (e.g. --gpu-memory 80GB)")
    results = [estimate(m, length, dtype, kv_dtype, batch, budget, source) for m, source in models]
    if as_json:
        typer.echo(json.dumps(results[0] if len(results) == 1 else results, indent=2))
    else:
        typer.echo(render(results, reserve if reserve is not None else DEFAULT_RESERVE))
    return results


# --------------------------------------------------------------------------------------------------- text


def _params(n: int) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e8 else f"{n / 1e6:.2f}M"


def render(results: list[dict[str, Any]], reserve_text: str = DEFAULT_RESERVE) -> str:
    """A table, one row per model, then the assumptions behind it."""
    first = results[0]
    length = format_length(first["length"])
    headers = ["model", "params (active)", f"weights {first['dtype']}", "KV/token", f"KV @ {length}", "Mamba state"]
    with_gpu = first["gpu"] is not None
    if with_gpu:
        headers += ["total", "fits", "max context", f"max batch @ {length}"]
    rows = []
    for r in results:
        row = [
            r["model"],
            f"{_params(r['params_total'])} ({_params(r['params_active'])})",
            format_bytes(r["weight_bytes"]),
            format_bytes(r["kv_cache_bytes_per_token"]),
            format_bytes(r["kv_cache_bytes"]),
            format_bytes(r["mamba_state_bytes"]) if r["mamba_layers"] else "-",
        ]
        if with_gpu:
            row += [
                format_bytes(r["total_bytes"]),
                "yes" if r["fits"] else "no",
                format_tokens(r["max_context"]),
                str(r["max_batch"]),
            ]
        rows.append(row)
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=True)]
    lines = [
        "  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)).rstrip() for line in [headers, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = [
        f"batch {first['batch']}; KV cache and Mamba state in {first['kv_dtype']}; "
        "sizes in binary units (the papers' GB are GiB)",
        "weights: " + _weights_note(first["dtype"]),
    ]
    if with_gpu:
        gpu = first["gpu"]
        notes.append(
            f"fit: {gpu['gpus']} x {format_bytes(gpu['memory_bytes'])}, reserve {reserve_text} per GPU "
            f"({format_bytes(gpu['reserve_bytes_per_gpu'])}) for activations and runtime; weights + KV + Mamba "
            f"state must fit in {format_bytes(gpu['usable_bytes'])}"
        )
    beyond = [
        r["model"] for r in results if r["max_position_embeddings"] and r["length"] > r["max_position_embeddings"]
    ]
    if beyond:
        notes.append(f"{length} is beyond max_position_embeddings of: {', '.join(beyond)}")
    return "\n".join(lines + [""] + ["note: " + n for n in notes])


def _weights_note(dtype: str) -> str:
    return {
        "fp8": "linear matrices of the decoder layers in fp8 (+ a scale per matrix), the rest 16-bit",
        "int8": "linear matrices of the decoder layers in int8 (+ fp32 scale per output channel), the rest 16-bit",
        "experts-int8": "MoE experts in int8 (+ fp32 scale per output channel, vLLM ExpertsInt8), the rest bf16",
    }.get(dtype, f"all parameters in {dtype}")
