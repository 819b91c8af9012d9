"""The membership-inference attacks. Each is a small class: `score(features) -> [n] array`,
HIGHER = MORE LIKELY A MEMBER. They only read `Features` (forward passes happen once, in
features.py / spv.py), and `needs` tells the orchestrator which features to compute.

Formulas (NLL = mean negative log-likelihood per trainable token):
- loss       -NLL(x)                                             (Yeom et al. 2018)
- zlib       -NLL(x) / zlib(x), zlib = compressed UTF-8 bytes of the trainable text
                                                                 (Carlini et al. 2021)
- lowercase  NLL(lower(x)) / NLL(x): the model finds the exact casing it was trained on much
             likelier than the lowercased text (Carlini et al. 2021 rank by the ratio of the two
             perplexities; we use the ratio of log-perplexities, i.e. of NLLs)
- mink       mean of the lowest k% token log-probs, k = 20% of the tokens (Shi et al. 2024)
- minkpp     per token z_t = (log p(x_t) - mu_t) / sigma_t with mu_t = sum_v p(v) log p(v) and
             sigma_t^2 = sum_v p(v) log^2 p(v) - mu_t^2; mean of the lowest k% z_t
             (Zhang et al. 2025, the official probability-weighted form)
- reference  NLL_base(x) - NLL_target(x): how much fine-tuning lowered the loss, calibrated by
             the untouched base model (Carlini et al. 2022; LoRA-Leak)
- neighbourhood  mean_j NLL(x_j) - NLL(x), x_j the refilled copies of perturb.py
                                                                 (Mattern et al. 2023)
- spv        -(SV_target(x) - SV_reference(x)), SV(x) = NLL(x) - mean_j NLL(x_j) under each
             model, the reference trained on the target's self-prompted samples (spv.py)
                                                                 (Fu et al. 2024)
- ensemble   logistic regression over the other scores, out-of-fold predictions only
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import InputError
from .config import ALL_ATTACKS
from .features import Features, nll

_EPS = 1e-12


def lowest_k_mean(values: np.ndarray, k: float) -> float:
    """Mean of the lowest k fraction of `values` (at least one value)."""
    n = max(1, math.floor(len(values) * k))
    return float(np.sort(values)[:n].mean())


class Attack:
    name: str = ""
    needs: frozenset[str] = frozenset()

    def score(self, f: Features) -> np.ndarray:
        raise NotImplementedError


class Loss(Attack):
    name = "loss"

    def score(self, f):
        return -nll(f.target)


class Zlib(Attack):
    name = "zlib"

    def score(self, f):
        return -nll(f.target) / np.maximum(f.zlib_bytes, 1.0)


class Lowercase(Attack):
    name, needs = "lowercase", frozenset({"lower"})

    def score(self, f):
        return nll(f.target_lower) / np.maximum(nll(f.target), _EPS)


class MinK(Attack):
    name = "mink"

    def __init__(self, k: float = 0.2):
        self.k = k

    def score(self, f):
        return np.array([lowest_k_mean(s.logp, self.k) for s in f.target])


def minkpp_token_scores(logp: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    return (logp - mu) / np.maximum(sigma, _EPS)


class MinKPlusPlus(Attack):
    name = "minkpp"

    def __init__(self, k: float = 0.2):
        self.k = k

    def score(self, f):
        out = []
        for s in f.target:
            if s.mu is None or s.sigma is None:
                raise ValueError("Min-K%++ needs token stats computed with_distribution=True")
            out.append(lowest_k_mean(minkpp_token_scores(s.logp, s.mu, s.sigma), self.k))
        return np.array(out)


class Reference(Attack):
    name, needs = "reference", frozenset({"reference"})

    def score(self, f):
        return nll(f.reference) - nll(f.target)


class Neighbourhood(Attack):
    name, needs = "neighbourhood", frozenset({"neighbours"})

    def score(self, f):
        return f.neighbour_nll.mean(axis=1) - nll(f.target)


class SPV(Attack):
    name, needs = "spv", frozenset({"spv"})

    def score(self, f):
        return -(f.spv_target - f.spv_reference)


def out_of_fold(X: np.ndarray, y: np.ndarray, folds: int, seed: int, fit_predict) -> np.ndarray:
    """Predictions where every row is scored by a model fit on the other folds only.

    `fit_predict(X_train, y_train, X_test) -> scores`. Folds are stratified, so each keeps the
    member/non-member ratio; with fewer rows per class than folds we use as many folds as the
    smaller class allows (at least 2)."""
    from sklearn.model_selection import StratifiedKFold

    k = min(folds, int(np.bincount(y).min()))
    if k < 2:
        raise ValueError("the ensemble needs at least 2 members and 2 non-members")
    pred = np.full(len(y), np.nan)
    for train_idx, test_idx in StratifiedKFold(k, shuffle=True, random_state=seed).split(X, y):
        pred[test_idx] = fit_predict(X[train_idx], y[train_idx], X[test_idx])
    return pred


def logistic_fit_predict(X_train, y_train, X_test):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    clf.fit(X_train, y_train)
    return clf.decision_function(X_test)


class Ensemble(Attack):
    """Supervised: it learns from membership labels, so it shows how much the single scores
    together reveal to an attacker who knows some members. Every record is scored by a model
    that never saw it (stratified k-fold), so its AUC is not inflated by fitting."""

    name = "ensemble"

    def __init__(self, folds: int = 5):
        self.folds = folds

    def score(self, f):
        names = sorted(f.prior_scores)
        if not names:
            raise ValueError("the ensemble needs at least one other attack")
        X = np.column_stack([f.prior_scores[n] for n in names])
        return out_of_fold(X, f.labels.astype(int), self.folds, f.seed, logistic_fit_predict)


def make_attacks(names, k: float = 0.2, folds: int = 5) -> list[Attack]:
    """Attack objects in the canonical order (the ensemble last: it reads the others)."""
    unknown = [n for n in names if n not in ALL_ATTACKS]
    if unknown:
        raise InputError(f"unknown attack(s) {', '.join(unknown)}; choose from "
                         f"{', '.join(ALL_ATTACKS)}")
    registry = {"loss": Loss, "zlib": Zlib, "lowercase": Lowercase,
                "mink": lambda: MinK(k), "minkpp": lambda: MinKPlusPlus(k),
                "reference": Reference, "neighbourhood": Neighbourhood, "spv": SPV,
                "ensemble": lambda: Ensemble(folds)}
    return [registry[n]() for n in ALL_ATTACKS if n in set(names)]


def run_attacks(attacks: list[Attack], f: Features) -> dict[str, np.ndarray]:
    scores: dict[str, np.ndarray] = {}
    for a in attacks:
        if a.name == "ensemble":
            f.prior_scores = dict(scores)
        scores[a.name] = _no_nan(np.asarray(a.score(f), dtype=np.float64))
    return scores


def _no_nan(s: np.ndarray) -> np.ndarray:
    """A degenerate text must not break the ranking: NaN becomes the least member-like score."""
    bad = np.isnan(s)
    if bad.any():
        s = np.where(bad, s[~bad].min() if (~bad).any() else 0.0, s)
    return s
