"""Train a small Jamba (our own model, byte tokenizer) on the demo recipe: deterministic, resumable, CPU-friendly.

The recipe (`TrainConfig`): AdamW with linear warm-up and cosine decay, gradient clipping, a length curriculum
that doubles the sequence length in equal stages from `min_length` to `max_length` while keeping the tokens per
step constant (batch = tokens_per_step // length), and the mixture of `jamba_eval.train.data`. The loss is the
mean over rows of each row's mean next-token loss on its answer (answer bytes and EOS for retrieval rows; every
token for text rows), so a short answer weighs as much as a text row, plus `question_weight` times its mean on the
question and answer prefix and `prompt_weight` times its mean on the context (the haystack with the needles).

Determinism: the initial weights come from `init_random` (an integer hash, identical everywhere), batches are pure
functions of (seed, step), and nothing else draws random numbers. With one thread the same config gives the same
weights bit for bit on the same machine and torch build (checked by the tests on a few steps).

Checkpoints (`output_dir/checkpoint/`: model + optimizer state as safetensors, `state.json`) are written every
`checkpoint_every` steps; a rerun with the same config resumes from the last one. The final model is written to
`output_dir/model/` (config.json + model.safetensors), loadable by `jamba-eval ... --model output_dir/model`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from jamba_eval import progress
from jamba_eval.errors import UserError
from jamba_eval.model.config import JambaConfig
from jamba_eval.model.jamba import JambaForCausalLM
from jamba_eval.model.loading import load_weights, save_checkpoint
from jamba_eval.model.presets import BYTE_VOCAB, TINY_SEED, init_random, preset_config
from jamba_eval.train.data import ANSWER, IGNORE, TrainData

logger = logging.getLogger(__name__)

LAYOUTS = ("hybrid", "mamba", "attention")


@dataclasses.dataclass
class TrainConfig:
    output_dir: Path
    layout: str = "hybrid"  # hybrid (1 attention : 7 Mamba), mamba (no attention), attention (no Mamba)
    seed: int = 0
    steps: int = 3000
    tokens_per_step: int = 2048
    min_length: int = 256  # drill rows and text only; the RULER prompts join where they fit (niah from ~640 tokens)
    max_length: int = 2048  # variable tracking joins at the last stage
    lr: float = 3e-3
    warmup: int = 50
    weight_decay: float = 0.01
    clip: float = 1.0
    question_weight: float = 0.2  # weight of the question and answer prefix (the answer's weight is 1)
    prompt_weight: float = 0.1  # weight of the context's next-token loss in retrieval rows
    checkpoint_every: int = 100
    threads: int | None = 1
    config_overrides: dict[str, Any] = dataclasses.field(default_factory=dict)  # JambaConfig fields (smoke tests)

    def __post_init__(self) -> None:
        self.output_dir = Path(self.output_dir)
        if self.layout not in LAYOUTS:
            raise UserError(f"unknown --layout {self.layout!r}; choose one of: {', '.join(LAYOUTS)}")
        if not 16 <= self.min_length <= self.max_length:
            raise UserError(f"need 16 <= min_length ({self.min_length}) <= max_length ({self.max_length})")
        if self.steps < 1 or self.tokens_per_step < self.max_length:
            raise UserError("need steps >= 1 and tokens_per_step >= max_length")

    def recipe(self) -> dict[str, Any]:
        """Everything that changes the weights (a resumed run must match it)."""
        data = dataclasses.asdict(self)
        for key in ("output_dir", "checkpoint_every", "threads"):
            data.pop(key)
        return data

    def length_at(self, step: int) -> int:
        """Curriculum: min_length doubled in equal stages up to max_length."""
        stages = int(math.log2(self.max_length // self.min_length)) + 1
        stage = min(stages - 1, step * stages // self.steps)
        return min(self.max_length, self.min_length << stage)

    def lr_at(self, step: int) -> float:
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        progress_ = (step - self.warmup) / max(1, self.steps - self.warmup)
        return self.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress_)))


def model_config(layout: str, overrides: dict[str, Any] | None = None) -> JambaConfig:
    """The jamba-tiny architecture with one of three mixer layouts of near-equal size (Jamba paper §6.1 ablation).

    hybrid: attention at layer 4 of 0..7 (the preset, as in Jamba). mamba: attention period 9 > 8 layers, so no
    attention layer.
    attention: every layer attention with 6 query heads of 32 and the hybrid's single KV head (a Mamba mixer of
    this width has 29.6K weights, this attention mixer 28.7K; KV bytes per layer equal the hybrid's, so the KV
    cache grows exactly 8x faster), no positional encoding anywhere. Totals: 2.03M / 2.05M / 2.03M weights.
    """
    config = preset_config("jamba-tiny")
    if layout == "mamba":
        config = dataclasses.replace(config, attn_layer_period=config.num_hidden_layers + 1)
        config.attn_layer_offset = config.num_hidden_layers
    elif layout == "attention":
        config = dataclasses.replace(
            config, attn_layer_period=1, attn_layer_offset=0, num_attention_heads=6, num_key_value_heads=1, head_dim=32
        )
    config = dataclasses.replace(config, **(overrides or {}))
    config.validate()
    return config


def row_mean_loss(
    logits: torch.Tensor, labels: torch.Tensor, kinds: torch.Tensor, question_weight: float, prompt_weight: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, per-row answer losses [b]). A row's loss is its mean loss on the answer (kinds == ANSWER; every
    labelled main position of a row without one, such as text) + question_weight x its mean on the other main
    positions (the question and answer prefix) + prompt_weight x its mean on the context; rows are averaged.
    Weighting the answer alone at 1 matters: with the question in the same mean, the ~10 answer bytes got an
    eighth of a retrieval row's gradient and a tiny model never left chance on them."""
    token = F.cross_entropy(logits.float().transpose(1, 2), labels, ignore_index=IGNORE, reduction="none")  # [b, T]
    main, context = kinds > 0, (labels != IGNORE) & (kinds == 0)  # [b, T]
    answer = torch.where((kinds == ANSWER).any(dim=1, keepdim=True), kinds == ANSWER, main)  # [b, T]
    mean = lambda mask: (token * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)  # noqa: E731  [b]
    rows = mean(answer) + question_weight * mean(main & ~answer) + prompt_weight * mean(context)
    return rows.mean(), mean(answer).detach()


def train(config: TrainConfig) -> Path:
    """Run (or resume) training; returns the directory of the final model."""
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)  # nothing should draw from it; set so that nothing silently differs
    model_cfg = model_config(config.layout, config.config_overrides)
    model = init_random(model_cfg, seed=TINY_SEED + config.seed, used_vocab=BYTE_VOCAB).train()
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, betas=(0.9, 0.95), weight_decay=config.weight_decay, foreach=False
    )
    data = TrainData(config.seed)
    out = config.output_dir
    checkpoint = out / "checkpoint"
    start, log = _resume(checkpoint, config, model, optimizer)
    logger.info(
        "training %s (%s, %.2fM parameters) for %d steps from step %d",
        config.layout,
        model_cfg.layout(),
        model_cfg.num_parameters() / 1e6,
        config.steps,
        start,
    )
    out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    with progress.progress_bar(config.steps, f"train {config.layout}") as bar:
        bar.advance(start)
        for step in range(start, config.steps):
            length = config.length_at(step)
            ids, labels, answer, tasks = data.batch(step, max(1, config.tokens_per_step // length), length)
            loss, rows = row_mean_loss(model(ids), labels, answer, config.question_weight, config.prompt_weight)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
            for group in optimizer.param_groups:
                group["lr"] = config.lr_at(step)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            entry = {"step": step, "length": length, "loss": loss.item(), "seconds": time.perf_counter() - began}
            entry["by_task"] = _by_task(tasks, rows)
            log.append(entry)
            bar.advance()
            bar.describe(f"train {config.layout} L={length} loss={loss.item():.3f}")
            if (step + 1) % config.checkpoint_every == 0 or step + 1 == config.steps:
                _save(checkpoint, config, model, optimizer, step + 1, log)
    final = save_checkpoint(model.eval(), out / "model")
    (out / "train_log.json").write_text(json.dumps({"recipe": _jsonable(config.recipe()), "log": log}) + "\n")
    logger.info("wrote %s after %d steps", final, config.steps)
    return final


def _by_task(tasks: list[str], rows: torch.Tensor) -> dict[str, float]:
    sums: dict[str, list[float]] = {}
    for task, value in zip(tasks, rows.tolist(), strict=True):
        sums.setdefault(task, []).append(value)
    return {task: sum(v) / len(v) for task, v in sorted(sums.items())}


def _jsonable(recipe: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(recipe, default=str))


def _save(
    directory: Path, config: TrainConfig, model: JambaForCausalLM, optimizer: torch.optim.Optimizer, step: int, log
) -> None:
    from safetensors.torch import save_file

    save_checkpoint(model, directory)
    params = list(model.parameters())
    state = {}
    for i, param in enumerate(params):
        for key, value in optimizer.state.get(param, {}).items():
            state[f"{i}.{key}"] = value.detach().contiguous()
    save_file(state, str(directory / "optimizer.safetensors"))
    (directory / "state.json").write_text(
        json.dumps({"step": step, "recipe": _jsonable(config.recipe()), "log": log}) + "\n", encoding="utf-8"
    )


def _resume(
    directory: Path, config: TrainConfig, model: JambaForCausalLM, optimizer: torch.optim.Optimizer
) -> tuple[int, list[dict[str, Any]]]:
    state_file = directory / "state.json"
    if not state_file.is_file():
        return 0, []
    from safetensors.torch import load_file

    state = json.loads(state_file.read_text(encoding="utf-8"))
    if state["recipe"] != _jsonable(config.recipe()):
        raise UserError(f"{directory} was written by a different recipe; use another --output-dir")
    load_weights(model, directory)
    saved = load_file(str(directory / "optimizer.safetensors"))
    for i, param in enumerate(model.parameters()):
        entries = {key.split(".", 1)[1]: value for key, value in saved.items() if key.split(".", 1)[0] == str(i)}
        if entries:
            optimizer.state[param] = entries
    logger.info("resuming %s at step %d", directory, state["step"])
    return state["step"], state["log"]
