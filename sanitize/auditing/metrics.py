"""Membership-inference metrics: ROC AUC, TPR at low FPR, and bootstrap confidence intervals.

Scores are oriented so that higher = more likely a member (label 1).

- AUC is the Mann-Whitney probability that a random member outscores a random non-member, ties
  counting one half (identical to the trapezoidal ROC area).
- TPR at an FPR bound is the best TPR over thresholds whose FPR is <= the bound (Carlini et al.,
  "Membership Inference Attacks From First Principles"): never interpolated and never the
  nearest ROC point, which could sit above the bound.
- A TPR at FPR f needs at least 1/f non-members: with fewer, the smallest non-zero FPR the sample
  can show is already above f, so the only honest answer is "not measurable".
- 95% CIs are percentile bootstraps resampling members and non-members separately (stratified),
  so every resample keeps the class sizes and the FPR resolution of the original sample.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import rankdata

FPR_BOUNDS = (0.1, 0.01, 0.001)


def _split(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels).astype(bool)
    if s.shape != y.shape or s.ndim != 1:
        raise ValueError("scores and labels must be 1-D arrays of the same length")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores contain NaN or infinity")
    pos, neg = s[y], s[~y]
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError("need at least one member and one non-member")
    return pos, neg


def auc_from_split(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """AUC for one sample ([n]) or a batch of samples ([B, n]) via mid-ranks (ties = 1/2)."""
    pos, neg = np.atleast_2d(pos), np.atleast_2d(neg)
    ranks = rankdata(np.concatenate([pos, neg], axis=1), axis=1)
    n_pos, n_neg = pos.shape[1], neg.shape[1]
    u = ranks[:, :n_pos].sum(axis=1) - n_pos * (n_pos + 1) / 2
    return u / (n_pos * n_neg)


def roc_auc(scores, labels) -> float:
    pos, neg = _split(scores, labels)
    return float(auc_from_split(pos, neg)[0])


def roc_curve(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) at every distinct threshold, from (0, 0) to (1, 1). A member is predicted
    when score >= threshold, so tied scores enter together (one ROC point per distinct value)."""
    pos, neg = _split(scores, labels)
    return _roc_from_split(pos, neg)


def _roc_from_split(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    thresholds = np.unique(np.concatenate([pos, neg]))[::-1]
    pos_sorted, neg_sorted = np.sort(pos), np.sort(neg)
    # Count of scores >= t = n - (number strictly below t).
    tp = len(pos) - np.searchsorted(pos_sorted, thresholds, side="left")
    fp = len(neg) - np.searchsorted(neg_sorted, thresholds, side="left")
    tpr = np.concatenate([[0.0], tp / len(pos)])
    fpr = np.concatenate([[0.0], fp / len(neg)])
    return fpr, tpr


def tpr_at_fpr_from_split(pos: np.ndarray, neg: np.ndarray, bound: float) -> float:
    fpr, tpr = _roc_from_split(pos, neg)
    ok = fpr <= bound + 1e-12
    return float(tpr[ok].max())  # (0, 0) always qualifies


def tpr_at_fpr(scores, labels, bound: float) -> float:
    """Best TPR among thresholds with FPR <= bound (no interpolation)."""
    pos, neg = _split(scores, labels)
    return tpr_at_fpr_from_split(pos, neg, bound)


def leakage(auc: float) -> float:
    """How much an AUC reveals, whichever way it points: an attack at 0.2 separates members
    as well as one at 0.8 (flip its sign), so both read as 0.8. Verdicts use this."""
    return 0.5 + abs(auc - 0.5)


# Below this many members or non-members an AUC says nothing: with one member it is 0 or 1
# by the luck of one draw, and the bootstrap interval covers most of [0, 1].
MIN_PER_CLASS = 10


def strongest_attack(metrics: dict[str, AttackMetrics]) -> str | None:
    """The attack whose AUC is farthest from 0.5, in either direction (`leakage`)."""
    return max(metrics, key=lambda a: leakage(metrics[a].auc.value)) if metrics else None


def sample_too_small(n_members: int, n_nonmembers: int) -> str | None:
    """The reason AUCs of this sample are not measurable, or None when they are."""
    if n_members >= MIN_PER_CLASS and n_nonmembers >= MIN_PER_CLASS:
        return None
    return (f"not measurable: {n_members} members and {n_nonmembers} non-members; an AUC "
            f"needs at least {MIN_PER_CLASS} of each")


def measurable(n_nonmembers: int, bound: float) -> bool:
    """Can a sample with this many non-members show an FPR at or below `bound` other than 0?"""
    return n_nonmembers * bound >= 1 - 1e-9


@dataclass
class Estimate:
    value: float | None  # None: not measurable with this sample
    ci_low: float | None = None
    ci_high: float | None = None
    note: str = ""

    def to_json(self) -> dict:
        out = {"value": self.value, "ci95": [self.ci_low, self.ci_high]}
        if self.note:
            out["note"] = self.note
        return out

    def fmt(self, digits: int = 3) -> str:
        if self.value is None:
            return "n/a"
        if self.ci_low is None:
            return f"{self.value:.{digits}f}"
        return f"{self.value:.{digits}f} [{self.ci_low:.{digits}f}, {self.ci_high:.{digits}f}]"


@dataclass
class AttackMetrics:
    n_members: int
    n_nonmembers: int
    auc: Estimate
    tpr: dict[float, Estimate] = field(default_factory=dict)  # FPR bound -> TPR

    def to_json(self) -> dict:
        return {"n_members": self.n_members, "n_nonmembers": self.n_nonmembers,
                "auc": self.auc.to_json(),
                "tpr_at_fpr": {_bound_key(b): e.to_json() for b, e in self.tpr.items()}}


def _bound_key(bound: float) -> str:
    return f"{bound * 100:g}%"


def not_measurable_note(bound: float, n_nonmembers: int) -> str:
    need = int(np.ceil(1 / bound - 1e-9))
    return f"not measurable: needs >= {need} non-members, have {n_nonmembers}"


def evaluate(scores, labels, bounds=FPR_BOUNDS, n_boot: int = 1000, seed: int = 0,
             ci: float = 0.95) -> AttackMetrics:
    """AUC and TPR@FPR with stratified percentile-bootstrap CIs (n_boot=0: no CIs)."""
    pos, neg = _split(scores, labels)
    rng = np.random.default_rng(seed)
    lo_q, hi_q = (1 - ci) / 2 * 100, (1 + ci) / 2 * 100
    if n_boot > 0:
        bi_pos = rng.integers(0, len(pos), size=(n_boot, len(pos)))
        bi_neg = rng.integers(0, len(neg), size=(n_boot, len(neg)))
        boot_auc = auc_from_split(pos[bi_pos], neg[bi_neg])
        auc = Estimate(float(auc_from_split(pos, neg)[0]),
                       float(np.percentile(boot_auc, lo_q)), float(np.percentile(boot_auc, hi_q)))
    else:
        auc = Estimate(float(auc_from_split(pos, neg)[0]))
    auc.note = sample_too_small(len(pos), len(neg)) or ""
    tprs: dict[float, Estimate] = {}
    for bound in bounds:
        if not measurable(len(neg), bound):
            tprs[bound] = Estimate(None, note=not_measurable_note(bound, len(neg)))
            continue
        value = tpr_at_fpr_from_split(pos, neg, bound)
        if n_boot > 0:
            boot = np.array([tpr_at_fpr_from_split(pos[bi_pos[b]], neg[bi_neg[b]], bound)
                             for b in range(n_boot)])
            tprs[bound] = Estimate(value, float(np.percentile(boot, lo_q)),
                                   float(np.percentile(boot, hi_q)))
        else:
            tprs[bound] = Estimate(value)
    return AttackMetrics(len(pos), len(neg), auc, tprs)


def clopper_pearson(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """One-sided (1 - alpha) Clopper-Pearson bounds on a binomial rate: (lower, upper)."""
    from scipy.stats import beta

    lower = 0.0 if k == 0 else float(beta.ppf(alpha, k, n - k + 1))
    upper = 1.0 if k == n else float(beta.ppf(1 - alpha, k + 1, n - k))
    return lower, upper


def _epsilon(tp: int, n_pos: int, fp: int, n_neg: int, alpha: float) -> float:
    """The (eps, delta=0) lower bound that a test with these counts proves: the larger of
    ln(TPR/FPR) and ln((1-FPR)/(1-TPR)) at their pessimistic confidence bounds; 0 if neither
    is positive."""
    tpr_lo, _ = clopper_pearson(tp, n_pos, alpha)
    _, fpr_hi = clopper_pearson(fp, n_neg, alpha)
    best = 0.0
    if tpr_lo > 0 and fpr_hi > 0:
        best = max(best, math.log(tpr_lo / fpr_hi))
    if tpr_lo < 1 and fpr_hi < 1:
        best = max(best, math.log((1 - fpr_hi) / (1 - tpr_lo)))
    return best


def epsilon_lower_bound(scores, labels, seed: int = 0, alpha: float = 0.05) -> dict:
    """Empirical privacy-loss lower bound, as DP auditing reports it (Jagielski et al. 2020,
    Nasr et al. 2021): the score's direction and threshold are chosen on one half of the
    members and non-members, and the true and false positive counts of the other half give
    eps_lb at confidence 1 - alpha (Clopper-Pearson), delta = 0. Choosing on the half that is
    then not used keeps the bound honest; it is 0 when the test proves nothing."""
    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels)
    rng = np.random.default_rng(seed)
    halves = {}
    for cls in (0, 1):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        halves[cls] = (idx[: len(idx) // 2], idx[len(idx) // 2:])
    fit = np.concatenate([halves[0][0], halves[1][0]])
    test = np.concatenate([halves[0][1], halves[1][1]])
    if min(len(halves[0][0]), len(halves[1][0]), len(halves[0][1]), len(halves[1][1])) == 0:
        return {"epsilon": 0.0, "note": "not measurable: too few members or non-members"}

    def counts(s, y, t):
        return int(((s >= t) & (y == 1)).sum()), int((y == 1).sum()), \
            int(((s >= t) & (y == 0)).sum()), int((y == 0).sum())

    best = (-1.0, 1.0, 0.0)  # (eps on the fit half, direction, threshold)
    for direction in (1.0, -1.0):
        s = direction * scores[fit]
        u = np.unique(s)
        # Midpoints between neighbouring scores: a threshold at a fit score itself would sit
        # on the fit half's edge and lose test points just beside it.
        for t in (u[:-1] + u[1:]) / 2:
            eps = _epsilon(*counts(s, labels[fit], t), alpha)
            if eps > best[0]:
                best = (eps, direction, float(t))
    _, direction, threshold = best
    tp, n_pos, fp, n_neg = counts(direction * scores[test], labels[test], threshold)
    return {"epsilon": round(_epsilon(tp, n_pos, fp, n_neg, alpha), 4),
            "confidence": 1 - alpha, "delta": 0.0, "tp": tp, "members": n_pos, "fp": fp,
            "nonmembers": n_neg}
