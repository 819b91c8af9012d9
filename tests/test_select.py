"""Selection: exact counts at the edges, deterministic ties, duplicate groups taken whole."""
from __future__ import annotations

import math

import pytest

from sanitize.config import ScoreConfig, SelectConfig
from sanitize.errors import InputError, SanitizeError
from sanitize.selection import rank_order, ranks, select, target_count

RISKS = [0.3, 0.9, 0.1, 0.5, 0.7, 0.2, 0.8, 0.4, 0.6, 0.0]


def picked(flags):
    return [i for i, f in enumerate(flags) if f]


@pytest.mark.parametrize("ratio,expected", [(0.0, 0), (1.0, 10), (0.5, 5), (0.3, 3), (0.31, 4),
                                            (0.01, 1)])
def test_ratio_counts_are_exact(ratio, expected):
    assert sum(select(RISKS, SelectConfig(ratio=ratio))) == expected


def test_top_ratio_is_the_riskiest():
    assert picked(select(RISKS, SelectConfig(ratio=0.3))) == [1, 4, 6]


def test_ranks_are_a_permutation_riskiest_first():
    r = ranks(RISKS)
    assert sorted(r) == list(range(1, 11))
    assert r[1] == 1 and r[9] == 10


def test_ties_break_by_input_order_and_count_stays_exact():
    risks = [1.0, 2.0, 2.0, 2.0, 2.0, 0.0]
    assert rank_order(risks) == [1, 2, 3, 4, 0, 5]
    # Half of 6 is 3, and four records tie for the top: the first three in input order win.
    assert picked(select(risks, SelectConfig(ratio=0.5))) == [1, 2, 3]
    assert ranks(risks) == [5, 1, 2, 3, 4, 6]


def test_target_count_rounds_float_noise_not_up():
    assert 0.07 * 100 > 7  # the float noise this guards against
    assert target_count(100, 0.07) == 7
    assert target_count(7, 0.5) == 4  # ceil: at least the requested share is protected


def test_group_selected_as_a_whole():
    risks = [0.9, 0.1, 0.5, 0.4, 0.05]
    groups = [None, "dup1", None, None, "dup1"]
    # ratio 0.4 of 5 = 2: record 0, then record 2; the low-risk group stays out...
    assert picked(select(risks, SelectConfig(ratio=0.4), groups)) == [0, 2]
    # ...until one member is riskier: then both copies go, even the least risky record.
    risks[1] = 0.95
    assert picked(select(risks, SelectConfig(ratio=0.2), groups)) == [1, 4]


def test_group_overshoot_is_less_than_the_group():
    risks = [0.9, 0.8, 0.7, 0.6, 0.1, 0.0]
    groups = [None, "dup1", None, None, "dup1", "dup1"]
    flags = select(risks, SelectConfig(ratio=0.5), groups)  # target 3
    # Record 0, then record 1 brings its two copies: 4 selected, 1 over the target (< 3).
    assert picked(flags) == [0, 1, 4, 5]


def test_edge_ratios_with_groups():
    groups = ["dup1", "dup1", None, "dup2", "dup2", None, None, None, None, None]
    assert sum(select(RISKS, SelectConfig(ratio=0.0), groups)) == 0
    assert sum(select(RISKS, SelectConfig(ratio=1.0), groups)) == 10


def test_threshold_selects_at_or_above_and_expands_groups():
    groups = [None] * 9 + ["dupX"]
    groups[1] = "dupX"  # record 1 (0.9) drags record 9 (0.0) in
    flags = select(RISKS, SelectConfig(ratio=None, threshold=0.7), groups)
    assert picked(flags) == [1, 4, 6, 9]


@pytest.mark.parametrize("kwargs", [dict(ratio=1.5), dict(ratio=-0.1), dict(ratio=None),
                                    dict(ratio=math.nan), dict(ratio=math.inf),
                                    dict(threshold=math.nan), dict(threshold=-math.inf),
                                    dict(near_duplicate_similarity=0.0)])
def test_bad_config_is_refused_when_built(kwargs):
    """Before any expensive stage: the config checks itself (NaN fails every comparison)."""
    with pytest.raises(InputError):
        if "near_duplicate_similarity" in kwargs:  # grouping is scoring's
            ScoreConfig(**kwargs)
        else:
            SelectConfig(**kwargs)


def test_non_finite_risk_fails_loudly():
    with pytest.raises(SanitizeError, match="not finite"):
        select([0.1, math.nan], SelectConfig(ratio=0.5))
