"""Targets and the attacks on them: one fine-tune per setting (`sanitize.train.fine_tune`),
attacked by the audit's own `Attacker` against the domain's fixed member/non-member texts."""
from __future__ import annotations

import copy
import time

from .common import indented_log

CHEAP_ATTACKS = ("loss", "zlib", "lowercase", "mink", "minkpp", "reference")
FULL_ATTACKS = CHEAP_ATTACKS + ("neighbourhood", "spv", "ensemble")


def attack_titles() -> dict[str, str]:
    """The audit report's attack titles without their parameter note ("Min-K% (20%)" ->
    "Min-K%"): the benchmark's tables are narrow, and one table of names stays the library's."""
    from sanitize.auditing.report import TITLES

    return {name: title.split(" (")[0] for name, title in TITLES.items()}


TITLES = attack_titles()


def metrics_json(res) -> dict:
    """ModelResult -> {attack: {auc, auc_ci95, tpr_1pct, tpr_1pct_ci95, tpr_10pct, note}}."""
    return _attacks_json(res.metrics)


def groups_json(res, labels, groups: list[str], cfg) -> dict | None:
    """The attacks on each group of members (auditing.groups) against all non-members, as
    {"members": {group: n}, "groups": {group: metrics_json}}; None when no member was removed
    (then the whole set is what is in training)."""
    from sanitize.auditing.groups import REMOVED, group_metrics

    if REMOVED not in groups:
        return None
    by_group = group_metrics(res.scores, labels, groups, cfg.bootstrap, cfg.seed)
    return {"members": {g: groups.count(g) for g in dict.fromkeys(groups)},
            "groups": {g: _attacks_json(m) for g, m in by_group.items()}}


def _attacks_json(metrics: dict) -> dict:
    out = {}
    for name, m in metrics.items():
        t1, t10 = m.tpr.get(0.01), m.tpr.get(0.1)
        out[name] = {"auc": m.auc.value, "auc_ci95": [m.auc.ci_low, m.auc.ci_high],
                     "tpr_1pct": t1.value if t1 else None,
                     "tpr_1pct_ci95": [t1.ci_low, t1.ci_high] if t1 else None,
                     "tpr_1pct_note": t1.note if t1 else "",
                     "tpr_10pct": t10.value if t10 else None}
    return out


def strongest(attacks: dict) -> str | None:
    """The attack farthest from 0.5 either way: the audit's own verdict (metrics.leakage)."""
    from sanitize.auditing.metrics import leakage

    ok = {k: v for k, v in attacks.items() if v.get("auc") is not None}
    return max(ok, key=lambda k: leakage(ok[k]["auc"])) if ok else None


def train_target(base, records: list, train_cfg):
    """A copy of the base model fine-tuned on `records`, as the audit trains its targets."""
    from sanitize.encoding import encode_records
    from sanitize.train import fine_tune

    enc = encode_records(records, base.tokenizer, train_cfg.max_length)
    return fine_tune(copy.deepcopy(base.model), enc, base.tokenizer.pad_token_id, train_cfg)


class DomainAttacks:
    """The attackers of one domain, built on first use: the cheap suite for every setting and
    the full suite for a few. One `StatsCache` is shared by both, so the base model's token
    statistics (reference attack, base perplexity) are computed once per domain; this is what
    `sanitize.auditing.run.audit_datasets` does for its two targets."""

    def __init__(self, base, split, cheap_cfg, full_cfg):
        self.base, self.split = base, split
        self.cheap_cfg, self.full_cfg = cheap_cfg, full_cfg
        self._cheap = self._full = None
        self.base_perplexity: float | None = None
        self.base_seconds: float | None = None

    def _attacker(self, cfg):
        from sanitize.auditing.attacker import Attacker

        tok = self.base.tokenizer
        return Attacker(cfg, self.textset, tok, self.base.model, "base", self.validation,
                        indented_log, cache=self.stats, spv_heldout=self.validation)

    def cheap(self):
        if self._cheap is None:
            from sanitize.auditing.features import StatsCache, build_textset
            from sanitize.encoding import encode_records

            tok, window = self.base.tokenizer, self.cheap_cfg.train.max_length
            self.textset = build_textset(self.split.members, self.split.nonmembers, tok, window)
            self.validation = encode_records(self.split.validation.records, tok, window)
            self.stats = StatsCache()
            self._cheap = self._attacker(self.cheap_cfg)
            t = time.time()
            self.base_perplexity = self._cheap.base_perplexity()
            self.base_seconds = round(time.time() - t, 1)
        return self._cheap

    def groups_json(self, res, groups: list[str], full: bool) -> dict | None:
        """`groups_json` of one attacked target, with this suite's bootstrap settings."""
        cfg = self.full_cfg if full else self.cheap_cfg
        return groups_json(res, self.textset.labels, groups, cfg)

    def full(self):
        if self._full is None:
            self.cheap()  # the text set, validation encodings and shared statistics
            self._full = self._attacker(self.full_cfg)
        return self._full
