"""Judgments -> battles -> Bradley-Terry win rates against the baseline, with bootstrap CIs (Arena-Hard v0.1).

Every judgment is one game between the baseline and a model (game 1: baseline is answer A; game 2: the model is
answer A). A game becomes a battle "baseline vs model" (`show_result.py` `get_battles_from_judgment`): a slight
win counts once, a strong one (`A>>B`, `B>>A`) three times, a tie is half a win; an unparsable verdict drops that
game only. Ratings come from one Bradley-Terry fit over all battles (baseline pinned at 1000); the score is the
predicted win rate against the baseline, and the 95% CI takes the 2.5th / 97.5th percentiles of ratings refitted
on `rounds` bootstrap resamples of the battle rows (each strong-verdict repeat resampled on its own, as there).

Because every battle involves the baseline (a star design), the plain fit reproduces each model's weighted win
fraction (wins + ties / 2) / battles exactly; Bradley-Terry matters for the CIs and for style control.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from jamba_eval.errors import UserError
from jamba_eval.tasks.arena.bradley_terry import fit_ratings, win_rate
from jamba_eval.tasks.arena.judge import normalise_label
from jamba_eval.tasks.arena.style import STYLE_FEATURES

STRONG_WEIGHT = 3
STYLE_L2 = 1.0  # scikit-learn's default C = 1, as Arena-Hard v0.1 style control
# Baseline's outcome for each verdict, per game, and how many times the battle counts.
_OUTCOMES = {
    1: {"A>>B": (1.0, STRONG_WEIGHT), "A>B": (1.0, 1), "A=B": (0.5, 1), "B>A": (0.0, 1), "B>>A": (0.0, STRONG_WEIGHT)},
    2: {"A>>B": (0.0, STRONG_WEIGHT), "A>B": (0.0, 1), "A=B": (0.5, 1), "B>A": (1.0, 1), "B>>A": (1.0, STRONG_WEIGHT)},
}


class ArenaDataError(UserError, ValueError):
    """Judgments or features that cannot be scored."""


@dataclasses.dataclass
class ArenaFit:
    scores: pd.DataFrame  # index model; score, lower, upper: % win rate vs the baseline and its 95% CI
    ratings: pd.DataFrame  # index model; rating, lower, upper on the Elo scale (baseline = 1000)
    battles: pd.Series  # index model; weighted battles each model has (strong verdicts count 3)
    style_coefficients: dict[str, float]  # empty without style control
    bootstrap_ratings: np.ndarray  # (rounds, models), columns in `ratings.index` order


def arena_scores(
    judgments: pd.DataFrame,
    baseline: str,
    rounds: int = 100,
    seed: int = 0,
    style_control: bool = False,
    features: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Win rate (%) of each model against `baseline`, with a bootstrap 95% CI.

    judgments: columns `model, question_id, game, verdict` (game 1: the baseline is answer A, game 2: the model is
    answer A; verdict `A>>B`, `A>B`, `A=B`, `B>A`, `B>>A`, or empty / None when unparsable).
    features (needed for `style_control`): one row per answer with columns `model, question_id` and the style
    covariates `length, headers, lists, bold` (see `style.style_features`), for the baseline's answers too.
    Returns a DataFrame indexed by model (the baseline included, at 50) with columns `score, lower, upper`.
    """
    return fit_arena(judgments, baseline, rounds, seed, style_control, features).scores


def fit_arena(
    judgments: pd.DataFrame,
    baseline: str,
    rounds: int = 100,
    seed: int = 0,
    style_control: bool = False,
    features: pd.DataFrame | None = None,
) -> ArenaFit:
    """`arena_scores` with everything behind it: Elo ratings, battle counts, style coefficients, bootstrap."""
    if rounds < 0:
        raise ArenaDataError(f"rounds must be 0 or more, got {rounds}")
    battles = battles_from_judgments(judgments, baseline)
    models = [baseline, *sorted(set(judgments["model"].astype(str)))]
    index = {name: i for i, name in enumerate(models)}
    a = np.zeros(len(battles), dtype=np.intp)
    b = battles["model"].map(index).to_numpy(dtype=np.intp)
    y = battles["outcome"].to_numpy(dtype=np.float64)
    x = _style_matrix(battles, baseline, features) if style_control else None
    l2 = STYLE_L2 if style_control else 0.0
    fit_kwargs = {"n_models": len(models), "anchor": 0, "features": x, "l2": l2}

    point, gamma = fit_ratings(a, b, y, **fit_kwargs) if len(battles) else (np.full(len(models), np.nan), None)
    point[0] = 1000.0
    rng = np.random.default_rng(seed)
    boot = np.full((rounds, len(models)), np.nan)
    for r in range(rounds if len(battles) else 0):
        counts = np.bincount(rng.integers(0, len(battles), len(battles)), minlength=len(battles))
        boot[r], _ = fit_ratings(a, b, y, weights=counts, **fit_kwargs)
    boot[:, 0] = 1000.0
    lower, upper = _percentiles(boot, point)

    ratings = pd.DataFrame({"rating": point, "lower": lower, "upper": upper}, index=pd.Index(models, name="model"))
    scores = pd.DataFrame(
        {"score": 100 * win_rate(point), "lower": 100 * win_rate(lower), "upper": 100 * win_rate(upper)},
        index=ratings.index,
    )
    order = scores["score"].sort_values(ascending=False, kind="stable", na_position="last").index
    weights = battles.groupby("model")["outcome"].size().reindex(models[1:], fill_value=0)
    counts = pd.concat([pd.Series({baseline: int(weights.sum())}), weights]).rename_axis("model")
    coefficients = (
        dict(zip(STYLE_FEATURES, map(float, gamma), strict=True)) if style_control and gamma is not None else {}
    )
    return ArenaFit(scores.loc[order], ratings.loc[order], counts.loc[order], coefficients, boot)


def _percentiles(boot: np.ndarray, point: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if not len(boot):
        return np.full_like(point, np.nan), np.full_like(point, np.nan)
    usable = ~np.all(np.isnan(boot), axis=0)
    lower, upper = np.full_like(point, np.nan), np.full_like(point, np.nan)
    lower[usable] = np.nanpercentile(boot[:, usable], 2.5, axis=0)
    upper[usable] = np.nanpercentile(boot[:, usable], 97.5, axis=0)
    return lower, upper


def battles_from_judgments(judgments: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """One row per counted battle (strong verdicts repeated 3x): model, question_id, game, outcome for the
    baseline (1 won, 0.5 tie, 0 lost). Unparsable verdicts are left out."""
    missing = {"model", "question_id", "game", "verdict"} - set(judgments.columns)
    if missing:
        raise ArenaDataError(f"judgments lack column(s) {', '.join(sorted(missing))}")
    models = judgments["model"].astype(str)
    if (models == baseline).any():
        raise ArenaDataError(f"judgments include the baseline {baseline!r} as a model; it only plays as the baseline")
    games = pd.to_numeric(judgments["game"], errors="coerce")
    if not games.isin([1, 2]).all():
        raise ArenaDataError("judgments' game must be 1 (baseline is answer A) or 2 (model is answer A)")
    verdicts = [normalise_label(v) if isinstance(v, str) else None for v in judgments["verdict"]]
    rows = [
        (model, str(qid), int(game), *_OUTCOMES[int(game)][verdict])
        for model, qid, game, verdict in zip(models, judgments["question_id"], games, verdicts, strict=True)
        if verdict is not None
    ]
    table = pd.DataFrame(rows, columns=["model", "question_id", "game", "outcome", "repeats"])
    table = table.loc[table.index.repeat(table["repeats"])].drop(columns="repeats")
    return table.reset_index(drop=True)


def _style_matrix(battles: pd.DataFrame, baseline: str, features: pd.DataFrame | None) -> np.ndarray:
    """Per battle, (baseline - model) / (baseline + model + 1) for each style feature, standardised (v0.1)."""
    if features is None:
        raise ArenaDataError(
            "style control needs answer features (model, question_id, " + ", ".join(STYLE_FEATURES) + ")"
        )
    missing = {"model", "question_id", *STYLE_FEATURES} - set(features.columns)
    if missing:
        raise ArenaDataError(f"features lack column(s) {', '.join(sorted(missing))}")
    table = features.assign(model=features["model"].astype(str), question_id=features["question_id"].astype(str))
    if table.duplicated(["model", "question_id"]).any():
        raise ArenaDataError("features hold two rows for the same model and question")
    table = table.set_index(["model", "question_id"])[list(STYLE_FEATURES)].astype(float)
    model_keys = pd.MultiIndex.from_arrays([battles["model"], battles["question_id"]])
    base_keys = pd.MultiIndex.from_arrays([[baseline] * len(battles), battles["question_id"]])
    for keys in (model_keys, base_keys):
        absent = keys[~keys.isin(table.index)]
        if len(absent):
            raise ArenaDataError(f"no style features for {len(absent.unique())} answer(s), e.g. {absent[0]}")
    mine, theirs = table.loc[model_keys].to_numpy(), table.loc[base_keys].to_numpy()
    diff = (theirs - mine) / (theirs + mine + 1.0)
    std = diff.std(axis=0)
    return np.where(std > 0, (diff - diff.mean(axis=0)) / np.where(std > 0, std, 1.0), 0.0)
