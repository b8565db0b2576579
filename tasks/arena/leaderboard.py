"""Stored answers and judgments -> the leaderboard in summary.json, and its printed table.

Columns as on Arena-Hard's board (score, 95% CI, average answer tokens) plus what a user needs to trust a row:
battles, unparsable verdicts, and a rank that ties when CIs overlap (LMArena's "Rank (UB)": 1 + the number of
models whose lower bound is above this model's upper bound).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from jamba_eval.tasks.arena.scoring import fit_arena
from jamba_eval.tasks.arena.style import STYLE_FEATURES, style_features

METHOD = (
    "Arena-Hard v0.1: two games per question with positions swapped; strong verdicts count 3x; Bradley-Terry "
    "(Elo scale, 400 / base 10) with the baseline pinned at 1000; score = predicted win rate vs the baseline; "
    "95% CI = 2.5/97.5 percentiles over bootstrap rounds of the battles"
)


def judgments_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    rows = [
        (r["model"], r["question_id"], int(r["game"]), r.get("verdict") or "", r.get("status", "")) for r in records
    ]
    return pd.DataFrame(rows, columns=["model", "question_id", "game", "verdict", "status"])


def answers_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per answer: model, question_id, tokens (None when unknown) and the style features."""
    rows = [
        {"model": r["model"], "question_id": r["question_id"], "tokens": r.get("tokens"), **style_features(r["answer"])}
        for r in records
    ]
    return pd.DataFrame(rows, columns=["model", "question_id", "tokens", *STYLE_FEATURES])


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def overlap_ranks(lower: np.ndarray, upper: np.ndarray) -> list[int | None]:
    """1 + the number of models whose lower CI bound is above this model's upper bound (ties share a rank)."""
    ranks: list[int | None] = []
    for up in upper:
        ranks.append(None if not math.isfinite(up) else 1 + int(np.sum(np.nan_to_num(lower, nan=-np.inf) > up)))
    return ranks


def build_leaderboard(
    judgments: pd.DataFrame,
    answers: pd.DataFrame,
    baseline: str,
    judge: str,
    rounds: int,
    seed: int,
    style_control: bool,
) -> dict[str, Any]:
    """The summary of an arena run (or of several, rescored together)."""
    fit = fit_arena(judgments, baseline, rounds, seed, style_control, answers if style_control else None)
    scores = fit.scores
    ranks = dict(zip(scores.index, overlap_ranks(scores["lower"].to_numpy(), scores["upper"].to_numpy()), strict=True))
    rows = []
    for model, score in fit.scores.iterrows():
        mine = judgments[judgments["model"] == model]
        tokens = pd.to_numeric(answers.loc[answers["model"] == model, "tokens"], errors="coerce").dropna()
        verdicts = mine["verdict"].replace("", "unparsable").value_counts()
        rows.append(
            {
                "model": model,
                "score": _finite(score["score"]),
                "lower": _finite(score["lower"]),
                "upper": _finite(score["upper"]),
                "rating": _finite(fit.ratings.loc[model, "rating"]),
                "rank": ranks[model],
                "avg_tokens": int(tokens.mean()) if len(tokens) else None,
                "questions": int(mine["question_id"].nunique()) if model != baseline else None,
                "games": len(mine) if model != baseline else None,
                "battles": int(fit.battles.get(model, 0)),
                "unparsable": int((mine["verdict"] == "").sum()) if model != baseline else None,
                "verdicts": {k: int(v) for k, v in verdicts.items()} if model != baseline else None,
            }
        )
    summary = {
        "task": "arena",
        "baseline": baseline,
        "judge": judge,
        "rounds": rounds,
        "seed": seed,
        "style_control": style_control,
        "method": METHOD + ("; style control (v0.1: length, headers, lists, bold; L2, C=1)" if style_control else ""),
        "games": len(judgments),
        "unparsable": int((judgments["verdict"] == "").sum()),
        "leaderboard": rows,
    }
    if style_control:
        summary["style_coefficients"] = fit.style_coefficients
    return summary


def _number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def render_table(summary: dict[str, Any]) -> Any:
    """A rich Table of the leaderboard."""
    from rich.table import Table

    style = ", style control" if summary.get("style_control") else ""
    table = Table(
        title=f"Arena-Hard: win rate (%) against {summary['baseline']}",
        caption=f"judge {summary['judge']}; 95% CI from {summary['rounds']} bootstrap rounds (seed {summary['seed']})"
        f"{style}; {summary['unparsable']} of {summary['games']} verdicts unparsable",
    )
    table.add_column("Rank", justify="right")
    longest = max((len(row["model"]) for row in summary["leaderboard"]), default=5)
    table.add_column("Model", overflow="fold", min_width=min(longest, 48))
    for header in ("Score", "95% CI", "Avg tokens", "Battles", "Unparsable"):
        table.add_column(header, justify="right", no_wrap=True)
    for row in summary["leaderboard"]:
        ci = "-"
        if row["score"] is not None and row["lower"] is not None:
            ci = f"({row['lower'] - row['score']:+.1f}, {row['upper'] - row['score']:+.1f})"
        table.add_row(
            _number(row["rank"], 0) if row["rank"] is not None else "-",
            row["model"],
            _number(row["score"]),
            ci,
            str(row["avg_tokens"]) if row["avg_tokens"] is not None else "-",
            str(row["battles"]),
            str(row["unparsable"]) if row["unparsable"] is not None else "-",
        )
    return table


def print_leaderboard(summary: dict[str, Any]) -> None:
    from rich.console import Console

    console = Console()
    console.print(render_table(summary))
    if summary.get("style_coefficients"):
        coefficients = ", ".join(f"{k} {v:+.3f}" for k, v in summary["style_coefficients"].items())
        console.print(
            f"style coefficients (baseline minus model; positive favours the longer / richer answer): {coefficients}"
        )
