"""Built-in Jamba models: the published architectures (configs only) and `jamba-tiny`, the embedded default model.

`jamba-tiny` ships trained demo weights inside the package (`jamba_eval/assets/jamba-tiny/`: `model.safetensors`,
`config.json`, `MODEL_CARD.md`; made by `jamba-eval train-demo`, see `jamba_eval/train/`), which are loaded when
present. Without them (and for any config, via `init_random`) weights come from a fixed seed through an integer
hash (splitmix64), bit-identical on every machine and torch/numpy version; training starts from that init.

Why its layout is `M M* M M* A M* M M*` (attention at offset 4 of 8, as in Jamba): it is the placement that learns to
retrieve at this size. With the attention layer last (`M M* M M* M M* M A*`) a prefill that only needs the final
logits is O(L) (`JambaForCausalLM.forward(..., logits_to_keep=1)` computes that layer's queries for the last token
only), but that model did not learn in-context copying on a CPU budget, while the same model with attention at
offset 4 did (`benchmarks/copy_probe.py`, README "Trained jamba-tiny"). The price is exact O(L^2) attention in
prefill: ~4 * L^2/2 * H FLOPs, about 8 s at 64K and 2 minutes at 256K on two CPU cores.
"""

from __future__ import annotations

import dataclasses
import hashlib
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from jamba_eval.errors import UserError
from jamba_eval.model.config import JambaConfig
from jamba_eval.model.jamba import JambaForCausalLM
from jamba_eval.model.loading import build_model, load_checkpoint, load_weights, weight_targets

TINY_SEED = 20240328  # the Jamba release date
BYTE_VOCAB = 263  # ByteTokenizer().vocab_size

_PUBLISHED = dict(  # shared by Jamba-v0.1 and Jamba-1.5-Mini (arXiv 2403.19887 §3; config.json on the hub)
    vocab_size=65536,
    hidden_size=4096,
    intermediate_size=14336,
    num_hidden_layers=32,
    num_attention_heads=32,
    num_key_value_heads=8,
    attn_layer_period=8,
    attn_layer_offset=4,
    expert_layer_period=2,
    expert_layer_offset=1,
    num_experts=16,
    num_experts_per_tok=2,
    mamba_d_state=16,
    mamba_d_conv=4,
    mamba_expand=2,
    mamba_dt_rank=256,
    rms_norm_eps=1e-6,
    torch_dtype="bfloat16",
)

PRESETS: dict[str, tuple[JambaConfig, str]] = {
    "jamba-tiny": (
        JambaConfig(
            vocab_size=320,  # the byte tokenizer's 263 ids, padded to a multiple of 64
            hidden_size=64,
            intermediate_size=256,
            num_hidden_layers=8,
            num_attention_heads=2,
            num_key_value_heads=1,
            attn_layer_period=8,
            attn_layer_offset=4,  # as Jamba's; see the module docstring
            expert_layer_period=2,
            expert_layer_offset=1,
            num_experts=8,
            num_experts_per_tok=2,
            mamba_d_state=8,  # half the default: halves the scan cost of CPU training (jamba_eval/train)
            mamba_d_conv=4,
            mamba_expand=2,
            mamba_dt_rank=4,
            pad_token_id=256,
            bos_token_id=257,
            eos_token_id=258,
            max_position_embeddings=1 << 20,
        ),
        "embedded default model (demo weights trained on synthetic retrieval when shipped, else random weights from "
        "a fixed seed; byte tokenizer; no download)",
    ),
    "jamba-v0.1": (
        JambaConfig(**_PUBLISHED, eos_token_id=2),
        "ai21labs/Jamba-v0.1 architecture, 52B total / 12B active (config only; load a checkpoint directory)",
    ),
    "jamba-1.5-mini": (
        JambaConfig(**_PUBLISHED, eos_token_id=[2, 518]),
        "ai21labs/AI21-Jamba-1.5-Mini architecture, 52B / 12B active (config only)",
    ),
    "jamba-1.5-large": (
        JambaConfig(
            **{
                **_PUBLISHED,
                "hidden_size": 8192,
                "intermediate_size": 24576,
                "num_hidden_layers": 72,
                "num_attention_heads": 64,
                "mamba_dt_rank": 512,
            },
            eos_token_id=[2, 518],
        ),
        "ai21labs/AI21-Jamba-1.5-Large architecture, 398B / 94B active (config only; sizes from the paper)",
    ),
}
ALIASES = {
    "ai21labs/Jamba-v0.1": "jamba-v0.1",
    "ai21labs/AI21-Jamba-1.5-Mini": "jamba-1.5-mini",
    "ai21labs/AI21-Jamba-Mini-1.5": "jamba-1.5-mini",
    "ai21labs/AI21-Jamba-1.5-Large": "jamba-1.5-large",
    "ai21labs/AI21-Jamba-Large-1.5": "jamba-1.5-large",
}


def list_models() -> list[tuple[str, str]]:
    """(name, description) of every built-in model, for `jamba-eval list models`."""
    rows = []
    for name, (config, description) in PRESETS.items():
        if packaged_weights(name) is not None:
            description = f"{description.split(' (')[0]} (weights shipped in jamba_eval/assets/{name})"
        size = config.num_parameters()
        shown = f"{size / 1e9:.1f}B" if size >= 1e9 else f"{size / 1e6:.1f}M"
        rows.append((name, f"{description} [{shown} parameters, layout {_short_layout(config)}]"))
    return rows


def _short_layout(config: JambaConfig) -> str:
    period = config.attn_layer_period
    block = config.layout().split()[:period]
    repeats = config.num_hidden_layers // period
    return " ".join(block) + (f" (x{repeats})" if repeats > 1 else "")


def preset_config(name: str) -> JambaConfig:
    """A copy of a built-in config (by preset name or hub name)."""
    name = ALIASES.get(name, name)
    if name not in PRESETS:
        raise UserError(f"unknown Jamba preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return dataclasses.replace(PRESETS[name][0])


def is_preset(name: str) -> bool:
    return ALIASES.get(name, name) in PRESETS


def packaged_weights(name: str) -> Path | None:
    """`jamba_eval/assets/<name>/` when it holds safetensors weights shipped with the package."""
    folder = Path(str(resources.files("jamba_eval"))) / "assets" / name
    has_weights = (folder / "model.safetensors").is_file() or (folder / "model.safetensors.index.json").is_file()
    return folder if has_weights else None


def load_preset(
    name: str, dtype: torch.dtype = torch.float32, experts_int8: bool = False, device: str = "cpu"
) -> JambaForCausalLM:
    name = ALIASES.get(name, name)
    config = preset_config(name)
    folder = packaged_weights(name)
    if folder is not None:  # trained weights shipped with the package win over the random init
        if (folder / "config.json").is_file():
            return load_checkpoint(folder, dtype, experts_int8, device)
        return _load_with_config(folder, config, dtype, experts_int8, device)
    if name != "jamba-tiny":
        raise UserError(
            f"{name} is a config-only preset (no weights ship with jamba-eval); download the checkpoint "
            f"(e.g. `hf download {_hub_name(name)} --local-dir DIR`) and pass DIR as the model"
        )
    return init_random(config, dtype=dtype, experts_int8=experts_int8, device=device, used_vocab=BYTE_VOCAB)


def _hub_name(name: str) -> str:
    return next((hub for hub, preset in ALIASES.items() if preset == name), name)


def _load_with_config(
    folder: Path, config: JambaConfig, dtype: torch.dtype, experts_int8: bool, device: str
) -> JambaForCausalLM:
    model = build_model(config, dtype, experts_int8, device)
    load_weights(model, folder)
    return model


# ---------------------------------------------------------------------------------------------- deterministic init


def _uniform(name: str, count: int, seed: int) -> np.ndarray:
    """`count` floats in [-1, 1) from splitmix64 keyed by (seed, name): integer arithmetic, so bit-identical
    everywhere; 24-bit values scale exactly into float32."""
    key = int.from_bytes(hashlib.sha256(f"{seed}/{name}".encode()).digest()[:8], "little")
    z = np.arange(1, count + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(key)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)).astype(np.float32) * np.float32(2.0**-23) - np.float32(1.0)


def init_random(
    config: JambaConfig,
    seed: int = TINY_SEED,
    dtype: torch.dtype = torch.float32,
    experts_int8: bool = False,
    device: str = "cpu",
    used_vocab: int | None = None,
) -> JambaForCausalLM:
    """Deterministic random weights for any config: uniform with std 1/sqrt(fan_in) (residual-branch outputs scaled
    by 1/sqrt(2 layers)), Mamba's own init for A (log 1..N), D (1) and the Δ bias (Δ in [0.001, 0.1]). LM-head rows
    of ids >= `used_vocab` (never produced by the tokenizer) are zero."""
    fp32 = build_model(config, torch.float32, experts_int8=False, device="cpu")
    residual_scale = (2 * config.num_hidden_layers) ** -0.5
    with torch.no_grad():
        for name, param in fp32.named_parameters():
            leaf = name.rsplit(".", 2)[-2] if name.count(".") else name
            if name.endswith(("layernorm.weight", "norm.weight")) or name.endswith(".D"):
                param.fill_(1.0)
            elif name.endswith("A_log"):
                param.copy_(
                    torch.log(torch.arange(1, config.mamba_d_state + 1, dtype=torch.float32)).repeat(param.shape[0], 1)
                )
            elif name.endswith("dt_proj.bias"):  # softplus^-1 of 0.001 .. 0.1
                param.copy_(torch.from_numpy(-4.575 + 2.325 * _uniform(name, param.numel(), seed)))
            elif name.endswith(".bias"):
                param.zero_()
            else:
                fan_in = param.shape[-1] if param.dim() > 1 else 1
                std = 1.0 if leaf == "embed_tokens" else fan_in**-0.5
                if leaf in ("out_proj", "o_proj", "down_proj"):
                    std *= residual_scale
                values = _uniform(name, param.numel(), seed) * np.float32(std * 3**0.5)
                param.copy_(torch.from_numpy(values).view(param.shape))
        if used_vocab is not None and not config.tie_word_embeddings:
            fp32.lm_head.weight[used_vocab:] = 0
    if dtype == torch.float32 and not experts_int8 and device == "cpu":
        return fp32
    model = build_model(config, dtype, experts_int8, device)
    targets = weight_targets(model)
    for key, tensor in fp32.state_dict().items():
        if key in targets:
            targets[key][1](tensor)
    return model
