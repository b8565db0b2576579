"""Bradley-Terry ratings on the Elo scale by logistic regression, with an optional contextual (style) term.

The model (Arena-Hard v0.1 `compute_mle_elo` / `fit_bt`; Chatbot Arena): battle i between models a and b has
P(a wins) = sigmoid(ln(10) * (theta_a - theta_b) + features_i . gamma), ratings = 400 * theta + 1000, shifted so
the anchor (the baseline) is exactly 1000. Arena-Hard fits this with scikit-learn on every battle written twice
(a decisive battle as two identical rows, a tie as one win and one loss). That is the same as one row with a soft
outcome y in {1, 0.5, 0} counted twice, which is what we minimise here with scipy's L-BFGS-B:

    loss = sum_i 2 w_i * BCE(y_i, z_i) + l2 / 2 * |params|^2

`l2 = 0` is the plain fit (`penalty=None`): the anchor's rating is pinned at 0 (the likelihood only sees rating
differences) and ratings are boxed to +-`MAX_THETA` so a model that wins or loses every battle gets a win rate of
~100% / ~0% instead of an endless climb. `l2 = 1` is scikit-learn's default `C = 1`, used by v0.1 style control:
every model's rating is penalised (the anchor included), as there, and the anchor is shifted to 1000 afterwards.
Models with no weight in a fit (e.g. every battle dropped by a bootstrap round) get NaN.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

SCALE = 400.0
INIT_RATING = 1000.0
LN10 = math.log(10.0)
MAX_THETA = 12.0  # log10 odds; 400 * 12 = 4800 Elo points, a win rate within 1e-12 of 0 or 1


def fit_ratings(
    a: np.ndarray,
    b: np.ndarray,
    outcome: np.ndarray,
    n_models: int,
    anchor: int,
    weights: np.ndarray | None = None,
    features: np.ndarray | None = None,
    l2: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Elo ratings (anchor = 1000, NaN for models without battles) and the feature coefficients.

    a, b: model indices per battle; outcome: 1 if a won, 0.5 tie, 0 if b won; weights: how often each battle
    counts (bootstrap counts, repeats); features: (battles, k) covariates, already standardised.
    """
    a, b = np.asarray(a, dtype=np.intp), np.asarray(b, dtype=np.intp)
    y = np.asarray(outcome, dtype=np.float64)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    if features is None:  # identical battles carry identical information: fit each distinct one once
        a, b, y, w = _aggregate(a, b, y, w, n_models)
        x = np.zeros((len(y), 0))
    else:
        keep = w > 0
        x = np.asarray(features, dtype=np.float64)
        a, b, y, w, x = a[keep], b[keep], y[keep], w[keep], x[keep]
    n_features = x.shape[1]
    free = np.arange(n_models) if l2 > 0 else np.delete(np.arange(n_models), anchor)
    n_free = len(free)

    def loss_and_grad(params: np.ndarray) -> tuple[float, np.ndarray]:
        theta = np.zeros(n_models)
        theta[free] = params[:n_free]
        z = LN10 * (theta[a] - theta[b]) + x @ params[n_free:]
        loss = -2.0 * np.sum(w * (y * log_expit(z) + (1.0 - y) * log_expit(-z)))
        dz = 2.0 * w * (expit(z) - y)
        d_theta = LN10 * (np.bincount(a, dz, n_models) - np.bincount(b, dz, n_models))
        grad = np.concatenate([d_theta[free], x.T @ dz])
        if l2 > 0:
            loss += 0.5 * l2 * float(params @ params)
            grad = grad + l2 * params
        return float(loss), grad

    bounds = [(-MAX_THETA, MAX_THETA)] * n_free + [(None, None)] * n_features if l2 == 0 else None
    result = minimize(
        loss_and_grad,
        np.zeros(n_free + n_features),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 1000, "ftol": 1e-15, "gtol": 1e-9},
    )
    theta = np.zeros(n_models)
    theta[free] = result.x[:n_free]
    ratings = SCALE * (theta - theta[anchor]) + INIT_RATING
    played = np.bincount(a, w, n_models) + np.bincount(b, w, n_models)
    ratings[played <= 0] = np.nan
    return ratings, result.x[n_free:]


def _aggregate(a, b, y, w, n_models):
    key = (a * n_models + b) * 3 + np.rint(y * 2).astype(np.intp)  # y in {0, 0.5, 1} -> 0, 1, 2
    unique, inverse = np.unique(key, return_inverse=True)
    total = np.bincount(inverse, w, len(unique))
    pair, level = np.divmod(unique, 3)
    keep = total > 0
    return (pair // n_models)[keep], (pair % n_models)[keep], (level / 2.0)[keep], total[keep]


def win_rate(rating: np.ndarray | float, baseline_rating: float = INIT_RATING) -> np.ndarray:
    """Predicted win rate (0-1) against the baseline: 1 / (1 + 10^((R_baseline - R) / 400))."""
    return 1.0 / (1.0 + 10.0 ** ((baseline_rating - np.asarray(rating, dtype=np.float64)) / SCALE))
