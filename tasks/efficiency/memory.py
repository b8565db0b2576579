"""Analytic memory: weights by dtype, KV cache, Mamba state, and the largest context or batch that fits.

    KV bytes    = 2 (K, V) × attention layers × KV heads × head dim × length × batch × bytes per element
    Mamba state = Mamba layers × d_inner × (d_conv − 1 conv columns + d_state SSM columns) × batch × bytes
    fits        = weights + batch × (KV per token × length + Mamba state) ≤ GPUs × (GPU memory − reserve)

The papers' "GB" are GiB (2^30 bytes): 2 × 4 × 8 × 128 × 262144 × 2 bytes = 4 GiB for Jamba. Sizes typed by the user
follow the same convention: "80GB" and "80GiB" both mean 80 × 2^30 bytes (an "80GB" A100 has 81920 MiB).

Weight dtypes (what is stored at reduced precision):
- bf16 / fp16 / fp32: every parameter at 2 / 2 / 4 bytes.
- fp8 / int8: every linear weight matrix of the decoder layers (attention q/k/v/o, dense MLP and expert matrices,
  Mamba in/x/dt/out projections) at 1 byte; embeddings, lm_head, norms, router, conv, A, D and biases stay 16-bit.
  int8 adds an fp32 scale per output channel, fp8 one fp32 scale per matrix.
- experts-int8 (vLLM's ExpertsInt8, `/shared/reference/jamba_model.md` §3.3): MoE expert matrices int8 with an fp32
  scale per output channel per expert; everything else bf16.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from jamba_eval.errors import UserError
from jamba_eval.tasks.efficiency import architecture as arch
from jamba_eval.tasks.efficiency.architecture import Architecture, as_architecture

GiB = 1024**3
MiB = 1024**2
KiB = 1024

_ELEMENT_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2, "fp8": 1, "int8": 1}
_DTYPE_ALIASES = {
    "float32": "fp32",
    "float": "fp32",
    "bfloat16": "bf16",
    "float16": "fp16",
    "half": "fp16",
    "float8": "fp8",
    "fp8_e4m3": "fp8",
    "float8_e4m3fn": "fp8",
    "fp8_e5m2": "fp8",
    "float8_e5m2": "fp8",
    "experts_int8": "experts-int8",
    "expertsint8": "experts-int8",
}
WEIGHT_DTYPES = ("bf16", "fp16", "fp32", "fp8", "int8", "experts-int8")
CACHE_DTYPES = ("bf16", "fp16", "fp32", "fp8", "int8")
_QUANTISED_LINEAR = {arch.ATTENTION, arch.MAMBA_LINEAR, arch.DENSE_MLP, arch.EXPERT}


def normalize_dtype(dtype: Any, allowed: tuple[str, ...] = WEIGHT_DTYPES, what: str = "dtype") -> str:
    """'bfloat16', 'torch.bfloat16', torch.bfloat16 -> 'bf16'; anything else is a UserError naming the choices."""
    name = str(dtype).strip().lower().removeprefix("torch.")
    name = _DTYPE_ALIASES.get(name, name)
    if name not in allowed:
        raise UserError(f"unknown {what} {str(dtype)!r}; choose one of: {', '.join(allowed)}")
    return name


def element_bytes(dtype: Any) -> int:
    """Bytes per element of a cache dtype."""
    return _ELEMENT_BYTES[normalize_dtype(dtype, CACHE_DTYPES, "cache dtype")]


# --------------------------------------------------------------------------------------------------- sizes

_SIZE_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([a-zA-Z]*)\s*$")
_SIZE_UNITS = {"b": 1, "k": KiB, "kb": KiB, "kib": KiB, "m": MiB, "mb": MiB, "mib": MiB}
_SIZE_UNITS.update({"g": GiB, "gb": GiB, "gib": GiB, "t": 1024 * GiB, "tb": 1024 * GiB, "tib": 1024 * GiB})
SIZE_HELP = "a size such as 80GB, 80GiB, 141GiB or 512MiB, with its unit (GB = GiB = 2^30 bytes, as in the papers)"


def parse_size(text: str | int | float, what: str = "size") -> int:
    """'80GB' -> 80 × 2^30 bytes. GB and GiB are both binary (the papers' and GPU vendors' convention)."""
    if isinstance(text, bool):
        raise UserError(f"invalid {what} {text!r}: expected {SIZE_HELP}")
    if isinstance(text, int | float):
        value, unit = float(text), ""
    else:
        match = _SIZE_RE.match(str(text))
        if not match or not match.group(2) or match.group(2).lower() not in _SIZE_UNITS:
            raise UserError(f"invalid {what} {str(text)!r}: expected {SIZE_HELP}")
        value, unit = float(match.group(1)), match.group(2).lower()
    size = int(value * _SIZE_UNITS[unit])
    if size <= 0:
        raise UserError(f"invalid {what} {str(text)!r}: must be larger than zero")
    return size


def parse_reserve(text: str | None, gpu_memory: int) -> int:
    """Memory kept back per GPU for activations and runtime: a size ('4GB') or a share of the GPU ('10%')."""
    if text is None:
        return 0
    raw = str(text).strip()
    if raw.endswith("%"):
        try:
            percent = float(raw[:-1])
        except ValueError:
            percent = -1.0
        if not 0 <= percent < 100:
            raise UserError(f"invalid reserve {raw!r}: a percentage must be in [0, 100), e.g. 10%")
        return int(gpu_memory * percent / 100)
    if raw in ("0", "0B", "0GB", "0GiB"):
        return 0
    reserve = parse_size(raw, "--reserve")
    if reserve >= gpu_memory:
        raise UserError(f"reserve {raw} leaves nothing of the {format_bytes(gpu_memory)} GPU")
    return reserve


def format_bytes(n: float | None) -> str:
    """Binary units, matching the papers: 4294967296 -> '4.00 GiB'."""
    if n is None:
        return "-"
    for unit, size in (("TiB", 1024 * GiB), ("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if abs(n) >= size:
            return f"{n / size:.2f} {unit}"
    return f"{int(n)} B"


def format_tokens(n: int | None) -> str:
    if n is None:
        return "unbounded"
    if n >= 1024**2:
        return f"{n / 1024**2:.2f}M"
    if n >= 1024:
        return f"{n / 1024:.1f}K"
    return str(n)


# ------------------------------------------------------------------------------------------------- weights


def weight_bytes(config: Any, dtype: Any = "bf16") -> int:
    """Bytes to store the weights (with quantisation scales) in `dtype` (see the module docstring)."""
    a = as_architecture(config)
    dtype = normalize_dtype(dtype)
    total = 0
    for group in a.param_groups():
        if dtype in ("bf16", "fp16", "fp32"):
            total += group.count * _ELEMENT_BYTES[dtype]
        elif dtype in ("fp8", "int8") and group.category in _QUANTISED_LINEAR:
            scales = group.rows if dtype == "int8" else group.matrices
            total += group.count + 4 * scales
        elif dtype == "experts-int8" and group.category == arch.EXPERT:
            total += group.count + 4 * group.rows
        else:
            total += group.count * 2
    return total


def num_parameters(config: Any, active: bool = False) -> int:
    return as_architecture(config).num_parameters(active=active)


# ------------------------------------------------------------------------------------------------ caches


def kv_cache_bytes_per_token(config: Any, dtype: Any = "bf16") -> int:
    """KV-cache bytes one token adds to one sequence."""
    return as_architecture(config).kv_elements_per_token() * element_bytes(dtype)


def kv_cache_bytes(config: Any, length: int, batch: int = 1, dtype: Any = "bf16") -> int:
    """2 × attention layers × KV heads × head dim × length × batch × bytes (sliding windows ignored, as in the
    papers' Table 1)."""
    _check_positive(length=length, batch=batch)
    return kv_cache_bytes_per_token(config, dtype) * length * batch


def mamba_state_bytes(
    config: Any, batch: int = 1, dtype: Any = "bf16", *, ssm_dtype: Any = None, conv_columns: int | None = None
) -> int:
    """Recurrent state of all Mamba layers: conv state d_inner × (d_conv − 1) (vLLM keeps d_conv − 1 inputs;
    pass `conv_columns=d_conv` for transformers' cache) plus SSM state d_inner × d_state (`ssm_dtype`, default
    `dtype`; vLLM's `--mamba-ssm-cache-dtype float32` doubles it)."""
    _check_positive(batch=batch)
    a = as_architecture(config)
    if not a.mamba_layers:
        return 0
    conv = a.mamba_d_conv - 1 if conv_columns is None else conv_columns
    per_layer = a.mamba_d_inner * conv * element_bytes(dtype)
    per_layer += a.mamba_d_inner * a.mamba_d_state * element_bytes(ssm_dtype or dtype)
    return a.mamba_layers * per_layer * batch


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise UserError(f"{name} must be a positive whole number, got {value!r}")


# ------------------------------------------------------------------------------------------------- fitting


@dataclasses.dataclass(frozen=True)
class Budget:
    """Memory for weights + caches: `gpus` × (per-GPU memory − per-GPU reserve), pooled (tensor parallel splits
    weights and KV heads evenly; replicated KV heads when GPUs outnumber them are not modelled)."""

    gpu_memory: int
    gpus: int = 1
    reserve: int = 0

    @property
    def usable(self) -> int:
        return self.gpus * (self.gpu_memory - self.reserve)


def max_context(
    config: Any, budget: Budget, weight_dtype: Any = "bf16", cache_dtype: Any = "bf16", batch: int = 1
) -> int | None:
    """The largest length L with weights + batch × (KV(L) + Mamba state) ≤ budget; 0 if even the weights and the
    recurrent state do not fit; None (unbounded) for a model without attention layers."""
    _check_positive(batch=batch)
    free = budget.usable - weight_bytes(config, weight_dtype) - mamba_state_bytes(config, batch, cache_dtype)
    per_token = kv_cache_bytes_per_token(config, cache_dtype) * batch
    if free < 0:
        return 0
    if per_token == 0:
        return None
    return free // per_token


def max_batch(config: Any, budget: Budget, length: int, weight_dtype: Any = "bf16", cache_dtype: Any = "bf16") -> int:
    """The largest number of sequences of `length` tokens whose caches fit beside the weights."""
    _check_positive(length=length)
    free = budget.usable - weight_bytes(config, weight_dtype)
    per_sequence = kv_cache_bytes(config, length, 1, cache_dtype) + mamba_state_bytes(config, 1, cache_dtype)
    return max(free, 0) // per_sequence


def required_bytes(
    config: Any, length: int, batch: int = 1, weight_dtype: Any = "bf16", cache_dtype: Any = "bf16"
) -> int:
    """Weights + KV cache + Mamba state for `batch` sequences of `length` tokens."""
    return (
        weight_bytes(config, weight_dtype)
        + kv_cache_bytes(config, length, batch, cache_dtype)
        + mamba_state_bytes(config, batch, cache_dtype)
    )


__all__ = [
    "Architecture",
    "Budget",
    "GiB",
    "format_bytes",
    "format_tokens",
    "kv_cache_bytes",
    "kv_cache_bytes_per_token",
    "mamba_state_bytes",
    "max_batch",
    "max_context",
    "normalize_dtype",
    "num_parameters",
    "parse_reserve",
    "parse_size",
    "required_bytes",
    "weight_bytes",
]
