"""Attack formulas pinned by hand, memorisation detected by every attack on a tiny model, and an
ensemble that is never scored on data it was fit on."""
import copy
import dataclasses
import math

import numpy as np
import pytest
import torch

from sanitize.auditing.attacks import (MinK, MinKPlusPlus, lowest_k_mean, make_attacks,
                                    out_of_fold, run_attacks)
from sanitize.auditing.features import (Features, StatsCache, build_textset, copies_nll,
                                     lowercase_stats, nll)
from sanitize.auditing.metrics import evaluate, roc_auc
from sanitize.auditing.perturb import refill_perturbations
from sanitize.auditing.spv import self_prompt_reference, self_prompts, variation
from sanitize.config import TrainConfig
from sanitize.encoding import Encoded, encode_records
from sanitize.errors import InputError
from sanitize.records import make_record
from sanitize.token_stats import TokenStats, token_stats
from sanitize.train import fine_tune


class FixedDistribution(torch.nn.Module):
    """A 'model' whose next-token distribution is p = (1/2, 1/4, 1/4) at every position."""

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids, attention_mask=None):
        logits = torch.log(torch.tensor([0.5, 0.25, 0.25]))
        return type("Out", (), {"logits": logits.expand(*input_ids.shape, 3).clone()})


def test_minkpp_hand_computed_on_three_token_vocabulary():
    # log p = (-ln2, -2ln2, -2ln2); mu = 1/2(-ln2) + 1/2(-2ln2) = -1.5 ln2;
    # E[log^2 p] = 1/2 ln2^2 + 1/2 4 ln2^2 = 2.5 ln2^2 -> sigma^2 = 0.25 ln2^2, sigma = 0.5 ln2.
    # z(token 0) = (-ln2 + 1.5ln2) / (0.5ln2) = +1;  z(token 1 or 2) = -1.
    ids = [0, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0]  # 10 predicted tokens: two unlikely ones
    enc = Encoded(ids, [False] + [True] * 10, False, len(ids))
    (st,) = token_stats(FixedDistribution(), [enc], pad_id=0, with_distribution=True)
    ln2 = math.log(2)
    np.testing.assert_allclose(st.mu, -1.5 * ln2)
    np.testing.assert_allclose(st.sigma, 0.5 * ln2)
    f = Features(labels=np.array([1]), target=[st], zlib_bytes=np.array([1.0]))
    # k = 20% of 10 tokens = the 2 lowest: z = (-1, -1) -> -1; log p = (-2ln2, -2ln2).
    assert MinKPlusPlus(0.2).score(f)[0] == pytest.approx(-1.0)
    assert MinK(0.2).score(f)[0] == pytest.approx(-2 * ln2)
    # k = 50%: five lowest z = (-1, -1, 1, 1, 1) -> 0.2
    assert MinKPlusPlus(0.5).score(f)[0] == pytest.approx(0.2)


def test_lowest_k_is_a_fraction_of_tokens_with_at_least_one():
    v = np.arange(10.0)
    assert lowest_k_mean(v, 0.2) == pytest.approx(0.5)  # 2 of 10
    assert lowest_k_mean(v[:3], 0.2) == pytest.approx(0.0)  # floor(0.6) -> at least 1


def test_unknown_attack_is_an_input_error():
    with pytest.raises(InputError):
        make_attacks(["loss", "nope"])


def test_ensemble_never_scores_a_row_it_was_fit_on():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), np.array([0, 1] * 20)
    seen = []

    def spy(X_train, y_train, X_test):
        train_rows = {tuple(r) for r in X_train}
        assert not train_rows & {tuple(r) for r in X_test}
        seen.append(len(X_test))
        return X_test[:, 0]

    pred = out_of_fold(X, y, 5, 0, spy)
    assert sum(seen) == 40 and len(seen) == 5 and not np.isnan(pred).any()


def test_ensemble_on_pure_noise_stays_near_chance():
    # 60 noise features for 80 rows: a classifier scored on its own training rows separates them
    # perfectly; out-of-fold it cannot.
    rng = np.random.default_rng(1)
    n = 80
    labels = np.array([1] * 40 + [0] * 40)
    f = Features(labels=labels, target=[], zlib_bytes=np.ones(n), seed=0)
    f.prior_scores = {f"s{i}": rng.normal(size=n) for i in range(60)}
    (ens,) = make_attacks(["ensemble"])
    oof = ens.score(f)
    assert roc_auc(oof, labels) < 0.75
    from sanitize.auditing.attacks import logistic_fit_predict
    X = np.column_stack(list(f.prior_scores.values()))
    assert roc_auc(logistic_fit_predict(X, labels, X), labels) > 0.9  # what in-sample would say


def _sentences(n: int, seed: int) -> list[str]:
    """n distinct made-up sentences of one shape: members and non-members differ only by chance
    draws of words and numbers, so an attack can tell them apart only through memorisation."""
    import random

    rng = random.Random(seed)
    adjectives = "quiet amber violet copper silver green brittle hollow crimson distant".split()
    nouns = "kite lantern kettle ledger valve spoon balloon drawer receipt compass".split()
    places = "Riverbank Kyoto Lisbon Duluth Porto Harbour Mill Kappa Lambda Ottilie".split()
    verbs = "reported drifted whistled floated recorded measured logged counted".split()
    out: set[str] = set()
    while len(out) < n:
        out.add(f"A {rng.choice(adjectives)} {rng.choice(nouns)} near {rng.choice(places)} "
                f"{rng.choice(verbs)} {rng.randint(2, 99)}.{rng.randint(0, 9)} units at dawn.")
    return sorted(out)


# 16 + 16 strings: enough that an AUC's bootstrap interval can exclude chance (0.5) by a margin
# that does not hang on one library version's rounding (5 + 5 gave AUC steps of 0.04).
_ALL = _sentences(40, seed=7)
MEMBERS, NONMEMBERS, HELDOUT = _ALL[0:32:2], _ALL[1:32:2], _ALL[32:]


@pytest.fixture(scope="module")
def memorised():
    """A tiny model trained hard on MEMBERS, its untouched copy, and the features."""
    from sanitize.testing import tiny_lm

    lm = tiny_lm(seed=0)
    base = lm.model
    members = [make_record(i + 1, "", {"id": f"m{i}", "text": t}, "text", "x")
               for i, t in enumerate(MEMBERS)]
    nonmembers = [make_record(i + 1, "", {"id": f"n{i}", "text": t}, "text", "x")
                  for i, t in enumerate(NONMEMBERS)]
    from sanitize.datafile import Dataset

    ts = build_textset(Dataset("m", "text", members), Dataset("n", "text", nonmembers),
                       lm.tokenizer, 128)
    cfg = TrainConfig(epochs=40, learning_rate=3e-3, batch_size=8, max_length=128, seed=0)
    target = fine_tune(copy.deepcopy(base), ts.encoded[:len(MEMBERS)],
                       lm.tokenizer.pad_token_id, cfg)
    return lm, base, target, ts, cfg


@pytest.fixture(scope="module")
def attack_features(memorised):
    """Every attack's features against the memorising target."""
    lm, base, target, ts, cfg = memorised
    pad, eos = lm.tokenizer.pad_token_id, lm.tokenizer.eos_token_id
    cache = StatsCache()
    f = Features(labels=ts.labels, zlib_bytes=ts.zlib_bytes, seed=0,
                 target=cache.stats("t", target, ts.encoded, pad, with_distribution=True))
    f.reference = cache.stats("b", base, ts.encoded, pad)
    f.target_lower = lowercase_stats(cache, "t", target, ts, lm.tokenizer, 128, pad, 8)
    copies = refill_perturbations(base, ts.encoded, pad, 8, 0.15, seed=0)
    f.neighbour_nll = copies_nll(cache, "t", target, copies, pad, 8)
    # Self-prompts from held-out sentences of the same shape, never from audited ones.
    heldout = encode_records([make_record(i + 1, "", {"id": f"h{i}", "text": t}, "text", "x")
                              for i, t in enumerate(HELDOUT)], lm.tokenizer, 128)
    # One sample per member, as the audit draws them (run.py).
    prompts = self_prompts(heldout, int(ts.labels.sum()), eos, 4)
    ref = self_prompt_reference(base, target, prompts, pad, eos,
                                TrainConfig(epochs=5, learning_rate=3e-3, batch_size=8, seed=0),
                                new_tokens=16, seed=0)
    f.spv_reference = variation(nll(cache.stats("r", ref, ts.encoded, pad)),
                                copies_nll(cache, "r", ref, copies, pad, 8))
    f.spv_target = variation(nll(f.target), f.neighbour_nll)
    return f


ALL_ATTACKS = ("loss", "zlib", "lowercase", "mink", "minkpp", "reference", "neighbourhood",
               "spv", "ensemble")


def above_chance(scores, labels) -> bool:
    """The attack separates members from non-members: the AUC's 95% bootstrap interval lies
    wholly above 0.5. A sign error (AUC below 0.5) or a signal of zero (0.5) fails it."""
    auc = evaluate(scores, labels, bounds=(), n_boot=2000, seed=0).auc
    return auc.ci_low > 0.5


# Attacks that read the target's likelihood of the text directly: a model that memorised its
# members outright gives them a near-perfect AUC.
LIKELIHOOD_ATTACKS = ("loss", "zlib", "lowercase", "mink", "minkpp", "reference", "ensemble")


def test_every_attack_ranks_memorised_strings_above_unseen(attack_features):
    f = attack_features
    scores = run_attacks(make_attacks(ALL_ATTACKS, folds=2), f)
    aucs = {name: roc_auc(s, f.labels) for name, s in scores.items()}
    assert set(aucs) == set(ALL_ATTACKS)
    for name, s in scores.items():
        assert np.isfinite(s).all(), name
        assert above_chance(s, f.labels), f"{name}: AUC {aucs[name]:.2f} is not above chance"
        if name in LIKELIHOOD_ATTACKS:
            assert aucs[name] >= 0.9, f"{name}: AUC {aucs[name]:.2f} ({aucs})"


def _spv_features(rng, n=32):
    """SV values as symmetric_variation returns them: members sit at a sharper likelihood peak
    under the target (more negative SV) than under the reference; non-members do not."""
    labels = np.array([1] * (n // 2) + [0] * (n // 2))
    reference = rng.normal(-0.05, 0.01, n)
    target = reference + rng.normal(0, 0.005, n) - 0.03 * labels
    return Features(labels=labels, target=[], zlib_bytes=np.ones(n), seed=0,
                    spv_target=target, spv_reference=reference)


def test_spv_ranks_sharper_peaks_higher_and_the_check_catches_a_broken_one():
    """SPV-MIA's promise: a text at a sharper peak under the target than under the reference
    scores higher. The check fails for a flipped sign, for a reference that calibrates nothing
    away (the target itself), and for a score that ignores the target."""
    (spv,) = make_attacks(["spv"])
    for seed in range(3):
        f = _spv_features(np.random.default_rng(seed))
        assert above_chance(spv.score(f), f.labels)
        assert not above_chance(-spv.score(f), f.labels)
        assert not above_chance(spv.score(dataclasses.replace(f, spv_reference=f.spv_target)),
                                f.labels)
        assert not above_chance(spv.score(dataclasses.replace(f, spv_target=f.spv_reference)),
                                f.labels)


def test_refill_perturbations_are_seeded_by_the_text_and_change_only_scored_tokens(memorised):
    lm, base, _, ts, _ = memorised
    pad = lm.tokenizer.pad_token_id
    a = refill_perturbations(base, ts.encoded, pad, 3, 0.3, seed=0)
    assert a == refill_perturbations(base, ts.encoded, pad, 3, 0.3, seed=0)
    c = refill_perturbations(base, list(reversed(ts.encoded)), pad, 3, 0.3, seed=0, batch_size=3)
    assert a == c[::-1]  # the same text gets the same copies, whatever its batch
    assert a != refill_perturbations(base, ts.encoded, pad, 3, 0.3, seed=1)
    for e, copies in zip(ts.encoded, a):
        assert len({tuple(p.input_ids) for p in copies}) == 3
        for p in copies:
            changed = [t for t, (x, y) in enumerate(zip(e.input_ids, p.input_ids)) if x != y]
            assert changed and all(e.trainable[t] for t in changed)
            assert len(changed) == max(1, round(0.3 * sum(e.trainable[1:])))
            assert p.trainable == e.trainable


def test_self_prompts_never_use_an_audited_record(memorised):
    lm, _, _, ts, _ = memorised
    heldout = encode_records([make_record(1, "", {"id": "h", "text": HELDOUT[0]}, "text", "x")],
                             lm.tokenizer, 128)
    prompts = self_prompts(heldout, 5, start_id=99, prompt_tokens=3)
    assert prompts == [heldout[0].input_ids[:heldout[0].trainable.index(True) + 3]] * 5
    assert self_prompts([], 4, start_id=99, prompt_tokens=3) == [[99]] * 4


def test_stats_cache_reuses_results(memorised, monkeypatch):
    lm, base, _, ts, _ = memorised
    cache = StatsCache()
    first = cache.stats("b", base, ts.encoded, lm.tokenizer.pad_token_id)
    import sanitize.auditing.features as feat
    monkeypatch.setattr(feat, "token_stats", lambda *a, **k: pytest.fail("recomputed"))
    again = cache.stats("b", base, ts.encoded, lm.tokenizer.pad_token_id)
    assert all(x is y for x, y in zip(first, again))
    assert isinstance(first[0], TokenStats)


def test_attacks_read_only_the_scored_window(tiny):
    """No membership at all (the untouched model is the 'target'); members differ only by a long
    tail past the 32-token window. Every cheap attack must stay at chance: the tail was never
    scored. Dividing by the whole text's zlib size (the old zlib) separates them perfectly."""
    import random
    import zlib as zlib_module

    from sanitize.datafile import Dataset

    rng = random.Random(3)
    words = "river stone cloud maple harbor signal copper meadow lantern violet".split()

    def head():
        return " ".join(rng.choice(words) for _ in range(12))

    members = [make_record(i + 1, "", {"id": f"m{i}", "text": head() + " " + " ".join(
        rng.choice(words) for _ in range(200))}, "text", "m") for i in range(20)]
    nonmembers = [make_record(i + 1, "", {"id": f"n{i}", "text": head()}, "text", "n")
                  for i in range(20)]
    tok, pad = tiny.tokenizer, tiny.tokenizer.pad_token_id
    ts = build_textset(Dataset("m", "text", members), Dataset("n", "text", nonmembers), tok, 32)
    cache = StatsCache()
    f = Features(labels=ts.labels, zlib_bytes=ts.zlib_bytes, seed=0,
                 target=cache.stats("t", tiny.model, ts.encoded, pad, with_distribution=True))
    f.target_lower = lowercase_stats(cache, "t", tiny.model, ts, tok, 32, pad, 8)
    scores = run_attacks(make_attacks(["loss", "zlib", "lowercase", "mink", "minkpp"]), f)
    for name, s in scores.items():
        auc = evaluate(s, ts.labels, bounds=(), n_boot=1000, seed=0).auc
        assert auc.ci_low <= 0.5 <= auc.ci_high, f"{name}: AUC {auc.fmt()} without membership"
    whole = np.array([len(zlib_module.compress(r.trainable_text().encode()))
                      for r in members + nonmembers], dtype=float)
    old_zlib = -np.array([s.nll for s in f.target]) / whole
    assert roc_auc(old_zlib, ts.labels) > 0.95  # what the whole-text zlib would have said
