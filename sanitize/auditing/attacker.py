"""One target at a time against a fixed member / non-member text set: the attack engine of
the audit (run.py) and of the benchmark. Token statistics are cached by model key, so what the
base model contributes is computed once however many targets are attacked."""
from __future__ import annotations

import contextlib
import gc
import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..batching import eval_batch_size
from ..encoding import Encoded
from ..progress import Log, no_log
from .attacks import make_attacks, run_attacks
from .config import AuditConfig
from .features import Features, StatsCache, TextSet, copies_nll, lowercase_stats, nll
from .metrics import AttackMetrics, evaluate, strongest_attack
from .perturb import refill_perturbations
from .spv import self_prompt_reference, self_prompts, variation

@dataclass
class ModelResult:
    label: str  # "original" / "protected" (dataset mode) or "model"
    description: str
    scores: dict[str, np.ndarray]
    metrics: dict[str, AttackMetrics]
    perplexity: float
    skipped: dict[str, str] = field(default_factory=dict)  # attack -> why it did not run
    train: dict = field(default_factory=dict)  # records, truncated, seconds
    stage_seconds: dict[str, float] = field(default_factory=dict)  # attack stage -> seconds

    def strongest(self) -> str | None:
        """The attack whose AUC is farthest from 0.5, in either direction (metrics.leakage)."""
        return strongest_attack(self.metrics)

    def inverted(self, attack: str) -> bool:
        """Does this attack rank non-members above members (AUC below 0.5)?"""
        return self.metrics[attack].auc.value < 0.5


def perplexity(stats) -> float:
    """exp(total NLL / total trainable tokens): token-weighted, like a trainer's eval loss."""
    total = sum(float(-s.logp.sum()) for s in stats)
    tokens = sum(len(s.logp) for s in stats)
    return math.exp(total / tokens)


class Attacker:
    """Attacks one target at a time against a fixed member/non-member text set.

    Token statistics are cached by model key, so the base model's (reference attack, base
    perplexity) are computed once however many targets are attacked; pass one `cache` to several
    attackers (e.g. a cheap and a full attack suite) to share them too."""

    def __init__(self, cfg: AuditConfig, ts: TextSet, tokenizer, base, base_key: str | None,
                 ppl_encoded: list[Encoded], log: Log = no_log,
                 cache: StatsCache | None = None, spv_heldout: list[Encoded] | None = None):
        self.cfg, self.ts, self.tok, self.base, self.base_key = cfg, ts, tokenizer, base, base_key
        self.ppl_encoded, self.log = ppl_encoded, log
        self.cache = cache if cache is not None else StatsCache()
        self.pad_id = tokenizer.pad_token_id
        self.eos_id = tokenizer.eos_token_id
        self.attacks = make_attacks(cfg.attacks, cfg.attack.mink_k, cfg.attack.ensemble_folds)
        # SPV-MIA's self-prompts come from held-out (never audited) records.
        self.spv_heldout = spv_heldout or []
        self.copies: list[list[Encoded]] | None = None  # perturb.py, shared by all targets

    def base_perplexity(self) -> float | None:
        if self.base is None:
            return None
        return perplexity(self.cache.stats(self.base_key, self.base, self.ppl_encoded,
                                           self.pad_id,
                                           eval_batch_size(self.cfg.eval_batch_size, self.base)))

    def attack(self, target, key: str, label: str, description: str) -> ModelResult:
        cfg, ts, a = self.cfg, self.ts, self.cfg.attack
        bs = eval_batch_size(cfg.eval_batch_size, target)
        skipped: dict[str, str] = {}
        if self.base is None:
            for x in self.attacks:
                if x.needs & {"reference", "spv"}:
                    skipped[x.name] = "needs a reference (base) model: pass --reference"
        others = [x for x in self.attacks if x.name not in skipped and x.name != "ensemble"]
        if "ensemble" in cfg.attacks and not others:
            skipped["ensemble"] = "needs at least one other attack to combine"
        elif "ensemble" in cfg.attacks and min(ts.labels.sum(), (ts.labels == 0).sum()) < 2:
            skipped["ensemble"] = "needs at least 2 members and 2 non-members for its folds"
        attacks = [x for x in self.attacks if x.name not in skipped]
        stage = StageTimer(self.log, label)
        with stage(f"token statistics of {len(ts)} texts"):
            f = Features(labels=ts.labels, zlib_bytes=ts.zlib_bytes, seed=cfg.seed,
                         target=self.cache.stats(key, target, ts.encoded, self.pad_id, bs,
                                                 with_distribution=True))
        run = {n for x in attacks for n in x.needs}
        if "reference" in run:
            with stage("base model statistics (reused across targets)"):
                f.reference = self.cache.stats(self.base_key, self.base, ts.encoded,
                                               self.pad_id, bs)
        if "lower" in run:
            with stage("lowercased texts"):
                f.target_lower = lowercase_stats(self.cache, key, target, ts, self.tok,
                                                 cfg.train.max_length, self.pad_id, bs)
        if run & {"neighbours", "spv"}:
            copies = self._copies(target, stage)
            with stage(f"{a.neighbours} refilled copies per text under the target"):
                f.neighbour_nll = copies_nll(self.cache, key, target, copies, self.pad_id, bs)
        if "spv" in run:
            f.spv_target = variation(nll(f.target), f.neighbour_nll)
            f.spv_reference = self._spv_reference(target, key, copies, stage)
        with stage("perplexity"):
            ppl = perplexity(self.cache.stats(key, target, self.ppl_encoded, self.pad_id, bs))
        scores = run_attacks(attacks, f)
        metrics = {name: evaluate(s, ts.labels, n_boot=cfg.bootstrap, seed=cfg.seed)
                   for name, s in scores.items()}
        return ModelResult(label, description, scores, metrics, ppl, skipped,
                           stage_seconds=stage.seconds)

    def _copies(self, target, stage: "StageTimer") -> list[list[Encoded]]:
        """The refilled copies (perturb.py), made once by the base model for every target; in
        model mode without a base model, by the target itself."""
        if self.copies is None:
            a = self.cfg.attack
            maker = self.base if self.base is not None else target
            with stage(f"making {a.neighbours} refilled copies per text"):
                self.copies = refill_perturbations(
                    maker, self.ts.encoded, self.pad_id, a.neighbours, a.perturb_rate,
                    self.cfg.seed, eval_batch_size(self.cfg.eval_batch_size, maker))
        return self.copies

    def _spv_reference(self, target, key: str, copies, stage: "StageTimer"):
        """SV under SPV-MIA's self-prompt reference (spv.py), trained for this target."""
        a, ts = self.cfg.attack, self.ts
        bs = eval_batch_size(self.cfg.eval_batch_size, target)
        # A start-of-document token prompts an unconditional sample when no held-out text
        # gives prompts: BOS where the tokenizer adds one, else EOS (the document separator).
        bos = self.tok.bos_token_id
        adds_bos = bos is not None and self.tok("x")["input_ids"][:1] == [bos]
        # One sample per member: the reference then trains on as many texts, for as many
        # epochs, as the target did (dataset mode; in model mode the member count is the best
        # estimate of the target's training set we have).
        n_samples = max(1, int(ts.labels.sum()))
        prompts = self_prompts(self.spv_heldout, n_samples, bos if adds_bos else self.eos_id,
                               a.spv_prompt_tokens)
        with stage(f"SPV-MIA: {len(prompts)} self-prompt samples and reference fine-tune"):
            ref = self_prompt_reference(self.base, target, prompts, self.pad_id, self.eos_id,
                                        self.cfg.train, a.spv_new_tokens, self.cfg.seed,
                                        a.spv_epochs, a.spv_gen_batch_size)
        with stage("SPV-MIA: texts and copies under the reference"):
            ref_key = f"spv-reference:{key}"
            clean = nll(self.cache.stats(ref_key, ref, ts.encoded, self.pad_id, bs))
            moved = copies_nll(self.cache, ref_key, ref, copies, self.pad_id, bs)
        del ref
        gc.collect()
        return variation(clean, moved)


class StageTimer:
    """Times and logs each stage of one model's attack (`with stage("name"): ...`)."""

    def __init__(self, log: Log, label: str):
        self.log, self.label = log, label
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str):
        self.log(f"[{self.label}] {name}")
        t = time.perf_counter()
        yield
        took = time.perf_counter() - t
        self.seconds[name] = round(self.seconds.get(name, 0.0) + took, 2)
        self.log(f"[{self.label}] {name}: {took:.1f} s")
