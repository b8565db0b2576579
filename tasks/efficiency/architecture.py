"""A model's shape, read from a Hugging Face `config.json`, and the parameter groups it implies.

One normalised `Architecture` serves the whole calculator: parameter counts (total and active), weight bytes by
dtype, KV-cache and Mamba-state bytes. Supported `model_type`s: `jamba`, `mixtral`, `mistral`, `llama`.

Layer layout (Jamba, arXiv 2403.19887 §2; transformers' `JambaConfig.layers_block_type`): layer i is attention when
`i % attn_layer_period == attn_layer_offset`, else Mamba; its FFN is MoE when
`i % expert_layer_period == expert_layer_offset` (and `num_experts > 1`), else a dense SwiGLU MLP.

Parameter counts (`/shared/reference/jamba_model.md` §1.4), with H hidden, E = expand·H Mamba channels,
R dt_rank, N d_state, K d_conv, I intermediate, V vocab:

    mamba mixer = H·2E + E·K + E (conv bias) + E·(R+2N) + R·E + E + E·N (A_log) + E (D) + E·H + R + 2N (norms)
    attention   = H·(heads·hd) + 2·H·(kv·hd) + (heads·hd)·H
    SwiGLU MLP  = 3·H·I;  MoE = experts·MLP + H·experts (router)
    total       = V·H (+ V·H untied lm_head) + H (final norm) + Σ layers (mixer + 2H norms + FFN)
    active      = total − MoE layers · (experts − top_k) · MLP
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jamba_eval.errors import UserError

SUPPORTED_MODEL_TYPES = ("jamba", "mixtral", "mistral", "llama")

# Parameter categories; `weights.py` decides the storage dtype of each one.
EMBEDDING = "embedding"  # token embedding and lm_head
NORM = "norm"  # RMSNorm weights
ATTENTION = "attention"  # q/k/v/o projection matrices
MAMBA_LINEAR = "mamba_linear"  # in/x/dt/out projection matrices of the Mamba mixer
MAMBA_OTHER = "mamba_other"  # conv1d, dt bias, A_log, D, the mixer's small norms
DENSE_MLP = "dense_mlp"  # SwiGLU matrices of dense FFN layers
EXPERT = "expert"  # SwiGLU matrices of MoE experts
ROUTER = "router"  # MoE router
BIAS = "bias"  # linear biases (attention_bias / mlp_bias / mamba_proj_bias)


@dataclasses.dataclass(frozen=True)
class ParamGroup:
    """`count` parameters of one category; `rows` = output channels summed over its matrices (for int8 scales),
    `matrices` = how many weight matrices (for per-tensor scales)."""

    category: str
    count: int
    rows: int = 0
    matrices: int = 0


@dataclasses.dataclass(frozen=True)
class Architecture:
    """What the memory arithmetic needs from a decoder-only model (attention, Mamba and MoE layers)."""

    model_type: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    layer_types: tuple[str, ...]  # "attention" | "mamba", one per layer
    ffn_types: tuple[str, ...]  # "moe" | "dense", one per layer
    num_experts: int = 1
    experts_per_token: int = 1
    tie_word_embeddings: bool = False
    attention_bias: bool = False
    mlp_bias: bool = False
    mamba_d_inner: int = 0
    mamba_d_state: int = 0
    mamba_d_conv: int = 0
    mamba_dt_rank: int = 0
    mamba_conv_bias: bool = True
    mamba_proj_bias: bool = False
    max_position_embeddings: int | None = None
    sliding_window: int | None = None
    name: str = ""

    # ---- layout
    @property
    def num_layers(self) -> int:
        return len(self.layer_types)

    @property
    def attention_layers(self) -> int:
        return self.layer_types.count("attention")

    @property
    def mamba_layers(self) -> int:
        return self.layer_types.count("mamba")

    @property
    def moe_layers(self) -> int:
        return self.ffn_types.count("moe")

    # ---- parameters
    def param_groups(self) -> list[ParamGroup]:
        """Every parameter of the model, grouped by category (summed over layers)."""
        H, V, I = self.hidden_size, self.vocab_size, self.intermediate_size
        q_out, kv_out = self.num_heads * self.head_dim, self.num_kv_heads * self.head_dim
        groups = [
            ParamGroup(
                EMBEDDING, V * H * (1 if self.tie_word_embeddings else 2), V * (0 if self.tie_word_embeddings else 1)
            ),
            ParamGroup(NORM, H + 2 * H * self.num_layers),
        ]
        na, nm, n_moe = self.attention_layers, self.mamba_layers, self.moe_layers
        n_dense = self.num_layers - n_moe
        if na:
            groups.append(ParamGroup(ATTENTION, na * (2 * H * q_out + 2 * H * kv_out), na * (2 * q_out + H), 4 * na))
            if self.attention_bias:
                groups.append(ParamGroup(BIAS, na * (q_out + 2 * kv_out + H)))
        if nm:
            E, N, K, R = self.mamba_d_inner, self.mamba_d_state, self.mamba_d_conv, self.mamba_dt_rank
            linear = H * 2 * E + E * (R + 2 * N) + R * E + E * H  # in_proj, x_proj, dt_proj, out_proj
            groups.append(ParamGroup(MAMBA_LINEAR, nm * linear, nm * (2 * E + R + 2 * N + E + H), 4 * nm))
            other = E * K + (E if self.mamba_conv_bias else 0) + E + E * N + E + R + 2 * N  # conv, dt bias, A, D, norms
            groups.append(ParamGroup(MAMBA_OTHER, nm * other))
            if self.mamba_proj_bias:
                groups.append(ParamGroup(BIAS, nm * (2 * E + H)))
        mlp, mlp_rows = 3 * H * I, 2 * I + H
        if n_dense:
            groups.append(ParamGroup(DENSE_MLP, n_dense * mlp, n_dense * mlp_rows, 3 * n_dense))
            if self.mlp_bias:
                groups.append(ParamGroup(BIAS, n_dense * mlp_rows))
        if n_moe:
            X = self.num_experts
            groups.append(ParamGroup(EXPERT, n_moe * X * mlp, n_moe * X * mlp_rows, 3 * n_moe * X))
            groups.append(ParamGroup(ROUTER, n_moe * H * X))
            if self.mlp_bias:
                groups.append(ParamGroup(BIAS, n_moe * X * mlp_rows))
        return groups

    def num_parameters(self, active: bool = False) -> int:
        """Total parameters, or those used per token (`active`: top-k of the experts in each MoE layer)."""
        total = sum(g.count for g in self.param_groups())
        if not active:
            return total
        unused = self.moe_layers * (self.num_experts - self.experts_per_token) * 3 * self.hidden_size
        return total - unused * self.intermediate_size

    # ---- per-token state
    def kv_elements_per_token(self) -> int:
        """K and V elements cached per token per sequence: 2 × attention layers × KV heads × head dim."""
        return 2 * self.attention_layers * self.num_kv_heads * self.head_dim

    def describe(self) -> str:
        parts = [f"{self.num_layers} layers"]
        if self.mamba_layers:
            parts.append(f"{self.attention_layers} attention + {self.mamba_layers} Mamba")
        if self.moe_layers:
            parts.append(f"{self.moe_layers} MoE ({self.num_experts} experts, top-{self.experts_per_token})")
        parts.append(
            f"hidden {self.hidden_size}, {self.num_heads} heads / {self.num_kv_heads} KV, head dim {self.head_dim}"
        )
        return f"{self.model_type}: " + "; ".join(parts)

    # ---- construction
    @classmethod
    def from_hf_config(cls, config: Mapping[str, Any], name: str = "") -> Architecture:
        """Normalise a Hugging Face config dict (jamba, mixtral, mistral or llama)."""
        return _from_hf_config(dict(config), name)


def _get(config: dict[str, Any], key: str, *aliases: str, default: Any = ...) -> Any:
    for k in (key, *aliases):
        if config.get(k) is not None:
            return config[k]
    if default is ...:
        raise UserError(f"model config has no {key!r} (model_type {config.get('model_type')!r})")
    return default


def _positive_int(config: dict[str, Any], key: str, *aliases: str, default: Any = ...) -> int:
    value = _get(config, key, *aliases, default=default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise UserError(f"model config: {key} must be a positive integer, got {value!r}")
    return value


def _from_hf_config(config: dict[str, Any], name: str) -> Architecture:
    model_type = config.get("model_type")
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise UserError(
            f"model_type {model_type!r} is not supported by the memory calculator; "
            f"supported: {', '.join(SUPPORTED_MODEL_TYPES)}"
        )
    H = _positive_int(config, "hidden_size", "d_model")
    heads = _positive_int(config, "num_attention_heads")
    kv_heads = _positive_int(config, "num_key_value_heads", default=heads)
    # transformers' Jamba writes no head_dim (hidden / heads); our Jamba honours one when present, and so do we
    head_dim = config.get("head_dim") or H // heads
    layers = _positive_int(config, "num_hidden_layers")
    common = dict(
        model_type=model_type,
        vocab_size=_positive_int(config, "vocab_size"),
        hidden_size=H,
        intermediate_size=_positive_int(config, "intermediate_size"),
        num_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=int(head_dim),
        tie_word_embeddings=bool(config.get("tie_word_embeddings", False)),
        max_position_embeddings=config.get("max_position_embeddings") or config.get("n_ctx"),
        sliding_window=config.get("sliding_window"),
        name=name or str(config.get("_name_or_path") or ""),
    )
    if model_type == "jamba":
        return _jamba(config, layers, common)
    if model_type == "mixtral":
        experts = _positive_int(config, "num_local_experts", "num_experts")
        return Architecture(
            **common,
            layer_types=("attention",) * layers,
            ffn_types=("moe",) * layers,
            num_experts=experts,
            experts_per_token=_positive_int(config, "num_experts_per_tok"),
        )
    return Architecture(  # llama, mistral
        **common,
        layer_types=("attention",) * layers,
        ffn_types=("dense",) * layers,
        attention_bias=bool(config.get("attention_bias", False)),
        mlp_bias=bool(config.get("mlp_bias", False)),
    )


def _jamba(config: dict[str, Any], layers: int, common: dict[str, Any]) -> Architecture:
    attn_period = _positive_int(config, "attn_layer_period")
    attn_offset = int(_get(config, "attn_layer_offset"))
    expert_period = _positive_int(config, "expert_layer_period")
    expert_offset = int(_get(config, "expert_layer_offset"))
    for what, offset, period in (("attn", attn_offset, attn_period), ("expert", expert_offset, expert_period)):
        if not 0 <= offset < period:
            raise UserError(f"model config: {what}_layer_offset {offset} must be in [0, {what}_layer_period={period})")
    experts = _positive_int(config, "num_experts", "num_local_experts", default=1)
    H = common["hidden_size"]
    dt_rank = config.get("mamba_dt_rank", "auto")
    dt_rank = math.ceil(H / 16) if dt_rank in (None, "auto") else int(dt_rank)
    return Architecture(
        **common,
        layer_types=tuple("attention" if i % attn_period == attn_offset else "mamba" for i in range(layers)),
        ffn_types=tuple(
            "moe" if experts > 1 and i % expert_period == expert_offset else "dense" for i in range(layers)
        ),
        num_experts=experts,
        experts_per_token=_positive_int(config, "num_experts_per_tok", default=1) if experts > 1 else 1,
        mamba_d_inner=_positive_int(config, "mamba_expand", default=2) * H,
        mamba_d_state=_positive_int(config, "mamba_d_state", default=16),
        mamba_d_conv=_positive_int(config, "mamba_d_conv", default=4),
        mamba_dt_rank=dt_rank,
        mamba_conv_bias=bool(config.get("mamba_conv_bias", True)),
        mamba_proj_bias=bool(config.get("mamba_proj_bias", False)),
    )


def read_hf_config(path: str | Path) -> dict[str, Any]:
    """A `config.json` (or the directory holding one) as a dict, with clear errors."""
    path = Path(path)
    if path.is_dir():
        path = path / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"cannot read model config {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not valid JSON (line {exc.lineno}): {exc.msg}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} must hold a JSON object, got {type(data).__name__}")
    return data


def as_architecture(config: Any) -> Architecture:
    """Accept an `Architecture`, an HF config dict, a `config.json` path, a preset name, or a config object
    (a transformers `PretrainedConfig`, or a dataclass such as our `JambaConfig`)."""
    if isinstance(config, Architecture):
        return config
    if isinstance(config, Mapping):
        return Architecture.from_hf_config(config)
    if isinstance(config, Path) or (isinstance(config, str) and (config.endswith(".json") or Path(config).is_dir())):
        return Architecture.from_hf_config(read_hf_config(config), name=str(config))
    if isinstance(config, str):
        from jamba_eval.tasks.efficiency.presets import preset_config

        return Architecture.from_hf_config(preset_config(config), name=config)
    if hasattr(config, "to_dict"):
        data = dict(config.to_dict())
    elif dataclasses.is_dataclass(config) and not isinstance(config, type):
        data = dataclasses.asdict(config)
    else:
        raise UserError(f"cannot read a model architecture from {type(config).__name__}")
    if "model_type" not in data:  # a config class of our own may not carry it: take it from the class name
        kind = type(config).__name__.lower()
        data["model_type"] = next((t for t in SUPPORTED_MODEL_TYPES if t in kind), None)
    return Architecture.from_hf_config(data)
