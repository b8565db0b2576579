"""Jamba hyper-parameters, read from a Hugging Face `config.json`, plus the arithmetic other code needs.

One dataclass holds every field of the published configs (Jamba-v0.1, Jamba-1.5-Mini, Jamba-1.5-Large). From it
follow the layer layout (Jamba paper §2: one attention layer every `attn_layer_period` layers, an MoE FFN every
`expert_layer_period` layers), parameter counts (total and active), weight bytes and the hybrid-cache bytes:

    cache bytes = batch * (length * n_attention * 2 * kv_heads * head_dim * bytes(dtype)            # K and V
                           + n_mamba * d_inner * ((d_conv - 1) * bytes(dtype) + d_state * bytes(ssm_dtype)))

The memory calculator calls `cache_bytes`; `HybridCache.nbytes()` reports the same number for a real cache.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from pathlib import Path
from typing import Any

from jamba_eval.errors import ConfigError

logger = logging.getLogger(__name__)

DTYPE_BYTES = {"float32": 4, "float": 4, "bfloat16": 2, "float16": 2, "half": 2, "int8": 1, "float64": 8}

# Keys of published or transformers-written configs that do not change the architecture.
# fmt: off
IGNORED_KEYS = {
    "architectures", "auto_map", "model_type", "transformers_version", "torch_dtype", "dtype", "use_cache",
    "use_mamba_kernels", "use_mambapy", "use_associative_scan", "mamba_inner_layernorms", "num_logits_to_keep",
    "calc_logits_for_entire_prompt", "output_router_logits", "router_aux_loss_coef", "initializer_range",
    "attention_dropout", "n_ctx", "_name_or_path", "name_or_path", "return_dict", "output_hidden_states",
    "output_attentions", "torchscript", "chunk_size_feed_forward", "is_encoder_decoder", "tie_encoder_decoder",
    "problem_type", "id2label", "label2id", "sliding_window", "_attn_implementation_autoset", "bos_token_id",
    "pad_token_id", "eos_token_id", "max_position_embeddings",
}
# fmt: on


def dtype_bytes(dtype: Any) -> int:
    """Bytes per element of a dtype given as a torch.dtype or a name ("bfloat16", "torch.float32")."""
    name = str(dtype).removeprefix("torch.")
    if name not in DTYPE_BYTES:
        raise ConfigError(f"unknown dtype {dtype!r}; use one of {', '.join(sorted(DTYPE_BYTES))}")
    return DTYPE_BYTES[name]


@dataclasses.dataclass
class JambaConfig:
    """Architecture of a Jamba model; field names and defaults follow `ai21labs/Jamba-v0.1`'s config.json."""

    vocab_size: int = 65536
    hidden_size: int = 4096
    intermediate_size: int = 14336
    num_hidden_layers: int = 32
    num_attention_heads: int = 32
    num_key_value_heads: int = 8
    head_dim: int | None = None  # None: hidden_size // num_attention_heads (as in transformers)
    hidden_act: str = "silu"
    rms_norm_eps: float = 1e-6
    tie_word_embeddings: bool = False
    attn_layer_period: int = 8
    attn_layer_offset: int = 4
    expert_layer_period: int = 2
    expert_layer_offset: int = 1
    num_experts: int = 16
    num_experts_per_tok: int = 2
    mamba_d_state: int = 16
    mamba_d_conv: int = 4
    mamba_expand: int = 2
    mamba_dt_rank: int | str = "auto"
    mamba_conv_bias: bool = True
    mamba_proj_bias: bool = False
    pad_token_id: int | None = 0
    bos_token_id: int | None = 1
    eos_token_id: int | list[int] | None = 2
    max_position_embeddings: int = 262144  # informative only: no positional encoding (Jamba paper §6.5)
    torch_dtype: str | None = None  # the checkpoint's dtype, as written in config.json
    initializer_range: float = 0.02
    router_aux_loss_coef: float = 0.001

    def __post_init__(self) -> None:
        if self.mamba_dt_rank == "auto":
            self.mamba_dt_rank = math.ceil(self.hidden_size / 16)
        if self.head_dim is None:
            if self.hidden_size % self.num_attention_heads:
                raise ConfigError(
                    f"hidden_size {self.hidden_size} is not divisible by num_attention_heads {self.num_attention_heads}"
                )
            self.head_dim = self.hidden_size // self.num_attention_heads
        self.validate()

    def validate(self) -> None:
        checks = [
            (self.attn_layer_offset < self.attn_layer_period, "attn_layer_offset must be < attn_layer_period"),
            (self.expert_layer_offset < self.expert_layer_period, "expert_layer_offset must be < expert_layer_period"),
            (self.num_attention_heads % self.num_key_value_heads == 0, "num_attention_heads % num_key_value_heads"),
            (self.num_experts == 1 or 1 <= self.num_experts_per_tok <= self.num_experts, "need 1 <= top-k <= experts"),
            (self.hidden_act == "silu", f"hidden_act {self.hidden_act!r} is not supported (Jamba uses silu)"),
            (isinstance(self.mamba_dt_rank, int) and self.mamba_dt_rank > 0, "mamba_dt_rank must be 'auto' or > 0"),
            (self.mamba_d_conv >= 1 and self.mamba_d_state >= 1, "mamba_d_conv and mamba_d_state must be >= 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"invalid Jamba config: {message}")

    # ------------------------------------------------------------------------------------------- reading / writing

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JambaConfig:
        """Build from a config.json mapping; bookkeeping keys of every published config version are accepted."""
        data = dict(data)
        if data.get("model_type", "jamba") != "jamba":
            raise ConfigError(f"model_type is {data['model_type']!r}, not 'jamba'")
        if data.get("sliding_window") is not None:
            raise ConfigError("sliding_window attention is not supported (Jamba checkpoints use full attention)")
        if "torch_dtype" not in data and isinstance(data.get("dtype"), str):
            data["torch_dtype"] = data["dtype"]  # transformers 5 writes "dtype"
        if "max_position_embeddings" not in data and "n_ctx" in data:
            data["max_position_embeddings"] = data["n_ctx"]  # the March-2024 remote-code config
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - fields - IGNORED_KEYS)
        if unknown:
            logger.debug("ignoring config keys that do not affect the architecture: %s", ", ".join(unknown))
        return cls(**{k: v for k, v in data.items() if k in fields})

    @classmethod
    def from_json(cls, path: str | Path) -> JambaConfig:
        """Read `config.json` (or a directory holding one)."""
        path = Path(path)
        if path.is_dir():
            path = path / "config.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"no Jamba config at {path}") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path} is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """A config.json mapping that transformers' JambaConfig also reads."""
        data = dataclasses.asdict(self)
        data.update(model_type="jamba", architectures=["JambaForCausalLM"])
        if data["torch_dtype"] is None:
            data.pop("torch_dtype")
        return data

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    # ------------------------------------------------------------------------------------------------------ layout

    @property
    def d_inner(self) -> int:
        return self.mamba_expand * self.hidden_size

    @property
    def eos_token_ids(self) -> list[int]:
        if self.eos_token_id is None:
            return []
        return list(self.eos_token_id) if isinstance(self.eos_token_id, list) else [self.eos_token_id]

    def is_attention(self, layer: int) -> bool:
        return layer % self.attn_layer_period == self.attn_layer_offset

    def is_moe(self, layer: int) -> bool:
        return self.num_experts > 1 and layer % self.expert_layer_period == self.expert_layer_offset

    @property
    def layer_types(self) -> list[str]:
        """ "attention" or "mamba" per layer (transformers' `layers_block_type`)."""
        return ["attention" if self.is_attention(i) else "mamba" for i in range(self.num_hidden_layers)]

    @property
    def num_attention_layers(self) -> int:
        return sum(self.is_attention(i) for i in range(self.num_hidden_layers))

    @property
    def num_mamba_layers(self) -> int:
        return self.num_hidden_layers - self.num_attention_layers

    @property
    def num_moe_layers(self) -> int:
        return sum(self.is_moe(i) for i in range(self.num_hidden_layers))

    def layout(self) -> str:
        """E.g. "M M* M M* A M* M M*" (A attention, M Mamba, * MoE feed-forward)."""
        return " ".join(
            ("A" if self.is_attention(i) else "M") + ("*" if self.is_moe(i) else "")
            for i in range(self.num_hidden_layers)
        )

    # -------------------------------------------------------------------------------------------------- arithmetic

    def _mixer_parameters(self, layer: int) -> int:
        H, E, N, K, R = self.hidden_size, self.d_inner, self.mamba_d_state, self.mamba_d_conv, self.mamba_dt_rank
        if self.is_attention(layer):
            q, kv = self.num_attention_heads * self.head_dim, self.num_key_value_heads * self.head_dim
            return H * q + 2 * H * kv + q * H
        proj_bias = 2 * E + H if self.mamba_proj_bias else 0
        conv = E * K + (E if self.mamba_conv_bias else 0)
        return H * 2 * E + conv + E * (R + 2 * N) + R * E + E + E * N + E + E * H + proj_bias + R + 2 * N

    def _mlp_parameters(self) -> int:
        return 3 * self.hidden_size * self.intermediate_size

    def num_parameters(self, active: bool = False) -> int:
        """Weights of the model; `active=True` counts only the top-k experts a token uses (paper Table 1)."""
        H, V = self.hidden_size, self.vocab_size
        total = V * H * (1 if self.tie_word_embeddings else 2) + H
        for layer in range(self.num_hidden_layers):
            experts = self.num_experts_per_tok if active else self.num_experts
            ffn = (
                experts * self._mlp_parameters() + H * self.num_experts
                if self.is_moe(layer)
                else self._mlp_parameters()
            )
            total += self._mixer_parameters(layer) + 2 * H + ffn
        return total

    def expert_parameters(self) -> int:
        """Weights inside MoE experts (what ExpertsInt8 quantizes)."""
        return self.num_moe_layers * self.num_experts * self._mlp_parameters()

    def weight_bytes(self, dtype: Any = "bfloat16", experts_int8: bool = False) -> int:
        """Bytes of all weights in `dtype`; with ExpertsInt8, experts take 1 byte each plus an fp32 scale per row."""
        total = self.num_parameters() * dtype_bytes(dtype)
        if experts_int8:
            rows_per_expert = 2 * self.intermediate_size + self.hidden_size  # gate, up, down output channels
            scales = self.num_moe_layers * self.num_experts * rows_per_expert * 4
            total += self.expert_parameters() * (1 - dtype_bytes(dtype)) + scales
        return total

    def kv_bytes_per_token(self, dtype: Any = "bfloat16") -> int:
        return 2 * self.num_attention_layers * self.num_key_value_heads * self.head_dim * dtype_bytes(dtype)

    def mamba_state_bytes(self, dtype: Any = "bfloat16", ssm_dtype: Any = "float32") -> int:
        """Per sequence: conv state (last d_conv - 1 inputs) and SSM state of every Mamba layer."""
        per_layer = self.d_inner * (
            (self.mamba_d_conv - 1) * dtype_bytes(dtype) + self.mamba_d_state * dtype_bytes(ssm_dtype)
        )
        return self.num_mamba_layers * per_layer

    def cache_bytes(self, batch: int, length: int, dtype: Any = "bfloat16", ssm_dtype: Any = "float32") -> int:
        """Bytes of a `HybridCache(batch, length)`: KV for attention layers, conv + SSM state for Mamba layers."""
        return batch * (length * self.kv_bytes_per_token(dtype) + self.mamba_state_bytes(dtype, ssm_dtype))
