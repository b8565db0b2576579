"""Turn bench records into the summary: one row per point with analytic values beside the measured ones, and each
model's memory slope (bytes per context token per sequence, a least-squares line over the measured lengths).

Analytic values per row: resident memory = memory after loading + batch × (KV(L) + Mamba state), in the dtype the
weights were loaded in; prefill and decode tokens/s from `cost.py`'s FLOP and bytes-read models, calibrated on the
model's shortest measured length at that batch size.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from jamba_eval.config import format_length
from jamba_eval.errors import UserError
from jamba_eval.tasks.efficiency.architecture import Architecture
from jamba_eval.tasks.efficiency.cost import decode_bytes_per_step, prefill_flops
from jamba_eval.tasks.efficiency.memory import kv_cache_bytes, kv_cache_bytes_per_token, mamba_state_bytes

log = logging.getLogger(__name__)

_CACHE_DTYPE = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}
_ELEMENT = {"fp32": 4, "bf16": 2, "fp16": 2}


def _architecture(info: dict[str, Any]) -> Architecture | None:
    config = info.get("model_config")
    if not isinstance(config, dict):
        return None
    try:
        return Architecture.from_hf_config(config)
    except UserError as exc:
        log.info("%s: no analytic curves (%s)", info.get("label"), exc)
        return None


def fit_slope(lengths: list[int], values: list[float]) -> tuple[float, float] | None:
    """Least-squares (slope, intercept) of values against lengths; None with fewer than two distinct lengths."""
    if len(set(lengths)) < 2:
        return None
    slope, intercept = np.polyfit(np.asarray(lengths, float), np.asarray(values, float), 1)
    return float(slope), float(intercept)


def summarize(config: Any, models: list[tuple[str, Any]], records: list[dict[str, Any]], model_info: dict) -> dict:
    rows: list[dict[str, Any]] = []
    entries = []
    for label, model in models:
        info = model_info.get(label, {})
        arch = _architecture(info)
        cache_dtype = _CACHE_DTYPE.get(str(info.get("weights_dtype")))
        entry: dict[str, Any] = {
            "label": label,
            "runner": model.runner,
            "model": model.model,
            "model_args": model.model_args,
            "memory_kind": info.get("memory_kind"),
            "weights_dtype": info.get("weights_dtype"),
            "baseline_bytes": info.get("baseline_bytes"),
            "architecture": arch.describe() if arch else None,
            "params_total": arch.num_parameters() if arch else None,
            "analytic_kv_bytes_per_token": kv_cache_bytes_per_token(arch, cache_dtype)
            if arch and cache_dtype
            else None,
            "analytic_mamba_state_bytes": mamba_state_bytes(arch, 1, cache_dtype) if arch and cache_dtype else None,
            "slopes": {},
        }
        for batch in config.batch_sizes:
            mine = sorted(
                (r for r in records if r["model"] == label and r["batch"] == batch and r["length"] in config.lengths),
                key=lambda r: r["length"],
            )
            model_rows = [_row(label, r) for r in mine]
            if arch and cache_dtype:
                _add_analytic(model_rows, arch, cache_dtype, batch)
            rows += model_rows
            entry["slopes"][str(batch)] = _slopes(model_rows, batch)
        entries.append(entry)
    return {
        "kind": "bench",
        "what": config.what,
        "lengths": list(config.lengths),
        "batch_sizes": list(config.batch_sizes),
        "repeats": config.repeats,
        "warmup": config.warmup,
        "decode_tokens": config.decode_tokens,
        "models": entries,
        "table": rows,
    }


def _row(label: str, record: dict[str, Any]) -> dict[str, Any]:
    load = record.get("load") or {}
    return {
        "model": label,
        "length": record["length"],
        "batch": record["batch"],
        "status": record.get("status"),
        "reason": record.get("reason"),
        "ttft_s": record.get("ttft_s"),
        "prefill_tok_s": record.get("prefill_tok_s"),
        "decode_tok_s": record.get("decode_tok_s"),
        "peak_memory_bytes": record.get("peak_memory_bytes"),
        "resident_memory_bytes": record.get("resident_memory_bytes"),
        "baseline_bytes": load.get("baseline_bytes"),
        "memory_kind": load.get("memory_kind"),
    }


def _add_analytic(rows: list[dict[str, Any]], arch: Architecture, cache_dtype: str, batch: int) -> None:
    ok = [r for r in rows if r["status"] == "ok"]
    prefill_ref = next((r for r in ok if r["ttft_s"]), None)
    decode_ref = next((r for r in ok if r["decode_tok_s"]), None)
    element = _ELEMENT[cache_dtype]
    for r in rows:
        L = r["length"]
        if r["baseline_bytes"] is not None:
            caches = kv_cache_bytes(arch, L, batch, cache_dtype) + mamba_state_bytes(arch, batch, cache_dtype)
            r["analytic_resident_bytes"] = r["baseline_bytes"] + caches
        if prefill_ref:
            rate = prefill_flops(arch, prefill_ref["length"], batch) / prefill_ref["ttft_s"]  # FLOP/s achieved
            r["analytic_prefill_tok_s"] = batch * L / (prefill_flops(arch, L, batch) / rate)
        if decode_ref:
            step = batch / decode_ref["decode_tok_s"]  # seconds per decode step at the reference length
            bandwidth = decode_bytes_per_step(arch, decode_ref["length"], batch, element, cache_dtype) / step
            r["analytic_decode_tok_s"] = batch * bandwidth / decode_bytes_per_step(arch, L, batch, element, cache_dtype)


def _slopes(rows: list[dict[str, Any]], batch: int) -> dict[str, Any]:
    ok = [r for r in rows if r["status"] == "ok"]
    result: dict[str, Any] = {}
    for key in ("peak_memory_bytes", "resident_memory_bytes", "analytic_resident_bytes"):
        points = [(r["length"], r[key]) for r in ok if r.get(key) is not None]
        fit = fit_slope([p[0] for p in points], [p[1] for p in points])
        result[key.replace("_bytes", "_bytes_per_token")] = fit[0] / batch if fit else None
    return result


# ----------------------------------------------------------------------------------------------------- text


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if abs(value) < 1e-3:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}" if abs(value) >= 1 else f"{value:.3g}"


def _mib(value: Any) -> str:
    return "-" if value is None else f"{value / 2**20:,.1f}"


def render_table(summary: dict[str, Any]) -> str:
    headers = [
        "model",
        "batch",
        "context",
        "TTFT s",
        "prefill tok/s",
        "decode tok/s",
        "peak MiB",
        "decoding MiB",
        "analytic MiB",
        "status",
    ]
    rows = [
        [
            r["model"],
            str(r["batch"]),
            format_length(r["length"]),
            _num(r["ttft_s"], 3),
            _num(r["prefill_tok_s"]),
            _num(r["decode_tok_s"]),
            _mib(r["peak_memory_bytes"]),
            _mib(r["resident_memory_bytes"]),
            _mib(r.get("analytic_resident_bytes")),
            r["status"] or "-",
        ]
        for r in summary["table"]
    ]
    widths = [max(len(x) for x in column) for column in zip(headers, *rows, strict=True)]
    lines = [
        "  ".join(x.rjust(w) if i else x.ljust(w) for i, (x, w) in enumerate(zip(line, widths, strict=True)))
        for line in [headers, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    lines.append("memory slope, bytes per context token per sequence (least squares over the measured lengths):")
    for m in summary["models"]:
        for batch, s in m["slopes"].items():
            lines.append(
                f"  {m['label']} (batch {batch}): while decoding {_num(s['resident_memory_bytes_per_token'])}, "
                f"peak {_num(s['peak_memory_bytes_per_token'])}, analytic KV {_num(m['analytic_kv_bytes_per_token'])}"
            )
    kinds = {m["memory_kind"] for m in summary["models"] if m["memory_kind"]}
    lines.append(
        f"memory measured as: {', '.join(sorted(kinds)) or '-'}; medians of {summary['repeats']} runs after "
        f"{summary['warmup']} warm-up, {summary['decode_tokens']} decoded tokens"
    )
    if summary["what"] == "throughput":
        lines.append(
            "note: throughput runs keep one process per model and the default allocator; take memory numbers from "
            "`jamba-eval bench memory` (a fresh process per point)"
        )
    return "\n".join(lines)
