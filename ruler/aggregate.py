"""Turning per-sample scores into RULER's numbers: per-length means, Avg / wAvg, effective length, bootstrap CIs.

Facts (RULER README and paper, recomputed in reference/ruler.md §1.9):
- the score at a length is the unweighted mean of the task scores at that length;
- Avg is the mean over lengths; wAvg(inc) / wAvg(dec) weight the sorted lengths linearly 1..n / n..1;
- effective length is the longest length L whose score is > 85.6 (Llama-2-7B at 4K) at L and at every shorter
  length. We also report the last passing length (the longest L > threshold, prefix or not), and a bootstrap 95%
  CI over samples (resampled within each task x length cell), which RULER does not give.

numpy is imported lazily so `jamba_eval.ruler` stays cheap to import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

THRESHOLD = 85.6


def effective_length(scores_by_length: Mapping[int, float | None], threshold: float = THRESHOLD) -> int | None:
    """Longest length whose score, and the score of every shorter length, is strictly above `threshold`.

    None when even the shortest length fails. A length without a score (None) ends the prefix.
    """
    effective = None
    for length in sorted(scores_by_length):
        score = scores_by_length[length]
        if score is None or not score > threshold:
            break
        effective = length
    return effective


def last_passing_length(scores_by_length: Mapping[int, float | None], threshold: float = THRESHOLD) -> int | None:
    """Longest length with a score strictly above `threshold`, whether or not shorter lengths pass."""
    passing = [length for length, score in scores_by_length.items() if score is not None and score > threshold]
    return max(passing) if passing else None


def length_averages(scores_by_length: Mapping[int, float]) -> dict[str, float]:
    """Avg, wAvg(inc) and wAvg(dec) over the lengths given (sorted ascending), as on the RULER leaderboard."""
    lengths = sorted(scores_by_length)
    if not lengths:
        return {}
    values = [scores_by_length[length] for length in lengths]
    n = len(values)
    inc = list(range(1, n + 1))
    dec = inc[::-1]
    return {
        "avg": sum(values) / n,
        "wavg_inc": sum(w * v for w, v in zip(inc, values, strict=True)) / sum(inc),
        "wavg_dec": sum(w * v for w, v in zip(dec, values, strict=True)) / sum(dec),
    }


def _interval(values: Any) -> list[float]:
    import numpy as np

    low, high = np.percentile(values, [2.5, 97.5])
    return [float(low), float(high)]


def _length_interval(values: Sequence[int]) -> list[int | None]:
    """2.5% / 97.5% quantiles of bootstrap effective lengths (0 stands for None), as actual tested lengths."""
    import numpy as np

    ordered = np.sort(np.asarray(values))
    low = int(np.quantile(ordered, 0.025, method="lower"))
    high = int(np.quantile(ordered, 0.975, method="higher"))
    return [low or None, high or None]


def bootstrap(
    cells: Mapping[tuple[str, int], Sequence[float]],
    tasks: Sequence[str],
    lengths: Sequence[int],
    rounds: int = 1000,
    seed: int = 0,
    threshold: float = THRESHOLD,
) -> dict[str, Any]:
    """Percentile bootstrap over samples, resampling within each (task, length) cell.

    `cells` maps (task, length) to the per-sample scores (0-100) of that cell; every task must have a cell at
    every length. Returns 95% intervals for each cell mean, each per-length mean, the averages and the effective
    length (and how often each effective length came out, for stability).
    """
    import numpy as np

    lengths = sorted(lengths)
    rng = np.random.default_rng(seed)
    cell_ci: dict[str, dict[int, list[float]]] = {}
    per_length = np.zeros((rounds, len(lengths)))
    for j, length in enumerate(lengths):
        for task in tasks:
            values = np.asarray(cells[(task, length)], dtype=float)
            if values.size == 0:
                raise ValueError(f"no samples for {task} at {length}")
            draws = values[rng.integers(0, values.size, size=(rounds, values.size))].mean(axis=1)
            cell_ci.setdefault(task, {})[length] = _interval(draws)
            per_length[:, j] += draws / len(tasks)
    effective = []
    averages: dict[str, list[float]] = {"avg": [], "wavg_inc": [], "wavg_dec": []}
    for row in per_length:
        scores = dict(zip(lengths, row.tolist(), strict=True))
        effective.append(effective_length(scores, threshold) or 0)
        for key, value in length_averages(scores).items():
            averages[key].append(value)
    counts: dict[str, int] = {}
    for value in effective:
        counts[str(value or None)] = counts.get(str(value or None), 0) + 1
    return {
        "rounds": rounds,
        "seed": seed,
        "cells": cell_ci,
        "lengths": {length: _interval(per_length[:, j]) for j, length in enumerate(lengths)},
        "averages": {key: _interval(values) for key, values in averages.items()},
        "effective_length": _length_interval(effective),
        "effective_length_counts": counts,
    }
