"""Arena-Hard-style judging: a pairwise LLM judge against a baseline, Bradley-Terry win rates with bootstrap CIs.

`arena_scores(judgments, baseline, rounds=100, seed=0, style_control=False, features=None)` scores stored verdicts;
`run_arena(ArenaConfig(...))` answers, judges and scores (`jamba-eval run arena`); `cli_score` ranks several runs
(`jamba-eval arena score`). The method follows Arena-Hard-Auto v0.1 (arXiv 2406.11939); see `scoring.py`.
"""

from jamba_eval.tasks.arena.config import ArenaConfig, JudgeConfig
from jamba_eval.tasks.arena.judge import VERDICTS, parse_verdict
from jamba_eval.tasks.arena.questions import load_answers, load_questions
from jamba_eval.tasks.arena.run import cli_main, cli_score, rescore, run_arena
from jamba_eval.tasks.arena.scoring import ArenaDataError, ArenaFit, arena_scores, fit_arena
from jamba_eval.tasks.arena.style import style_features

__all__ = [
    "VERDICTS",
    "ArenaConfig",
    "ArenaDataError",
    "ArenaFit",
    "JudgeConfig",
    "arena_scores",
    "cli_main",
    "cli_score",
    "fit_arena",
    "load_answers",
    "load_questions",
    "parse_verdict",
    "rescore",
    "run_arena",
    "style_features",
]
