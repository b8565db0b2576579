"""Published model configs as data, each with its source, and the papers' KV-cache tables to check against.

Only the keys the calculator reads are kept (Hugging Face `config.json` names). Sources: the Hugging Face hub
`config.json` of each model (read through mirrors where the gated original was not reachable) and
`/shared/reference/jamba_model.md` §1 and §5.3. Jamba-1.5-Large's hub config was not available: its values are
derived from the paper (9 blocks of 8 layers, hidden 8192, 64/8 heads, 16 experts top-2) with intermediate size
24576, the only common size that gives the published 398B total / 94B active parameters.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from jamba_eval.errors import UserError

_JAMBA_V01 = {
    "model_type": "jamba",
    "vocab_size": 65536,
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "attn_layer_period": 8,
    "attn_layer_offset": 4,
    "expert_layer_period": 2,
    "expert_layer_offset": 1,
    "num_experts": 16,
    "num_experts_per_tok": 2,
    "mamba_d_state": 16,
    "mamba_d_conv": 4,
    "mamba_expand": 2,
    "mamba_dt_rank": 256,
    "mamba_conv_bias": True,
    "mamba_proj_bias": False,
    "tie_word_embeddings": False,
    "max_position_embeddings": 262144,
}


def _llama(layers: int, hidden: int, heads: int, kv: int, inter: int, vocab: int, max_pos: int, **extra: Any):
    return {
        "model_type": extra.pop("model_type", "llama"),
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": inter,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv,
        "head_dim": hidden // heads,
        "tie_word_embeddings": False,
        "max_position_embeddings": max_pos,
        **extra,
    }


@dataclasses.dataclass(frozen=True)
class Preset:
    name: str
    description: str
    source: str
    config: dict[str, Any]


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset(
            "jamba-v0.1",
            "Jamba-v0.1 base, 52B total / 12B active, 1:7 attention:Mamba, 16 experts top-2",
            "hub ai21labs/Jamba-v0.1 config.json (main, May 2024)",
            _JAMBA_V01,
        ),
        Preset(
            "jamba-1.5-mini",
            "Jamba-1.5-Mini, same architecture as Jamba-v0.1 (52B / 12B active)",
            "hub ai21labs/AI21-Jamba-1.5-Mini config.json (vendored copy); paper arXiv 2408.12570",
            _JAMBA_V01,
        ),
        Preset(
            "jamba-1.5-large",
            "Jamba-1.5-Large, 398B total / 94B active, 72 layers (9 attention), hidden 8192",
            "derived from arXiv 2408.12570 §2 (hub config not available; intermediate 24576 fits 398B/94B)",
            {
                **_JAMBA_V01,
                "hidden_size": 8192,
                "intermediate_size": 24576,
                "num_hidden_layers": 72,
                "num_attention_heads": 64,
                "num_key_value_heads": 8,
                "mamba_dt_rank": 512,
            },
        ),
        Preset(
            "mixtral-8x7b",
            "Mixtral-8x7B, 46.7B total / 12.9B active, 8 experts top-2",
            "hub mistralai/Mixtral-8x7B-v0.1 config.json",
            _llama(
                32, 4096, 32, 8, 14336, 32000, 32768, model_type="mixtral", num_local_experts=8, num_experts_per_tok=2
            ),
        ),
        Preset(
            "mixtral-8x22b",
            "Mixtral-8x22B, 141B total / 39B active, 8 experts top-2",
            "hub mistralai/Mixtral-8x22B-v0.1 config.json",
            _llama(
                56, 6144, 48, 8, 16384, 32000, 65536, model_type="mixtral", num_local_experts=8, num_experts_per_tok=2
            ),
        ),
        Preset(
            "mistral-7b",
            "Mistral-7B-v0.1 (sliding window 4096 ignored, as in the Jamba paper's Table 1)",
            "hub mistralai/Mistral-7B-v0.1 config.json",
            _llama(32, 4096, 32, 8, 14336, 32000, 32768, model_type="mistral", sliding_window=4096),
        ),
        Preset(
            "llama-2-7b",
            "Llama-2-7B (6.7B), multi-head attention (32 KV heads)",
            "hub meta-llama/Llama-2-7b-hf config.json",
            _llama(32, 4096, 32, 32, 11008, 32000, 4096),
        ),
        Preset(
            "llama-2-70b",
            "Llama-2-70B, grouped-query attention (8 KV heads)",
            "hub meta-llama/Llama-2-70b-hf config.json",
            _llama(80, 8192, 64, 8, 28672, 32000, 4096),
        ),
        Preset(
            "llama-3.1-8b",
            "Llama-3.1-8B, 128K context",
            "hub meta-llama/Llama-3.1-8B config.json",
            _llama(32, 4096, 32, 8, 14336, 128256, 131072),
        ),
        Preset(
            "llama-3.1-70b",
            "Llama-3.1-70B, 128K context",
            "hub meta-llama/Llama-3.1-70B config.json",
            _llama(80, 8192, 64, 8, 28672, 128256, 131072),
        ),
        Preset(
            "llama-3.1-405b",
            "Llama-3.1-405B as first released (16 KV heads; Meta later re-released it with 8, halving the KV cache)",
            "hub meta-llama/Meta-Llama-3.1-405B config.json of July 2024 (mirror migtissera/Meta-Llama-3.1-405B); "
            "later revisions set num_key_value_heads 8",
            _llama(126, 16384, 128, 16, 53248, 128256, 131072),
        ),
        Preset(
            "mistral-large-2",
            "Mistral-Large-2 (123B), 128K context",
            "hub mistralai/Mistral-Large-Instruct-2407/2411 config.json (head_dim 128)",
            _llama(88, 12288, 96, 8, 28672, 32768, 131072, model_type="mistral"),
        ),
    ]
}


def preset_config(name: str) -> dict[str, Any]:
    """The HF-style config dict of a preset (a copy), or a UserError listing the presets."""
    try:
        return dict(PRESETS[name.strip().lower()].config)
    except KeyError:
        raise UserError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}") from None


# The papers' Table 1 ("KV cache at 256K context, 16-bit"): (preset, GB as printed, paper). The papers' "GB" are GiB.
PAPER_KV_TABLE: list[tuple[str, float, str]] = [
    ("llama-2-7b", 128, "Jamba (arXiv 2403.19887) Table 1"),
    ("mistral-7b", 32, "Jamba (arXiv 2403.19887) Table 1"),
    ("mixtral-8x7b", 32, "Jamba (arXiv 2403.19887) Table 1"),
    ("jamba-v0.1", 4, "Jamba (arXiv 2403.19887) Table 1"),
    ("llama-3.1-8b", 32, "Jamba-1.5 (arXiv 2408.12570) Table 1"),
    ("jamba-1.5-mini", 4, "Jamba-1.5 (arXiv 2408.12570) Table 1"),
    ("llama-3.1-70b", 80, "Jamba-1.5 (arXiv 2408.12570) Table 1"),
    ("mistral-large-2", 88, "Jamba-1.5 (arXiv 2408.12570) Table 1"),
    ("llama-3.1-405b", 252, "Jamba-1.5 (arXiv 2408.12570) Table 1, as quoted by a table-citing summary"),
    ("jamba-1.5-large", 9, "Jamba-1.5 (arXiv 2408.12570) Table 1"),
]

# Published parameter counts (billions): (preset, total, active).
PUBLISHED_PARAMS: list[tuple[str, float, float]] = [
    ("jamba-v0.1", 52, 12),
    ("jamba-1.5-large", 398, 94),
    ("mixtral-8x7b", 46.7, 12.9),
    ("mixtral-8x22b", 141, 39),
    ("llama-2-7b", 6.7, 6.7),
    ("llama-2-70b", 69, 69),
    ("mistral-7b", 7.2, 7.2),
    ("mistral-large-2", 123, 123),
]
