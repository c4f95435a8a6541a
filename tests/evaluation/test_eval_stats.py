"""Percentiles and the percentile bootstrap."""

from __future__ import annotations

import pytest

from bedside.evaluation.stats import bootstrap_ci, percentile


def test_percentile_interpolates_linearly():
    # [1, 2, 3, 4]: p50 sits at position 1.5 -> 2.5; p95 at 3 * 0.95 = 2.85 -> 3 + 0.85 * (4 - 3) = 3.85.
    assert percentile([4, 1, 3, 2], 50) == 2.5
    assert percentile([1, 2, 3, 4], 95) == pytest.approx(3.85)
    assert percentile([7], 95) == 7 and percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile([1], 101)


def test_percentile_matches_numpy():
    np = pytest.importorskip("numpy")
    values = [0.3, 12.0, 5.5, 5.5, 9.1, 0.0, 44.2]
    for q in (0, 2.5, 50, 95, 97.5, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def _mean_of(values):
    return lambda idx: sum(values[i] for i in idx) / len(idx)


def test_bootstrap_is_seeded_and_sensible():
    # 100 coin flips, half right: the 95% CI of the mean is about 0.5 +- 1.96 * 0.05.
    values = [1.0, 0.0] * 50
    ci = bootstrap_ci(len(values), _mean_of(values), resamples=1000, seed=3)
    assert 0.38 < ci.low < 0.43 and 0.57 < ci.high < 0.62 and ci.level == 0.95
    again = bootstrap_ci(len(values), _mean_of(values), resamples=1000, seed=3)
    assert (again.low, again.high) == (ci.low, ci.high)
    other = bootstrap_ci(len(values), _mean_of(values), resamples=1000, seed=4)
    assert (other.low, other.high) != (ci.low, ci.high) or other.seed != ci.seed


def test_bootstrap_edge_cases():
    constant = [1.0] * 10
    ci = bootstrap_ci(10, _mean_of(constant), resamples=50)
    assert (ci.low, ci.high) == (1.0, 1.0)
    assert bootstrap_ci(0, _mean_of([]), resamples=50) is None
    assert bootstrap_ci(5, lambda idx: None, resamples=50) is None
    assert bootstrap_ci(5, _mean_of(constant), resamples=0) is None
