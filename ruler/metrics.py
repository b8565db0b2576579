"""Scoring exactly as NVIDIA RULER does (`scripts/eval/evaluate.py`, `scripts/eval/synthetic/constants.py`).

- A prediction is post-processed by stripping it, turning control characters (\\x00-\\x1f) into newlines and
  stripping again.
- `string_match_all` (niah, vt, cwe, fwe): per sample, the fraction of references that occur as case-insensitive
  substrings of the prediction; averaged over samples, x100, rounded to 2 decimals.
- `string_match_part` (qa): per sample, 1 if any reference occurs as a case-insensitive substring, else 0;
  averaged, x100, rounded to 2 decimals. QA references are paraphrases, so one match is enough (NVIDIA/RULER#15).

Substring matching never penalises extra text; the generation budget is the only limit on verbose answers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_CONTROL = re.compile(r"[\x00-\x1f]")

METRICS = ("string_match_all", "string_match_part")


def postprocess_prediction(text: str) -> str:
    """RULER's `postprocess_pred`: strip, control characters -> newlines, strip."""
    return _CONTROL.sub("\n", text.strip()).strip()


def _check(preds: Sequence[str], refs: Sequence[Sequence[str]]) -> None:
    if len(preds) != len(refs):
        raise ValueError(f"{len(preds)} predictions but {len(refs)} reference lists")
    if not preds:
        raise ValueError("no predictions to score")
    for ref in refs:
        if isinstance(ref, str) or not ref:
            raise ValueError("each reference entry must be a non-empty list of strings")


def sample_match_all(pred: str, refs: Sequence[str]) -> float:
    """Fraction (0-1) of `refs` found in `pred`, case-insensitively."""
    lowered = pred.lower()
    return sum(1.0 for r in refs if r.lower() in lowered) / len(refs)


def sample_match_part(pred: str, refs: Sequence[str]) -> float:
    """1.0 if any of `refs` is found in `pred`, case-insensitively, else 0.0."""
    lowered = pred.lower()
    return 1.0 if any(r.lower() in lowered for r in refs) else 0.0


def string_match_all(preds: Sequence[str], refs: Sequence[Sequence[str]]) -> float:
    """Mean over samples of the fraction of references matched, x100, rounded to 2 decimals (RULER)."""
    _check(preds, refs)
    score = sum(sample_match_all(p, r) for p, r in zip(preds, refs, strict=True)) / len(preds) * 100
    return round(score, 2)


def string_match_part(preds: Sequence[str], refs: Sequence[Sequence[str]]) -> float:
    """Share of samples where any reference matched, x100, rounded to 2 decimals (RULER)."""
    _check(preds, refs)
    score = sum(sample_match_part(p, r) for p, r in zip(preds, refs, strict=True)) / len(preds) * 100
    return round(score, 2)


def sample_score(metric: str, prediction: str, references: Sequence[str]) -> float:
    """One sample's score on RULER's 0-100 scale, after RULER's post-processing of the prediction."""
    pred = postprocess_prediction(prediction)
    if metric == "string_match_all":
        return sample_match_all(pred, references) * 100
    if metric == "string_match_part":
        return sample_match_part(pred, references) * 100
    raise ValueError(f"unknown RULER metric {metric!r}; expected one of {', '.join(METRICS)}")
