"""`jamba-eval train-demo`: train a demo model with the recipe of `jamba_eval.train.loop` and print a summary."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from jamba_eval.train.loop import TrainConfig, train


def cli_main(output_dir: Path, export: Path | None = None, **options: Any) -> None:
    """Train (resuming from `output_dir` when it holds a checkpoint of the same recipe); with `export`, copy the
    final model's config.json and model.safetensors there (e.g. `jamba_eval/assets/jamba-tiny`)."""
    given = {key: value for key, value in options.items() if value is not None}
    config = TrainConfig(output_dir=output_dir, **given)
    final = train(config)
    log = json.loads((config.output_dir / "train_log.json").read_text(encoding="utf-8"))["log"]
    tail = log[-50:]
    print(f"trained {config.layout} for {config.steps} steps ({log[-1]['seconds']:.0f} s in this session)")
    print(f"final loss (mean of the last {len(tail)} steps): {sum(e['loss'] for e in tail) / len(tail):.4f}")
    print(f"model: {final}")
    if export is not None:
        export = Path(export)
        export.mkdir(parents=True, exist_ok=True)
        for name in ("config.json", "model.safetensors"):
            shutil.copyfile(final / name, export / name)
        print(f"exported to {export}")
