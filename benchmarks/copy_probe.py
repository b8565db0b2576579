"""The smallest retrieval test of the three ablation layouts: copy a 7-digit number from earlier in the context.

Each row is `BOS + "The number for {word} is: {7 digits}.\n" + 0..GAP bytes of RULER's noise sentence + "\n" +
"The number for {word} is: "`, and the loss is on the 7 digits and "." that follow (chance: 7 x ln 10 / 8 = 2.01
nats per answer byte). Solving it needs an induction-like lookup (find the earlier "is: ", copy what followed), the
mechanism the Jamba paper (arXiv 2403.19887 §6.3) found in the hybrid's attention layer and missing in pure Mamba.
It is a diagnostic of the architectures at a budget a laptop affords, separate from the demo recipe
(`jamba-eval train-demo`), whose RULER prompts spend ~450 bytes of template per answer.

Same init (`init_random`), optimizer and data (a pure function of the seed) for every layout; one thread by default.

    python benchmarks/copy_probe.py --layouts hybrid,mamba,attention --steps 600 -o benchmarks/results/copy_probe
    python benchmarks/copy_probe.py --layouts hybrid --set attn_layer_offset=7 ...   # attention last instead of 4
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from jamba_eval.model.presets import BYTE_VOCAB, TINY_SEED, init_random
from jamba_eval.ruler.haystack import NOISE_SENTENCE
from jamba_eval.tokenizer import ByteTokenizer
from jamba_eval.train.data import IGNORE
from jamba_eval.train.loop import model_config

WORDS = ("apple", "river", "stone", "cloud", "tiger", "lemon", "piano", "ocean", "maple", "eagle", "candle", "silver")
FILLER = (NOISE_SENTENCE + " ") * 4  # a row takes 0..gap bytes of it from a random offset
TOKENIZER = ByteTokenizer()


def batch(rng: random.Random, rows: int, gap: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, labels) for `rows` copy rows, right-padded; labels only on the answer."""
    made = []
    for _ in range(rows):
        word, value = rng.choice(WORDS), "".join(rng.choice("0123456789") for _ in range(7))
        start = rng.randrange(len(NOISE_SENTENCE))
        prompt = f"The number for {word} is: {value}.\n{FILLER[start : start + rng.randint(0, gap)]}\n"
        prompt += f"The number for {word} is: "
        answer = TOKENIZER.encode(f"{value}.")
        ids = [TOKENIZER.bos_token_id, *TOKENIZER.encode(prompt), *answer]
        labels = [IGNORE] * (len(ids) - len(answer) - 1) + answer + [IGNORE]
        made.append((ids, labels))
    width = max(len(ids) for ids, _ in made)
    ids = torch.tensor([i + [TOKENIZER.pad_token_id] * (width - len(i)) for i, _ in made])
    labels = torch.tensor([lab + [IGNORE] * (width - len(lab)) for _, lab in made])
    return ids, labels


def probe(
    layout: str, steps: int, rows: int, gap: int, lr: float, seed: int, every: int, overrides: dict | None = None
) -> list[dict]:
    model = init_random(model_config(layout, overrides), seed=TINY_SEED + seed, used_vocab=BYTE_VOCAB).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.01)
    rng, began, curve, window = random.Random(seed), time.perf_counter(), [], []
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / 30)
        ids, labels = batch(rng, rows, gap)
        logits = model(ids)
        loss = F.cross_entropy(logits.transpose(1, 2), labels, ignore_index=IGNORE)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        mask = labels != IGNORE
        window.append((loss.item(), (logits.argmax(-1)[mask] == labels[mask]).float().mean().item()))
        if (step + 1) % every == 0:
            point = {
                "step": step + 1,
                "loss": sum(x for x, _ in window) / len(window),
                "accuracy": sum(a for _, a in window) / len(window),
                "seconds": round(time.perf_counter() - began, 1),
            }
            curve.append(point)
            window = []
            print(
                f"{layout:9s} step {point['step']:5d}  loss {point['loss']:.3f}  accuracy {point['accuracy']:.2f}  "
                f"{point['seconds']:.0f} s",
                flush=True,
            )
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layouts", default="hybrid,mamba,attention")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--rows", type=int, default=32, help="rows per step")
    parser.add_argument("--gap", type=int, default=60, help="most noise bytes between the needle and the question")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--every", type=int, default=50, help="report the mean of every N steps")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--set", action="append", default=[], metavar="FIELD=INT", help="a JambaConfig field, e.g. attn_layer_offset=4"
    )
    parser.add_argument("-o", "--output", type=Path, help="folder for the results (one JSON file per layout)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"# copy_probe: {' '.join(sys.argv)}; torch {torch.__version__}, {args.threads} thread(s), "
        f"{platform.processor() or platform.machine()}; chance loss 2.01, accuracy ~0.1",
        flush=True,
    )
    overrides = {field: int(value) for field, value in (item.split("=", 1) for item in args.set)}
    for layout in args.layouts.split(","):
        curve = probe(layout, args.steps, args.rows, args.gap, args.lr, args.seed, args.every, overrides)
        if args.output:
            args.output.mkdir(parents=True, exist_ok=True)
            settings = {k: v for k, v in vars(args).items() if k not in ("output", "layouts")}
            record = {"layout": layout, "settings": settings, "torch": torch.__version__, "curve": curve}
            # one file per variant: hybrid.json, hybrid-attn_layer_offset7.json, ...
            name = layout + "".join(f"-{field}{value}" for field, value in overrides.items())
            (args.output / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
