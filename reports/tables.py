"""Academic, Arena-Hard and bench run directories -> the rows their pages show (RULER has `ruler_tables`)."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from jamba_eval.reports.runs import ModelRef, Run

log = logging.getLogger(__name__)

ARENA_EXAMPLES = 12  # questions shown with both answers and the judge's verdicts
MAX_TEXT = 4000  # characters of an answer or judge reply shown (the raw JSONL has all of it)


def clip(text: Any, limit: int = MAX_TEXT) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[:limit] + f"… [{len(text) - limit} more characters in the raw file]"


def _records(run: Run, name: str, key: str = "id") -> list[dict[str, Any]]:
    from jamba_eval.results import SampleLog

    path = run.path / f"{name}.jsonl"
    return list(SampleLog(path, key=key, readonly=True).records()) if path.exists() else []


# ------------------------------------------------------------------------------------------------- academic


@dataclasses.dataclass
class AcademicView:
    run: Run
    model: ModelRef
    suite: str | None
    source: str | None
    rows: list[dict[str, Any]]
    published_models: list[str]


def academic_view(run: Run) -> AcademicView:
    s = run.summary
    done = {r["id"]: r for r in _records(run, "tasks")}
    raw = s.get("lm_eval_results") or {}
    rows = []
    for row in s["tasks"]:
        n = (done.get(row["entry"]) or {}).get("n_samples") or {}
        counts = [v.get("effective", v.get("original")) for v in n.values() if isinstance(v, dict)]
        rows.append(
            {
                **row,
                "n": sum(c for c in counts if isinstance(c, int)) if counts else None,
                "raw": raw.get(row["entry"]),
                "published": {
                    m: (v, bool((row.get("verified") or {}).get(m))) for m, v in (row.get("published") or {}).items()
                },
            }
        )
    models = list(s.get("published_models") or [])
    for row in rows:
        models += [m for m in row["published"] if m not in models]
    return AcademicView(run, run.models()[0], s.get("suite"), s.get("source"), rows, models)


# --------------------------------------------------------------------------------------------------- arena


@dataclasses.dataclass
class ArenaView:
    run: Run
    model: ModelRef
    name: str  # the model's name on the leaderboard
    summary: dict[str, Any]
    rows: list[dict[str, Any]]
    examples: list[dict[str, Any]]

    @property
    def comparable(self) -> tuple:
        identity = self.run.config.get("identity") or {}
        return (self.summary.get("baseline"), self.summary.get("judge"), identity.get("judge_prompt_sha256"))

    @property
    def anchor(self) -> str:
        return f"arena-{self.run.slug}"


def outcome(verdict: str, game: int) -> str:
    """A verdict in words: game 1 shows the baseline as A, game 2 shows the model as A."""
    if not verdict:
        return "no verdict"
    if "=" in verdict:
        return "tie"
    better = verdict[0]
    strength = "much better" if ">>" in verdict else "better"
    model_is = "A" if game == 2 else "B"
    return f"model {strength}" if better == model_is else f"baseline {strength}"


def arena_view(run: Run, examples: int = ARENA_EXAMPLES) -> ArenaView:
    s = run.summary
    rows = []
    for row in s["leaderboard"]:
        score, lower, upper = row.get("score"), row.get("lower"), row.get("upper")
        ci = f"+{upper - score:.1f} / -{score - lower:.1f}" if None not in (score, lower, upper) else ""
        rows.append({**row, "ci": ci, "baseline": row["model"] == s.get("baseline")})
    name = str(s.get("model") or run.models()[0].label)
    answers = {(r.get("model"), r.get("question_id")): r for r in _records(run, "answers")}
    judgments: dict[str, list[dict[str, Any]]] = {}
    for r in _records(run, "samples"):
        if r.get("model") == name:
            judgments.setdefault(str(r.get("question_id")), []).append(r)
    shown = []
    for qid in list(judgments)[:examples]:
        games = sorted(judgments[qid], key=lambda r: int(r.get("game", 0)))
        shown.append(
            {
                "question_id": qid,
                "answer": clip((answers.get((name, qid)) or {}).get("answer")),
                "baseline_answer": clip((answers.get((s.get("baseline"), qid)) or {}).get("answer")),
                "games": [
                    {
                        "game": g.get("game"),
                        "verdict": g.get("verdict") or "unparsable",
                        "outcome": outcome(g.get("verdict") or "", int(g.get("game", 1))),
                        "status": g.get("status"),
                        "reply": clip((g.get("replies") or [""])[-1], 1500),
                    }
                    for g in games
                ],
            }
        )
    return ArenaView(run, run.models()[0], name, s, rows, shown)


# --------------------------------------------------------------------------------------------------- bench


@dataclasses.dataclass
class BenchView:
    run: Run
    summary: dict[str, Any]
    rows: list[dict[str, Any]]
    models: list[dict[str, Any]]
    failures: list[dict[str, Any]]
    plots: list[str] = dataclasses.field(default_factory=list)  # stems under plots/<slug>/

    @property
    def anchor(self) -> str:
        return f"bench-{self.run.slug}"


def bench_view(run: Run) -> BenchView:
    s = run.summary
    rows = [dict(r) for r in s["table"]]
    return BenchView(run, s, rows, list(s.get("models") or []), list(s.get("failures") or []))


def throughput_at(views: list[BenchView], label: str, length: int = 131072) -> dict[str, Any] | None:
    """Prefill and decode tokens/s of model `label` at `length`, batch 1, from the newest throughput run."""
    for view in sorted(views, key=lambda v: v.run.updated, reverse=True):
        if view.summary.get("what") != "throughput":
            continue
        for row in view.rows:
            point = (row.get("model"), row.get("length"), row.get("batch"), row.get("status"))
            if point == (label, length, 1, "ok"):
                return {"prefill": row.get("prefill_tok_s"), "decode": row.get("decode_tok_s"), "run": view}
    return None


def bench_model_configs(run: Run) -> dict[str, dict[str, Any]]:
    """label -> the Hugging Face config the bench worker loaded (models.jsonl), where recorded."""
    configs = {}
    for record in _records(run, "models", key="label"):
        if isinstance(record.get("model_config"), dict):
            configs[str(record["label"])] = record["model_config"]
    return configs
