"""What the report takes from the efficiency task: its plots and the analytic "largest context on one 80 GB GPU".

Everything here calls `jamba_eval.tasks.efficiency` (never re-implements it). When that task is not installed the
report still builds: the efficiency columns read "-" and the page says why.
"""

from __future__ import annotations

import importlib
import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

GPU = "80GB"  # the efficiency task reads "80GB" as 80 GiB, an A100/H100 80GB's 81920 MiB
RESERVE = "10%"  # vLLM's default gpu_memory_utilization of 0.9


def module() -> Any | None:
    """`jamba_eval.tasks.efficiency`, or None when it is not part of this installation."""
    try:
        return importlib.import_module("jamba_eval.tasks.efficiency")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("jamba_eval.tasks.efficiency"):
            return None
        raise


def preset_name(key: str) -> str | None:
    """The memory-calculator preset for a model key (`ai21-jamba-1.5-mini` -> `jamba-1.5-mini`)."""
    from jamba_eval.reports.published import canonical

    eff = module()
    if eff is None:
        return None
    for name in (key.casefold(), canonical(key)):
        if name in eff.PRESETS:
            return name
    return None


def local_hf_config(model: str) -> dict[str, Any] | None:
    """The config.json of a model given as a local directory."""
    path = Path(model) / "config.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def max_context(config: Any) -> dict[str, Any] | None:
    """Largest context (tokens, batch 1, 16-bit KV cache) on one 80 GB GPU with bf16 weights, and with int8 MoE
    experts (vLLM's ExpertsInt8) for MoE models; None when the calculator cannot read the config."""
    eff = module()
    if eff is None or config is None:
        return None
    from jamba_eval.errors import UserError

    try:
        from jamba_eval.tasks.efficiency.memory import parse_reserve

        arch = eff.as_architecture(config)
        memory = eff.parse_size(GPU)
        budget = eff.Budget(memory, 1, parse_reserve(RESERVE, memory))
        result = {"bf16": eff.max_context(arch, budget, "bf16", "bf16")}
        if getattr(arch, "num_experts", 1) > 1:
            result["experts-int8"] = eff.max_context(arch, budget, "experts-int8", "bf16")
        result["max_position"] = getattr(arch, "max_position_embeddings", None)
        return result
    except (UserError, KeyError, TypeError, ValueError) as exc:
        log.info("no analytic max context for %s: %s", getattr(config, "get", lambda *_: config)("model_type"), exc)
        return None


def max_context_text(fit: dict[str, Any] | None) -> tuple[str, float, str]:
    """(shown text, sort value, details): the larger of the two weight formats, e.g. "1.12M (int8 experts)"."""
    if not fit:
        return "-", -1, ""
    from jamba_eval.tasks.efficiency.memory import format_tokens

    options = [(dtype, fit[dtype]) for dtype in ("bf16", "experts-int8") if dtype in fit]
    details = ", ".join(f"{d} weights: {'does not fit' if v == 0 else format_tokens(v)}" for d, v in options)
    dtype, best = max(options, key=lambda o: float("inf") if o[1] is None else o[1])
    if best == 0:
        return "does not fit", 0, details
    label = "int8 experts" if dtype == "experts-int8" else dtype
    return f"{format_tokens(best)} ({label})", 1e18 if best is None else float(best), details


def preset_table() -> list[dict[str, Any]]:
    """Every preset's analytic max context on one 80 GB GPU, and its KV cache at 256K."""
    eff = module()
    if eff is None:
        return []
    rows = []
    for name, preset in eff.PRESETS.items():
        fit = max_context(preset.config)
        _, _, text = max_context_text(fit)
        kv = eff.kv_cache_bytes(preset.config, 262144, 1, "bf16")
        rows.append({"name": name, "description": preset.description, "max_context": text, "kv_256k_gib": kv / 2**30})
    return rows


def plot_bench(summary: dict[str, Any], out_dir: Path) -> list[Path]:
    """The efficiency task's throughput and memory plots for one bench summary."""
    if module() is None:
        return []
    from jamba_eval.tasks.efficiency import plots

    if summary.get("what") == "memory":
        return plots.plot_memory(summary, out_dir)
    return [*plots.plot_throughput(summary, out_dir), *plots.plot_memory(summary, out_dir)]


def plot_kv_table(out_dir: Path) -> list[Path]:
    """The papers' Table 1 (KV cache at 256K) as the efficiency task draws it."""
    eff = module()
    return [] if eff is None else list(eff.plot_kv_cache_table(out_dir))
