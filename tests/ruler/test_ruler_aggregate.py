import pytest

from jamba_eval.ruler import effective_length, last_passing_length
from jamba_eval.ruler.aggregate import bootstrap, length_averages

LENGTHS = [4096, 8192, 16384, 32768, 65536, 131072]
GPT4 = dict(zip(LENGTHS, [96.6, 96.3, 95.2, 93.2, 87.0, 81.2], strict=True))  # RULER README, GPT-4-1106-preview


def test_effective_length_is_the_longest_passing_prefix():
    assert effective_length(GPT4) == 65536  # README: 64K
    assert effective_length({4096: 90, 8192: 80, 16384: 90}) == 4096  # a later pass does not count
    assert last_passing_length({4096: 90, 8192: 80, 16384: 90}) == 16384
    assert effective_length({4096: 80, 8192: 90}) is None
    assert last_passing_length({4096: 80, 8192: 85.6}) is None


def test_threshold_is_strictly_greater():
    assert effective_length({4096: 85.6, 8192: 99}) is None
    assert effective_length({4096: 85.61, 8192: 85.6}) == 4096
    assert effective_length({4096: 50, 8192: 60}, threshold=40) == 8192


def test_order_of_the_table_does_not_matter_and_missing_lengths_end_the_prefix():
    shuffled = {k: GPT4[k] for k in reversed(LENGTHS)}
    assert effective_length(shuffled) == 65536
    assert effective_length({4096: 99, 8192: None, 16384: 99}) == 4096
    assert effective_length({}) is None


def test_weighted_averages_match_the_ruler_leaderboard():
    averages = length_averages(GPT4)
    assert averages["avg"] == pytest.approx(91.58, abs=0.01)  # README 91.6
    assert averages["wavg_inc"] == pytest.approx(89.04, abs=0.01)  # README 89.0
    assert averages["wavg_dec"] == pytest.approx(94.13, abs=0.01)  # README 94.1


def _cells(per_length_scores):
    return {("t", length): scores for length, scores in per_length_scores.items()}


def test_bootstrap_is_deterministic_and_brackets_the_estimate():
    cells = _cells({4096: [100.0] * 9 + [0.0], 8192: [100.0, 0.0] * 5})
    first = bootstrap(cells, ["t"], [4096, 8192], rounds=500, seed=3)
    assert first == bootstrap(cells, ["t"], [4096, 8192], rounds=500, seed=3)
    low, high = first["lengths"][8192]
    assert low < 50 < high
    assert first["cells"]["t"][4096][0] <= 90 <= first["cells"]["t"][4096][1]
    # 4K passes in most resamples (90 > 85.6), 8K never does
    assert first["effective_length"][1] == 4096
    assert first["effective_length"][0] in (None, 4096)
    assert sum(first["effective_length_counts"].values()) == 500


def test_bootstrap_of_constant_scores_is_degenerate():
    result = bootstrap(_cells({4096: [100.0] * 5, 8192: [100.0] * 5}), ["t"], [4096, 8192], rounds=50, seed=0)
    assert result["lengths"][8192] == [100.0, 100.0]
    assert result["effective_length"] == [8192, 8192]
    assert result["averages"]["avg"] == [100.0, 100.0]
