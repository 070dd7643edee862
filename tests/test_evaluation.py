"""The unbiased pass@k estimator."""

from __future__ import annotations

from math import comb

import pytest

from codegym.errors import ConfigError
from codegym.evaluation import paired_difference, pass_at_k, t_quantile


@pytest.mark.parametrize("n,c,k", [(10, 3, 1), (10, 3, 5), (20, 0, 5), (5, 5, 2), (200, 17, 10)])
def test_pass_at_k_matches_the_combinatorial_definition(n, c, k):
    assert pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k))


def test_pass_at_k_needs_enough_samples():
    with pytest.raises(ValueError):
        pass_at_k(2, 1, 3)


@pytest.mark.parametrize(
    ("p", "df", "expected"),
    # Student's t quantiles from the published tables
    [(0.975, 1, 12.7062), (0.975, 2, 4.3027), (0.975, 7, 2.3646), (0.975, 30, 2.0423),
     (0.995, 4, 4.6041), (0.9, 3, 1.6377), (0.025, 7, -2.3646)],
)  # fmt: skip
def test_t_quantile_matches_the_tables(p, df, expected):
    assert t_quantile(p, df) == pytest.approx(expected, abs=1e-4)


def test_t_quantile_tends_to_the_normal():
    assert t_quantile(0.975, 1e6) == pytest.approx(1.95996, abs=1e-4)


def test_paired_difference_on_known_numbers():
    # differences 1, 2, 3, -1: mean 1.25, sd sqrt(35/12), half-width t(0.975, 3) * sd / 2
    diff = paired_difference([11.0, 12.0, 13.0, 9.0], [10.0, 10.0, 10.0, 10.0])
    half = 3.182446 * (35 / 12) ** 0.5 / 2
    assert diff.mean == pytest.approx(1.25)
    assert (diff.low, diff.high) == pytest.approx((1.25 - half, 1.25 + half), abs=1e-5)
    assert (diff.positive, diff.n) == (3, 4)
    assert "positive in 3 of 4 seeds" in str(diff)
    # equal differences: no spread, a zero-width interval
    same = paired_difference([3.0, 4.0, 5.0], [1.0, 2.0, 3.0])
    assert (same.mean, same.low, same.high, same.positive) == (2.0, 2.0, 2.0, 3)
    # ties are not positive
    assert paired_difference([1.0, 1.0], [1.0, 0.0]).positive == 1


def test_paired_difference_from_one_pair_has_no_interval():
    diff = paired_difference([5.0], [3.0])
    assert diff.mean == 2.0 and diff.n == 1 and diff.low != diff.low  # nan
    assert "no interval" in str(diff)


def test_paired_difference_rejects_unpaired_input():
    with pytest.raises(ConfigError, match="one value of each side"):
        paired_difference([1.0, 2.0], [1.0])
    with pytest.raises(ConfigError, match="at least one pair"):
        paired_difference([], [])
