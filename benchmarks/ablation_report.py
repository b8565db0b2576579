"""Turn the hybrid / pure-Mamba / pure-attention ablation's run directories into a markdown table and a plot.

Expects one folder per model under ROOT (written by `benchmarks/run_ablation.sh`):

    ROOT/<layout>/ruler/summary.json        jamba-eval run ruler
    ROOT/<layout>/ruler_long/summary.json   jamba-eval run ruler at longer lengths, fewer samples (optional)
    ROOT/<layout>/throughput/summary.json   jamba-eval bench throughput   (optional)
    ROOT/<layout>/memory/summary.json       jamba-eval bench memory       (optional)
    ROOT/<layout>/train/train_log.json      jamba-eval train-demo         (optional: steps, time, final loss)

Usage: python benchmarks/ablation_report.py runs/ablation -o benchmarks/results/ablation
Writes ablation.md (printed too) and ablation.png. Numbers are read, never computed from anything but these files.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

ORDER = ("hybrid", "mamba", "attention")
LABELS = {"hybrid": "hybrid (1 attn : 7 Mamba)", "mamba": "pure Mamba", "attention": "pure attention (no PE)"}


def read(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def length_label(n: int) -> str:
    return f"{n // 1024}K" if n % 1024 == 0 else str(n)


def merge_ruler(runs: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """RULER summaries of one model at disjoint lengths, as one (scores by task and length, mean by length)."""
    runs = [r for r in runs if r]
    if not runs:
        return None
    merged: dict[str, Any] = {"tasks": [], "lengths": [], "scores": {}, "by_length": {}, "samples": {}}
    for run in runs:
        merged["tasks"] += [t for t in run["tasks"] if t not in merged["tasks"]]
        merged["lengths"] += run["lengths"]
        merged["by_length"].update(run["by_length"])
        for task, cells in run["scores"].items():
            merged["scores"].setdefault(task, {}).update(cells)
        for n in run["lengths"]:
            merged["samples"][n] = run["samples_per_task"]
    return merged


def collect(root: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        entry = {
            "ruler": merge_ruler([read(folder / name / "summary.json") for name in ("ruler", "ruler_long")]),
            "throughput": read(folder / "throughput" / "summary.json"),
            "memory": read(folder / "memory" / "summary.json"),
            "train": read(folder / "train" / "train_log.json"),
        }
        if any(entry.values()):
            found[folder.name] = entry
    return dict(sorted(found.items(), key=lambda kv: ORDER.index(kv[0]) if kv[0] in ORDER else len(ORDER)))


def fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def ruler_tables(models: dict[str, dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    lengths = sorted({int(n) for m in models.values() if m["ruler"] for n in m["ruler"]["lengths"]})
    tasks = [t for m in models.values() if m["ruler"] for t in m["ruler"]["tasks"]]
    tasks = list(dict.fromkeys(tasks))
    lines += ["### RULER (mean over tasks; string_match_all, %)", ""]
    lines += ["| model | " + " | ".join(length_label(n) for n in lengths) + " |"]
    lines += ["|---|" + "---:|" * len(lengths)]
    for name, m in models.items():
        by_length = (m["ruler"] or {}).get("by_length", {})
        cells = [fmt(by_length.get(str(n), {}).get("score")) for n in lengths]
        lines.append(f"| {LABELS.get(name, name)} | " + " | ".join(cells) + " |")
    lines += ["", "### RULER per task (%; – = not run or the prompt does not fit that length)", ""]
    lines += ["| model | task | " + " | ".join(length_label(n) for n in lengths) + " |"]
    lines += ["|---|---|" + "---:|" * len(lengths)]
    for name, m in models.items():
        scores = (m["ruler"] or {}).get("scores", {})
        for task in tasks:
            if task in scores:
                cells = [fmt(scores[task].get(str(n), {}).get("score")) for n in lengths]
                lines.append(f"| {LABELS.get(name, name)} | {task} | " + " | ".join(cells) + " |")
    samples = {}
    for m in models.values():
        for n, count in (m["ruler"] or {}).get("samples", {}).items():
            samples.setdefault(count, set()).add(length_label(int(n)))
    described = "; ".join(
        f"{count} at {', '.join(sorted(ls, key=lambda x: int(x[:-1])))}" for count, ls in samples.items()
    )
    lines += ["", f"Samples per task and length: {described}.", ""]
    return lines


def efficiency_tables(models: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["### Efficiency (batch 1, float32, CPU)", ""]
    lines += [
        "| model | context | prefill tok/s | decode tok/s | resident MiB (memory run) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, m in models.items():
        speed = {row["length"]: row for row in (m["throughput"] or {}).get("table", []) if row.get("batch") == 1}
        memory = {row["length"]: row for row in (m["memory"] or {}).get("table", []) if row.get("batch") == 1}
        for n in sorted(set(speed) | set(memory)):
            s, r = speed.get(n, {}), memory.get(n, {})
            resident = r.get("resident_memory_bytes")
            lines.append(
                f"| {LABELS.get(name, name)} | {length_label(n)} | {fmt(s.get('prefill_tok_s'), 0)} | "
                f"{fmt(s.get('decode_tok_s'), 1)} | {fmt(None if resident is None else resident / 2**20)} |"
            )
    lines += ["", "Memory slope (bytes per context token, least squares over the measured lengths):", ""]
    lines += ["| model | measured while decoding (RSS) | analytic KV cache |", "|---|---:|---:|"]
    for name, m in models.items():
        for model in (m["memory"] or {}).get("models", []):
            slope = model.get("slopes", {}).get("1", {})
            lines.append(
                f"| {LABELS.get(name, name)} | {fmt(slope.get('resident_memory_bytes_per_token'), 0)} | "
                f"{fmt(model.get('analytic_kv_bytes_per_token'), 0)} |"
            )
    return [*lines, ""]


def training_seconds(log: list[dict[str, Any]]) -> float:
    """Wall time of all sessions: `seconds` restarts from zero when a run resumes from a checkpoint."""
    total, previous = 0.0, 0.0
    for entry in log:
        if entry["seconds"] < previous:
            total += previous
        previous = entry["seconds"]
    return total + previous


def training_table(models: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["### Training (same recipe and budget for every model)", ""]
    lines += ["| model | steps | tokens | wall time | loss (last 50 steps) | NIAH answer loss | text loss |"]
    lines += ["|---|---:|---:|---:|---:|---:|---:|"]
    for name, m in models.items():
        if not m["train"]:
            continue
        log, recipe = m["train"]["log"], m["train"]["recipe"]
        tail, last = log[-50:], log[-100:]
        niah = [v for e in last for k, v in e["by_task"].items() if k.startswith("niah")]
        text = [v for e in last for k, v in e["by_task"].items() if k == "lm"]
        lines.append(
            f"| {LABELS.get(name, name)} | {len(log)} | {len(log) * recipe['tokens_per_step']:,} | "
            f"{training_seconds(log) / 60:.1f} min | {sum(e['loss'] for e in tail) / len(tail):.3f} | "
            f"{fmt(sum(niah) / len(niah) if niah else None, 3)} | {fmt(sum(text) / len(text) if text else None, 3)} |"
        )
    lines += [
        "",
        "NIAH answer loss: nats per byte on the 7 digits + '.' + EOS of niah rows (chance on the digits alone is "
        "ln 10 = 2.30); text loss: nats per byte on State of the Union windows; both over the last 100 steps.",
        "",
    ]
    return lines


def plot(models: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for name, m in models.items():
        label = LABELS.get(name, name)
        if m["ruler"]:
            points = sorted(
                (int(n), v["score"]) for n, v in m["ruler"]["by_length"].items() if v.get("score") is not None
            )
            axes[0].plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
        speed = [r for r in (m["throughput"] or {}).get("table", []) if r.get("batch") == 1 and r.get("prefill_tok_s")]
        if speed:
            axes[1].plot([r["length"] for r in speed], [r["prefill_tok_s"] for r in speed], marker="o", label=label)
        memory = [
            r for r in (m["memory"] or {}).get("table", []) if r.get("batch") == 1 and r.get("resident_memory_bytes")
        ]
        if memory:
            base = memory[0]["baseline_bytes"]
            axes[2].plot(
                [r["length"] for r in memory],
                [(r["resident_memory_bytes"] - base) / 2**20 for r in memory],
                marker="o",
                label=label,
            )
    titles = ("RULER mean score (%)", "prefill tokens/s (batch 1)", "resident memory above baseline (MiB)")
    for ax, title in zip(axes, titles, strict=True):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("context length (tokens)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", type=Path, help="folder with one sub-folder per model")
    parser.add_argument("-o", "--output", type=Path, required=True, help="folder for ablation.md and ablation.png")
    args = parser.parse_args()
    models = collect(args.root)
    if not models:
        raise SystemExit(f"no run directories under {args.root}")
    args.output.mkdir(parents=True, exist_ok=True)
    text = "\n".join(
        [
            "## Ablation: hybrid vs pure Mamba vs pure attention",
            "",
            *training_table(models),
            *ruler_tables(models),
            *efficiency_tables(models),
        ]
    )
    (args.output / "ablation.md").write_text(text, encoding="utf-8")
    plot(models, args.output / "ablation.png")
    print(text)
    print(f"wrote {args.output / 'ablation.md'} and {args.output / 'ablation.png'}")


if __name__ == "__main__":
    main()
