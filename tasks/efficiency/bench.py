"""`jamba-eval bench throughput|memory`: measure runners against context length and batch size.

Points are measured by `worker.py` in separate processes. `memory` starts a fresh process per (model, length, batch)
point, so nothing a runner keeps between calls (preallocated caches, allocator pools) leaks into the next point, and
on Linux sets `MALLOC_MMAP_THRESHOLD_=65536` so that freed tensors go back to the OS at once and RSS follows live
memory (this costs CPU time in page faults: take timings from `throughput`). `throughput` loads each model once and
measures all its points in one process with the default allocator. Results go to a run directory
(`samples.jsonl`, one record per point, resumable; `models.jsonl`, what each model loaded as; `summary.json` with
the table, memory slopes and analytic curves; plots as PNG + SVG under `plots/`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jamba_eval import progress, provenance
from jamba_eval.config import ModelConfig, build_config, parse_lengths, to_dict
from jamba_eval.errors import ConfigError, UserError
from jamba_eval.fingerprint import weights_fingerprint
from jamba_eval.results import RunDir
from jamba_eval.tasks.efficiency.summary import render_table, summarize
from jamba_eval.tasks.efficiency.worker import MARK

log = logging.getLogger(__name__)

WHAT = ("throughput", "memory")
VOLATILE = ("lengths", "batch_sizes", "output_dir", "point_timeout_s", "plots")
MMAP_THRESHOLD = "65536"


@dataclasses.dataclass
class BenchConfig:
    """What to measure; `models` (YAML) compares several models in one run, `model` (CLI) measures one."""

    what: str = "throughput"
    model: ModelConfig | None = None
    models: list[ModelConfig] = dataclasses.field(default_factory=list)
    labels: list[str] = dataclasses.field(default_factory=list)  # legend names, one per model
    lengths: list[int] = dataclasses.field(
        default_factory=lambda: [1024, 4096, 16384], metadata={"parse": parse_lengths}
    )
    batch_sizes: list[int] = dataclasses.field(default_factory=lambda: [1])
    repeats: int = 3
    warmup: int = 1
    decode_tokens: int = 32
    seed: int = 0
    threads: int | None = None  # torch threads in the worker (default: torch's own choice)
    sample_interval_s: float = 0.005
    point_timeout_s: float = 3600.0
    output_dir: Path | None = None
    plots: bool = True

    def validate(self) -> None:
        if self.what not in WHAT:
            raise ConfigError(f"what: {self.what!r} is not one of {', '.join(WHAT)}")
        if self.model is not None and self.models:
            raise ConfigError("give either one model (--model) or a `models` list in the config, not both")
        if self.labels and len(self.labels) != len(self.model_configs()):
            raise ConfigError(f"labels: {len(self.labels)} given for {len(self.model_configs())} models")
        if len(set(self.labels)) != len(self.labels):
            raise ConfigError("labels must be different from each other")
        if not self.lengths or not self.batch_sizes:
            raise ConfigError("lengths and batch_sizes must not be empty")
        for name, value, least in (
            ("repeats", self.repeats, 1),
            ("warmup", self.warmup, 0),
            ("decode_tokens", self.decode_tokens, 1),
            *(("batch_sizes", b, 1) for b in self.batch_sizes),
        ):
            if value < least:
                raise ConfigError(f"{name} must be at least {least}, got {value}")
        if self.sample_interval_s <= 0 or self.point_timeout_s <= 0:
            raise ConfigError("sample_interval_s and point_timeout_s must be positive")

    def model_configs(self) -> list[ModelConfig]:
        return list(self.models) or [self.model or ModelConfig()]

    def labelled_models(self) -> list[tuple[str, ModelConfig]]:
        models = self.model_configs()
        if self.labels:
            return list(zip(self.labels, models, strict=True))
        labels: list[str] = []
        for m in models:
            base = Path(m.model.rstrip("/")).name or m.model
            label, n = base, 2
            while label in labels:
                label, n = f"{base}-{n}", n + 1
            labels.append(label)
        return list(zip(labels, models, strict=True))


def point_id(label: str, length: int, batch: int) -> str:
    return f"{label}/L{length}/B{batch}"


def default_output_dir(config: BenchConfig) -> Path:
    names = "+".join(label for label, _ in config.labelled_models())
    return Path("runs") / re.sub(r"[^A-Za-z0-9._+-]+", "_", f"bench-{config.what}-{names}")[:100]


def cli_bench(config_path: Path | None, overrides: dict[str, Any]) -> dict[str, Any]:
    """Entry point of `jamba-eval bench`: resolve the config, run, print the table."""
    import typer

    config = build_config(BenchConfig, config_path, overrides)
    summary = run_bench(config)
    typer.echo(render_table(summary))
    typer.echo(f"run directory: {summary['run_dir']}")
    if summary["failures"]:
        raise UserError(
            f"{len(summary['failures'])} point(s) failed (first: {summary['failures'][0]['error']}); "
            f"see {summary['run_dir']}/worker.log, then run the same command again to retry them"
        )
    return summary


def run_bench(config: BenchConfig) -> dict[str, Any]:
    """Measure every missing point, then write the summary and plots; returns the summary."""
    config.validate()
    models = config.labelled_models()
    out = Path(config.output_dir or default_output_dir(config))
    failures: list[dict[str, Any]] = []
    stored = {**to_dict(config), "weights": {label: weights_fingerprint(m) for label, m in models}}
    with RunDir.open(out, "bench", stored, provenance.collect({"seed": config.seed}), volatile=VOLATILE) as run:
        samples, model_log = run.samples(), run.samples("models", key="label")
        points = [(label, m, L, B) for label, m in models for B in config.batch_sizes for L in config.lengths]
        pending = [p for p in points if point_id(p[0], p[2], p[3]) not in samples]
        if run.resumed:
            log.info("%s: %d of %d points already measured", out, len(points) - len(pending), len(points))
        with progress.progress_bar(len(pending), f"bench {config.what}") as bar:
            for label, model in models:
                mine = [p for p in pending if p[0] == label]
                groups = [[p] for p in mine] if config.what == "memory" else ([mine] if mine else [])
                for group in groups:
                    failures += _measure(config, run, samples, model_log, label, model, group, bar)
        summary = summarize(config, models, list(samples.records()), {r["label"]: r for r in model_log.records()})
        summary["run_dir"] = str(out)
        summary["failures"] = failures
        if config.plots:
            from jamba_eval.tasks.efficiency.plots import plot_all

            summary["plots"] = [str(p.relative_to(out)) for p in plot_all(summary, out / "plots")]
        run.write_summary(summary)
        run.set_status("failed" if failures else "complete", **({"error": failures[0]["error"]} if failures else {}))
    return summary


def _measure(config, run, samples, model_log, label, model, group, bar) -> list[dict[str, Any]]:
    job = {
        "model": dataclasses.asdict(model),
        "points": [{"id": point_id(label, L, B), "length": L, "batch": B} for _, _, L, B in group],
        "repeats": config.repeats,
        "warmup": config.warmup,
        "decode_tokens": config.decode_tokens,
        "seed": config.seed,
        "threads": config.threads,
        "sample_interval_s": config.sample_interval_s,
    }
    by_id = {p["id"]: p for p in job["points"]}
    env = dict(os.environ)
    if config.what == "memory" and sys.platform.startswith("linux"):
        env.setdefault("MALLOC_MMAP_THRESHOLD_", MMAP_THRESHOLD)
    loaded: dict[str, Any] = {}
    failures = []
    for event in _run_worker(job, env, run.path / "worker.log", config.point_timeout_s * len(group)):
        kind = event.get("event")
        if kind == "loaded":
            loaded = event
            if label not in model_log:
                model_log.append({"label": label, **dataclasses.asdict(model), **_drop(event, "event")})
        elif kind == "point":
            point = by_id.pop(event["id"])
            keys = ("baseline_bytes", "load_time_s", "memory_kind", "peak_method", "weights_dtype", "pid")
            load = {k: loaded.get(k) for k in keys}
            load["malloc_mmap_threshold"] = loaded.get("malloc_mmap_threshold")
            samples.append(
                {
                    "id": event["id"],
                    "model": label,
                    "length": point["length"],
                    "batch": point["batch"],
                    "what": config.what,
                    **_drop(event, "event", "id"),
                    "load": load,
                }
            )
            bar.advance()
        elif kind == "error":
            failures.append({"id": event["id"], "error": event["error"]})
            by_id.pop(event["id"], None)
            log.warning("%s failed: %s", event["id"], event["error"])
            bar.advance()
        elif kind == "exit":
            reason = event["reason"]
            for pid in list(by_id):
                failures.append({"id": pid, "error": reason})
                log.warning("%s failed: %s", pid, reason)
                bar.advance()
            by_id.clear()
    return failures


def _drop(mapping: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k not in keys}


def _run_worker(job: dict[str, Any], env: dict[str, str], log_path: Path, timeout: float) -> Iterator[dict[str, Any]]:
    """Start a worker, yield its events as they arrive; a non-zero exit or a timeout ends with an `exit` event."""
    command = [sys.executable, "-m", "jamba_eval.tasks.efficiency.worker"]
    timed_out = threading.Event()
    with open(log_path, "ab") as log_file:
        log_file.write(f"--- {job['model']['model']}: {[p['id'] for p in job['points']]}\n".encode())
        log_file.flush()
        proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log_file, env=env, text=True
        )

        def kill() -> None:
            timed_out.set()
            proc.kill()

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(json.dumps(job))
            proc.stdin.close()
            for line in proc.stdout:
                if line.startswith(MARK):
                    yield json.loads(line[len(MARK) :])
            returncode = proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if timed_out.is_set():
        yield {"event": "exit", "reason": f"worker timed out after {timeout:.0f} s (point_timeout_s)"}
    elif returncode != 0:
        hint = " (killed: out of memory?)" if returncode in (-9, 137) else ""
        yield {"event": "exit", "reason": f"worker exited with code {returncode}{hint}: {_tail(log_path)}"}


def _tail(path: Path, lines: int = 1) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])[-300:]


__all__ = ["BenchConfig", "cli_bench", "run_bench"]
