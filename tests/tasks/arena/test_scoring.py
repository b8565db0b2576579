"""Scoring: the star-design identity, hand-computed cases, scikit-learn as reference, bootstrap, style control."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from jamba_eval.errors import UserError
from jamba_eval.tasks.arena import ArenaDataError, arena_scores, fit_arena
from jamba_eval.tasks.arena.bradley_terry import fit_ratings
from jamba_eval.tasks.arena.leaderboard import overlap_ranks

LABELS = ["A>>B", "A>B", "A=B", "B>A", "B>>A"]
# The model's points and weight per verdict, written out by hand from the protocol (not from the code under test):
# game 1 puts the baseline at A, game 2 puts the model at A; strong verdicts weigh 3.
MODEL_POINTS = {
    1: {"A>>B": (0.0, 3), "A>B": (0.0, 1), "A=B": (0.5, 1), "B>A": (1.0, 1), "B>>A": (1.0, 3)},
    2: {"A>>B": (1.0, 3), "A>B": (1.0, 1), "A=B": (0.5, 1), "B>A": (0.0, 1), "B>>A": (0.0, 3)},
}


def frame(rows):
    return pd.DataFrame(rows, columns=["model", "question_id", "game", "verdict"])


# Verdicts from the model's side (much better, better, tie, worse, much worse), as labels in each game.
AS_LABEL = {1: ["B>>A", "B>A", "A=B", "A>B", "A>>B"], 2: ["A>>B", "A>B", "A=B", "B>A", "B>>A"]}


def random_judgments(seed: int, models: dict[str, list[float]], questions: int = 150, unparsable: float = 0.05):
    """p: probabilities of the model being much better, better, tied, worse, much worse than the baseline."""
    rng = np.random.default_rng(seed)
    rows = []
    for model, p in models.items():
        for q in range(questions):
            for game in (1, 2):
                verdict = "" if rng.random() < unparsable else AS_LABEL[game][rng.choice(5, p=p)]
                rows.append((model, f"q{q}", game, verdict))
    return frame(rows)


def weighted_win_fraction(judgments: pd.DataFrame) -> pd.Series:
    totals: dict[str, list[float]] = {}
    for model, _, game, verdict in judgments.itertuples(index=False):
        if verdict in LABELS:
            points, weight = MODEL_POINTS[game][verdict]
            total = totals.setdefault(model, [0.0, 0.0])
            total[0] += points * weight
            total[1] += weight
    return pd.Series({m: 100 * won / n for m, (won, n) in totals.items()})


def test_star_design_score_is_the_weighted_win_fraction():
    judgments = random_judgments(
        0,
        {
            "strong": [0.4, 0.3, 0.15, 0.1, 0.05],
            "even": [0.2, 0.2, 0.2, 0.2, 0.2],
            "weak": [0.05, 0.1, 0.1, 0.25, 0.5],
        },
    )
    scores = arena_scores(judgments, "base", rounds=0)
    expected = weighted_win_fraction(judgments)
    for model in expected.index:
        assert scores.loc[model, "score"] == pytest.approx(expected[model], abs=1e-6)
    assert scores.loc["base", "score"] == 50.0
    assert list(scores.index) == ["strong", "even", "base", "weak"]
    assert list(scores.columns) == ["score", "lower", "upper"]


def test_hand_computed_two_models():
    judgments = frame(
        [
            # x: 3 (strong win as B) + 1 (win as A) + 0.5 (tie) + 0 (loss) of 6 battles -> 75%
            ("x", "q1", 1, "B>>A"),
            ("x", "q1", 2, "A>B"),
            ("x", "q2", 1, "A=B"),
            ("x", "q2", 2, "B>A"),
            # y: 0 of 3 (strong loss) + 0 of 1 + 0.5 + 0.5 of 6 -> 1/6
            ("y", "q1", 1, "A>>B"),
            ("y", "q1", 2, "B>A"),
            ("y", "q2", 1, "A=B"),
            ("y", "q2", 2, "a = b"),  # lower case and spaces are read as A=B
            ("y", "q3", 1, ""),  # unparsable: dropped
            ("y", "q3", 2, None),
        ]
    )
    fit = fit_arena(judgments, "base", rounds=0)
    assert fit.scores.loc["x", "score"] == pytest.approx(75.0, abs=1e-6)
    assert fit.scores.loc["y", "score"] == pytest.approx(100 / 6, abs=1e-6)
    assert fit.ratings.loc["x", "rating"] == pytest.approx(1000 + 400 * math.log10(3), abs=1e-4)
    assert fit.ratings.loc["y", "rating"] == pytest.approx(1000 - 400 * math.log10(5), abs=1e-4)
    assert list(fit.scores.index) == ["x", "base", "y"]
    assert fit.battles["x"] == 6 and fit.battles["y"] == 6 and fit.battles["base"] == 12


def test_clean_sweep_saturates_instead_of_diverging():
    judgments = frame([("w", f"q{i}", g, "B>>A" if g == 1 else "A>B") for i in range(5) for g in (1, 2)])
    scores = arena_scores(judgments, "base", rounds=20)
    assert scores.loc["w", "score"] > 99.99
    assert scores.loc["w", "lower"] <= scores.loc["w", "score"] <= 100.0


def test_model_without_a_single_verdict_has_no_score():
    judgments = frame([("lost", "q1", 1, ""), ("lost", "q1", 2, "nonsense"), ("ok", "q1", 1, "A=B")])
    scores = arena_scores(judgments, "base", rounds=10)
    assert scores.loc["ok", "score"] == pytest.approx(50.0)
    assert scores.loc["lost"].isna().all()
    assert scores.index[-1] == "lost"


def _sklearn_ratings(a, b, y, n_models, features=None, C=np.inf):
    """Arena-Hard v0.1's construction, written out for scikit-learn: every battle twice, a tie as a win + a loss."""
    from sklearn.linear_model import LogisticRegression

    n = len(y)
    k = 0 if features is None else features.shape[1]
    X = np.zeros((2 * n, n_models + k))
    rows = np.arange(2 * n)
    X[rows, np.concatenate([a, a])] = math.log(10)
    X[rows, np.concatenate([b, b])] = -math.log(10)
    if features is not None:
        X[:, n_models:] = np.concatenate([features, features])
    Y = np.concatenate([y >= 0.5, y == 1.0]).astype(float)  # first copy: tie -> 1; second copy: tie -> 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lr = LogisticRegression(fit_intercept=False, C=C, tol=1e-10, max_iter=100_000).fit(X, Y)
    coef = lr.coef_[0]
    ratings = 400 * coef[:n_models]
    return ratings - ratings[0] + 1000, coef[n_models:]


def test_bradley_terry_matches_scikit_learn_on_a_general_design():
    pytest.importorskip("sklearn")
    rng = np.random.default_rng(3)
    n, n_models = 2000, 5
    a = rng.integers(0, n_models, n)
    b = (a + rng.integers(1, n_models, n)) % n_models  # any pair, not only the baseline's battles
    strength = np.array([0.0, 0.4, -0.3, 0.2, 0.7])
    p = 1 / (1 + 10 ** (strength[b] - strength[a]))
    u = rng.random(n)
    y = np.where(u < 0.85 * p, 1.0, np.where(u < 0.85 * p + 0.15, 0.5, 0.0))
    ours, _ = fit_ratings(a, b, y, n_models, anchor=0)
    reference, _ = _sklearn_ratings(a, b, y, n_models)
    np.testing.assert_allclose(ours, reference, atol=1e-3)

    features = rng.normal(size=(n, 3))
    ours, gamma = fit_ratings(a, b, y, n_models, anchor=0, features=features, l2=1.0)
    reference, reference_gamma = _sklearn_ratings(a, b, y, n_models, features, C=1.0)
    np.testing.assert_allclose(ours, reference, atol=1e-6)
    np.testing.assert_allclose(gamma, reference_gamma, atol=1e-6)


def test_bootstrap_ci_contains_the_score_and_is_reproducible():
    judgments = random_judgments(1, {"m1": [0.1, 0.2, 0.3, 0.25, 0.15], "m2": [0.3, 0.3, 0.2, 0.1, 0.1]}, 100)
    first = arena_scores(judgments, "base", rounds=50, seed=7)
    again = arena_scores(judgments, "base", rounds=50, seed=7)
    other = arena_scores(judgments, "base", rounds=50, seed=8)
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first.loc["m1", ["lower", "upper"]], other.loc["m1", ["lower", "upper"]])
    assert (first["score"] - other["score"]).abs().max() < 1e-9  # the point estimate does not depend on the seed
    for model in ("m1", "m2"):
        lower, score, upper = first.loc[model, ["lower", "score", "upper"]]
        assert lower < score < upper
        assert 2 < upper - lower < 30
    assert tuple(first.loc["base"]) == (50.0, 50.0, 50.0)
    no_ci = arena_scores(judgments, "base", rounds=0)
    assert no_ci[["lower", "upper"]].drop(index="base").isna().all().all()


def _style_case(seed: int = 0, questions: int = 300):
    """A judge that prefers the longer answer 80% of the time, and is otherwise blind.

    `verbose` is longer than the baseline on 70% of questions; `terse` is always shorter but is simply better
    (wins 60% of games regardless of length)."""
    rng = np.random.default_rng(seed)
    rows, features = [], []
    for q in range(questions):
        qid = f"q{q}"
        base_len = int(rng.integers(800, 1200))
        features.append(("base", qid, base_len, 0, 0, 0))
        verbose_len = base_len * 2 if rng.random() < 0.7 else base_len // 2
        terse_len = base_len // 3
        features.append(("verbose", qid, verbose_len, 0, 0, 0))
        features.append(("terse", qid, terse_len, 0, 0, 0))
        for game in (1, 2):
            model_wins = (verbose_len > base_len) == (rng.random() < 0.8)
            rows.append(
                (
                    "verbose",
                    qid,
                    game,
                    ("B>A" if model_wins else "A>B") if game == 1 else ("A>B" if model_wins else "B>A"),
                )
            )
            terse_wins = rng.random() < 0.6
            rows.append(
                (
                    "terse",
                    qid,
                    game,
                    ("B>A" if terse_wins else "A>B") if game == 1 else ("A>B" if terse_wins else "B>A"),
                )
            )
    cols = ["model", "question_id", "length", "headers", "lists", "bold"]
    return frame(rows), pd.DataFrame(features, columns=cols)


def test_style_control_moves_scores_the_expected_way():
    judgments, features = _style_case()
    plain = fit_arena(judgments, "base", rounds=10)
    styled = fit_arena(judgments, "base", rounds=10, style_control=True, features=features)
    # verbose wins only by being long: controlling for length pulls it down towards 50
    assert plain.scores.loc["verbose", "score"] > 60
    assert styled.scores.loc["verbose", "score"] < plain.scores.loc["verbose", "score"] - 10
    # ... and the model that is better on substance overtakes the one that is merely longer
    assert plain.scores.loc["verbose", "score"] > plain.scores.loc["terse", "score"]
    assert styled.scores.loc["verbose", "score"] < styled.scores.loc["terse", "score"]
    # terse wins despite being short: controlling for length lifts it
    assert styled.scores.loc["terse", "score"] > plain.scores.loc["terse", "score"] + 5
    # the judge favours the longer answer: positive length coefficient (features are baseline minus model)
    assert styled.style_coefficients["length"] > 0.5
    assert set(styled.style_coefficients) == {"length", "headers", "lists", "bold"}
    assert styled.style_coefficients["bold"] == 0.0  # a constant feature carries nothing


def test_style_control_matches_a_scikit_learn_reimplementation_of_v01():
    pytest.importorskip("sklearn")
    judgments, features = _style_case(seed=1, questions=120)
    features.loc[features["model"] == "verbose", "headers"] = 3  # a second, non-constant feature
    ours = fit_arena(judgments, "base", rounds=0, style_control=True, features=features)
    # v0.1: battles (strong verdicts repeated), per-battle (a - b) / (a + b + 1), z-scored, C = 1
    points = {1: {"A>B": 1.0, "B>A": 0.0}, 2: {"A>B": 0.0, "B>A": 1.0}}
    models = ["base", "terse", "verbose"]
    table = features.set_index(["model", "question_id"])[["length", "headers", "lists", "bold"]].astype(float)
    a, b, y, diffs = [], [], [], []
    for model, qid, game, verdict in judgments.itertuples(index=False):
        base_f, model_f = table.loc[("base", qid)].to_numpy(), table.loc[(model, qid)].to_numpy()
        a.append(0), b.append(models.index(model)), y.append(points[game][verdict])
        diffs.append((base_f - model_f) / (base_f + model_f + 1))
    diffs = np.array(diffs)
    std = diffs.std(axis=0)
    z = np.where(std > 0, (diffs - diffs.mean(axis=0)) / np.where(std > 0, std, 1), 0.0)
    reference, gamma = _sklearn_ratings(np.array(a), np.array(b), np.array(y), 3, z, C=1.0)
    for i, model in enumerate(models):
        assert ours.ratings.loc[model, "rating"] == pytest.approx(reference[i], abs=1e-5)
    np.testing.assert_allclose(list(ours.style_coefficients.values()), gamma, atol=1e-8)


def test_style_control_needs_features_for_every_answer():
    judgments, features = _style_case(questions=5)
    with pytest.raises(ArenaDataError, match="needs answer features"):
        arena_scores(judgments, "base", rounds=0, style_control=True)
    with pytest.raises(ArenaDataError, match="no style features"):
        arena_scores(judgments, "base", rounds=0, style_control=True, features=features.iloc[1:])


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("m", "q", 3, "A>B")], "game must be 1"),
        ([("base", "q", 1, "A>B")], "baseline"),
    ],
)
def test_bad_judgments_are_refused_with_a_clear_error(rows, message):
    with pytest.raises(ArenaDataError, match=message) as info:
        arena_scores(frame(rows), "base")
    assert isinstance(info.value, UserError) and isinstance(info.value, ValueError)
    with pytest.raises(ArenaDataError, match="lack column"):
        arena_scores(pd.DataFrame({"model": ["m"], "verdict": ["A>B"]}), "base")


def test_ranks_tie_when_confidence_intervals_overlap():
    lower = np.array([70.0, 65.0, 50.0, 30.0, np.nan])
    upper = np.array([80.0, 75.0, 50.0, 45.0, np.nan])
    assert overlap_ranks(lower, upper) == [1, 1, 3, 4, None]
