"""Metrics on hand-built score sets: exact values, cut-offs, honesty rules, CI behaviour."""
import math

import numpy as np
import pytest

from sanitize.auditing.metrics import (evaluate, measurable, roc_auc, roc_curve, tpr_at_fpr)


def test_auc_perfect_chance_and_inverted():
    y = [1, 1, 1, 0, 0, 0]
    assert roc_auc([6, 5, 4, 3, 2, 1], y) == 1.0
    assert roc_auc([1, 2, 3, 4, 5, 6], y) == 0.0
    assert roc_auc([1, 1, 1, 1, 1, 1], y) == 0.5  # all tied: ties count 1/2


def test_auc_matches_pairwise_count_with_ties():
    s = np.array([0.9, 0.4, 0.4, 0.7, 0.4, 0.1])
    y = np.array([1, 1, 0, 1, 0, 0])
    pos, neg = s[y == 1], s[y == 0]
    expected = np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])
    assert roc_auc(s, y) == pytest.approx(expected)
    from sklearn.metrics import roc_auc_score
    assert roc_auc(s, y) == pytest.approx(roc_auc_score(y, s))


def test_tpr_at_fpr_is_best_tpr_within_bound_not_nearest_point():
    # 10 non-members 0..9; members interleaved. At FPR <= 0.1 one non-member (score 9) may be
    # above the threshold.
    neg = np.arange(10, dtype=float)
    pos = np.array([9.5, 8.5, 8.6, 7.5, 1.0])
    s = np.concatenate([pos, neg])
    y = np.array([1] * 5 + [0] * 10)
    # threshold 9.5 -> TPR 0.2, FPR 0; threshold 9 -> TPR 0.2, FPR 0.1;
    # threshold 8.5 -> TPR 0.6, FPR 0.1 (best within 0.1); threshold 8 -> FPR 0.2 (too high)
    assert tpr_at_fpr(s, y, 0.1) == pytest.approx(0.6)
    # The nearest ROC point to FPR 0.15 is FPR 0.2 with TPR 0.8: it must not be chosen.
    assert tpr_at_fpr(s, y, 0.15) == pytest.approx(0.6)
    assert tpr_at_fpr(s, y, 0.0) == pytest.approx(0.2)


def test_roc_curve_endpoints_and_monotone():
    rng = np.random.default_rng(0)
    s = rng.normal(size=50)
    y = rng.integers(0, 2, 50)
    fpr, tpr = roc_curve(s, y)
    assert (fpr[0], tpr[0]) == (0.0, 0.0) and (fpr[-1], tpr[-1]) == (1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)


def test_tpr_not_measurable_with_too_few_nonmembers():
    rng = np.random.default_rng(1)
    s = np.concatenate([rng.normal(1, 1, 200), rng.normal(0, 1, 150)])
    y = np.array([1] * 200 + [0] * 150)
    m = evaluate(s, y, n_boot=50)
    assert m.tpr[0.1].value is not None and m.tpr[0.01].value is not None
    assert m.tpr[0.001].value is None and "1000 non-members" in m.tpr[0.001].note
    assert m.tpr[0.001].fmt() == "n/a"
    assert measurable(100, 0.01) and not measurable(99, 0.01)


def test_ci_contains_estimate_and_shrinks_with_n():
    def width(n, seed):
        rng = np.random.default_rng(seed)
        s = np.concatenate([rng.normal(0.5, 1, n), rng.normal(0, 1, n)])
        m = evaluate(s, np.array([1] * n + [0] * n), n_boot=400, seed=seed)
        assert m.auc.ci_low <= m.auc.value <= m.auc.ci_high
        return m.auc.ci_high - m.auc.ci_low

    small = np.mean([width(30, k) for k in range(3)])
    large = np.mean([width(1000, k) for k in range(3)])
    assert large < small / 3  # ~ 1/sqrt(n): sqrt(1000/30) ~ 5.8


def test_bootstrap_is_seeded():
    rng = np.random.default_rng(2)
    s, y = rng.normal(size=60), np.array([1, 0] * 30)
    a, b = evaluate(s, y, n_boot=100, seed=3), evaluate(s, y, n_boot=100, seed=3)
    assert a.auc.ci_low == b.auc.ci_low and a.tpr[0.1].ci_high == b.tpr[0.1].ci_high


def test_rejects_nan_and_single_class():
    with pytest.raises(ValueError):
        roc_auc([0.1, float("nan")], [1, 0])
    with pytest.raises(ValueError):
        roc_auc([0.1, 0.2], [1, 1])


def test_epsilon_lower_bound_is_zero_for_noise_and_large_for_a_perfect_attack():
    from sanitize.auditing.metrics import clopper_pearson, epsilon_lower_bound

    # Hand check of the bounds: 0 of 10 -> upper 1 - 0.05**(1/10); 10 of 10 -> lower 0.05**(1/10)
    assert clopper_pearson(0, 10)[1] == pytest.approx(1 - 0.05 ** 0.1)
    assert clopper_pearson(10, 10)[0] == pytest.approx(0.05 ** 0.1)
    rng = np.random.default_rng(0)
    labels = np.array([1] * 200 + [0] * 200)
    noise = epsilon_lower_bound(rng.normal(size=400), labels, seed=0)
    assert noise["epsilon"] == 0.0
    perfect = np.where(labels == 1, 1.0, 0.0) + rng.normal(0, 0.01, 400)
    e = epsilon_lower_bound(perfect, labels, seed=0)
    # 100 of 100 test members above, 0 of 100 non-members: ln(0.9705 / 0.0295) = 3.49
    lo, hi = clopper_pearson(100, 100)[0], clopper_pearson(0, 100)[1]
    assert e["epsilon"] == pytest.approx(math.log(lo / hi), abs=1e-3) and e["tp"] == 100
    # An inverted attack proves as much: the direction is chosen on the other half.
    assert epsilon_lower_bound(-perfect, labels, seed=0)["epsilon"] == e["epsilon"]
