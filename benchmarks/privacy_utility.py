#!/usr/bin/env python
"""Privacy / utility / speed benchmark of soft-sanitize on real data (benchmarks/RESULTS.md).

For each domain of ../shared/data/mimir (text, code, chat) a fixed-seed shuffle gives members (the
fine-tuning set), disjoint non-members and disjoint validation texts. For each setting the members
are protected, a target model is fine-tuned on the result (same TrainConfig and seed for every
setting), and the target is attacked with the ORIGINAL member texts against the non-members;
validation perplexity measures utility.

Settings (any ratio works: `soft-0.7`, `random-0.3`):
  no-defense   the members as they are
  soft-R       SOFT: the riskiest ceil(R*n) records (warm-up score, duplicate groups whole) are
               paraphrased; records whose paraphrase fails the gate are dropped (library default)
  random-R     the same paraphraser and gate on a seeded random selection of the same size
               (duplicate groups whole, via `sanitize.selection.select` over seeded random risks)
  dedup-only   every duplicate group (exact or near-duplicate, from the scoring stage) keeps its
               first record; nothing is paraphrased

Shared work: the original-data target is trained once per domain; the warm-up scoring runs once
per domain and is cached on disk; paraphrases live in one content-addressed SQLite cache, so
soft-1.0 regenerates nothing soft-0.5 already made; the base model's token statistics (reference
attack, base perplexity) are computed once per domain; a setting whose training set is
byte-identical to another's (e.g. dedup-only on deduplicated data) reuses its measurements.
Each setting's result is cached as CACHE/<domain>/<setting>.json together with the hash of
everything that determines it (data split, configs, library source), so an interrupted run
resumes and a changed config or library recomputes.

The cheap attacks (LOSS, zlib, lowercase, Min-K%, Min-K%++, reference) run for every setting; the
full suite (adds neighbourhood, SPV-MIA, ensemble) for no-defense and the best SOFT setting of
each domain (the soft-* setting closest to AUC 0.5 among those within +10% perplexity, else the
one with the lowest strongest-attack AUC).

    python benchmarks/privacy_utility.py                      # the full run (hours on 2 CPUs)
    python benchmarks/privacy_utility.py --domains github --settings no-defense,soft-0.5
    python benchmarks/privacy_utility.py --quick              # a few minutes; not published

No record text is ever printed or written to the outputs; records are named by id only.
"""
from __future__ import annotations

import argparse
import copy
import gc
import hashlib
import json
import os
import platform
import random
import shlex
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DATA_DIR = REPO.parent / "shared" / "data" / "mimir"
DOMAINS = {"pubmed_abstracts": "text", "github": "code", "stackexchange_chat": "chat"}
# Training window per domain (tokens), unless --max-length is given. 128 keeps the CPU run
# within hours; chats need 256 because their (untrained) questions alone often fill 128.
WINDOWS = {"pubmed_abstracts": 128, "github": 128, "stackexchange_chat": 256}
SETTINGS = ("no-defense", "soft-0.3", "soft-0.5", "soft-1.0", "random-0.5", "dedup-only")
QUICK_SETTINGS = ("no-defense", "soft-0.5", "random-0.5", "dedup-only")
CHEAP_ATTACKS = ("loss", "zlib", "lowercase", "mink", "minkpp", "reference")
FULL_ATTACKS = CHEAP_ATTACKS + ("neighbourhood", "spv", "ensemble")
TITLES = {"loss": "LOSS", "zlib": "zlib", "lowercase": "lowercase", "mink": "Min-K%",
          "minkpp": "Min-K%++", "reference": "reference", "neighbourhood": "neighbourhood",
          "spv": "SPV-MIA", "ensemble": "ensemble"}
TARGET_AUC_MARGIN = 0.05  # the target (README): strongest AUC within 0.05 of 0.5 ...
TARGET_PPL_RISE = 0.10  # ... with validation perplexity at most +10% over no-defense
DEFAULT_OUT = REPO / "benchmarks" / "RESULTS.md"
# Per-domain results live in the repo (small JSON, no record text) so a later session or
# machine resumes where a run stopped; bulky files beside them (training sets, paraphrase
# cache) are gitignored.
DEFAULT_CACHE = REPO / "benchmarks" / "results"
QUICK_DIR = REPO / "benchmarks" / "cache" / "quick"  # gitignored: quick outputs never overwrite RESULTS.md


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def sha256_json(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def source_hash() -> str:
    """Hash of the library source and prompts: a changed library never reuses stale results."""
    h = hashlib.sha256()
    for p in sorted(list((REPO / "sanitize").rglob("*.py")) + list((REPO / "prompts").glob("*.md"))):
        h.update(str(p.relative_to(REPO)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# Settings


@dataclass(frozen=True)
class Setting:
    name: str
    kind: str  # none | soft | random | dedup
    ratio: float | None = None


def parse_setting(name: str) -> Setting:
    if name == "no-defense":
        return Setting(name, "none")
    if name == "dedup-only":
        return Setting(name, "dedup")
    kind, _, ratio = name.partition("-")
    if kind in ("soft", "random"):
        try:
            r = float(ratio)
        except ValueError:
            r = -1.0
        if 0.0 < r <= 1.0:
            return Setting(name, kind, r)
    raise SystemExit(f"error: unknown setting {name!r}; use no-defense, dedup-only, soft-R or "
                     "random-R with 0 < R <= 1 (e.g. soft-0.5)")


# ---------------------------------------------------------------------------------------------
# Data


@dataclass
class Split:
    domain: str
    kind: str
    fmt: str
    members: list  # Record
    nonmembers: list
    validation: list
    pool: int  # records eligible before the split

    def ids(self) -> dict:
        """Ids and content hashes of every record per role: what the split hash covers."""
        return {role: [(r.id, r.content_hash()) for r in getattr(self, role)]
                for role in ("members", "nonmembers", "validation")}


MIN_TRAINABLE_TOKENS = 8


def fit_to_window(record, tokenizer, max_length: int, code: bool):
    """The record, whole, within `max_length` tokens; or None.

    A record that fits is kept as is. One that does not has its last segment (the abstract, the
    source file, the chat's final answer) cut at the last line break (code) or word break that
    fits, provided that segment is trainable and at least MIN_TRAINABLE_TOKENS of it remain.
    Why: the trainer and the attacks only see the first `max_length` tokens while SOFT rewrites
    the whole record; the first tokens of a paraphrased long record can cover other content
    than the original's first tokens, which would make a defense look better than it is, and
    paraphrasing text nobody trains on only costs time."""
    from sanitize.encoding import MaskError, encode

    def fitted(r):
        try:
            e = encode(r.example(), tokenizer, max_length)
        except MaskError:
            return None
        return e if e.n_trainable >= MIN_TRAINABLE_TOKENS else None

    enc = fitted(record)
    if enc is None or not enc.truncated:
        return None if enc is None else record
    last = record.segments(trainable_only=False)[-1]
    if not last.trainable:
        return None
    offsets = tokenizer(last.text, add_special_tokens=False,
                        return_offsets_mapping=True)["offset_mapping"]
    # enc.n_trainable of the segment's tokens are inside the window; leave room for the
    # template's closing tokens, more on each retry (tokenization at a cut can shift by a few).
    for slack in (2, 4, 8, 16):
        keep = min(enc.n_trainable, len(offsets)) - slack
        if keep < MIN_TRAINABLE_TOKENS:
            return None
        cut = last.text[:offsets[keep - 1][1]]
        brk = cut.rfind("\n") if code else max(cut.rfind(" "), cut.rfind("\n"))
        cut = (cut[:brk] if brk > len(cut) // 2 else cut).rstrip()
        short = record.rebuilt({last.path: cut})
        e = fitted(short)
        if e is not None and not e.truncated:
            return short
    return None


def make_split(domain: str, n_mem: int, n_non: int, n_val: int, seed: int,
               max_chars: int | None, tokenizer, max_length: int) -> Split:
    """Fixed-seed shuffle, then members / non-members / validation, each record fitted to the
    training window (`fit_to_window`) and disjoint by trainable text (exact duplicates of a
    text never sit on both sides of the membership line)."""
    from sanitize.datafile import read_dataset

    ds = read_dataset(str(DATA_DIR / f"{domain}.jsonl.gz"))
    pool = [r for r in ds.records if max_chars is None or len(r.trainable_text()) <= max_chars]
    order = list(range(len(pool)))
    random.Random(seed).shuffle(order)
    # Fitted lazily in shuffled order: only as many records are tokenized as the split needs
    # (fitting is deterministic, so the split stays fixed for a seed).
    need = n_mem + n_non + n_val
    picked, seen = [], set()
    for i in order:
        r = fit_to_window(pool[i], tokenizer, max_length, DOMAINS[domain] == "code")
        if r is None:
            continue
        h = hashlib.sha256(r.trainable_text().encode()).hexdigest()
        if h in seen:
            continue
        seen.add(h)
        picked.append(r)
        if len(picked) == need:
            break
    if len(picked) < need:
        raise SystemExit(f"error: {domain}: {need} records requested, only {len(picked)} "
                         "fit in the window (lower --members/--nonmembers/--validation, raise "
                         "--max-chars or --max-length)")
    return Split(domain, DOMAINS[domain], ds.fmt, picked[:n_mem], picked[n_mem:n_mem + n_non],
                 picked[n_mem + n_non:], len(pool))


# ---------------------------------------------------------------------------------------------
# Library stages, shared across the settings of a domain


def warmup_scores(records: list, base, score_cfg) -> list[dict]:
    """SOFT steps 1-2 once per domain: per-record risk and duplicate group, in member order,
    from `sanitize.scoring.score_records` (it warms up a deep copy; the shared base model is
    never modified)."""
    from sanitize.models import load_embedder
    from sanitize.scoring import score_records

    got = score_records(records, score_cfg, lm=base, embedder=load_embedder(device="cpu"))
    return [{"id": s.id, "risk": float(s.risk), "group": s.group,
             "loss_before": _f(s.loss_before), "loss_after": _f(s.loss_after),
             "tokens": s.tokens, "truncated": s.truncated,
             "scorer": "sanitize.scoring.score_records"} for s in got]


def _f(x):
    return None if x is None else float(x)


class Paraphraser:
    """The pipeline's paraphrase + gate stage (`sanitize.obfuscate.obfuscate`) over a chosen
    subset of records, with one backend, embedder and SQLite cache for the whole run."""

    def __init__(self, pcfg, gcfg, base, cache_path: Path):
        from sanitize.cache import Cache
        from sanitize.models import load_embedder
        from sanitize.paraphrase import make_backend
        from sanitize.prompts import load_templates

        self.pcfg, self.gcfg = pcfg, gcfg
        # The local backend generates with the shared base model (eval mode, weights untouched).
        self.backend = make_backend(pcfg, lm=base if pcfg.backend == "local" else None)
        self.templates = load_templates(pcfg.prompt_file, pcfg.prompt_dir)
        self.cache = Cache(str(cache_path))
        self.embedder = load_embedder(device="cpu")

    def run(self, records: list) -> tuple[list, dict]:
        """The records' `RecordOutcome`s (new_record None: failed the gate), and cache counters."""
        from sanitize.obfuscate import obfuscate

        h0, m0 = self.cache.hits, self.cache.misses
        outcomes = obfuscate(records, self.backend, self.pcfg, self.gcfg, self.templates,
                             self.cache, self.embedder, log=lambda m: log("    " + m))
        calls = {"cached": self.cache.hits - h0, "generated": self.cache.misses - m0}
        return outcomes, calls


def gate_failures(outcomes) -> dict[str, int]:
    """Why selected records failed the gate: each failing chunk's last failed check, and each
    segment whose chunks passed but whose reassembled text did not."""
    counts = Counter()
    for ro in outcomes:
        for so in ro.segments:
            counts.update(so.failures.values())
            if so.gate is not None and not so.gate.passed:
                counts[f"segment: {so.gate.reason}"] += 1
    return dict(counts.most_common())


def make_attacker(acfg, ts, tok, base_model, ppl_encoded, cache=None):
    """One target at a time against the domain's shared text set; one StatsCache shared by the
    cheap and the full attacker, so base-model statistics are computed once per domain."""
    from sanitize.auditing.run import Attacker

    return Attacker(acfg, ts, tok, base_model, "base", ppl_encoded, lambda m: log("    " + m),
                    cache=cache, spv_heldout=ppl_encoded)


def metrics_json(res) -> dict:
    """ModelResult -> {attack: {auc, auc_ci95, tpr_1pct, tpr_1pct_ci95, tpr_10pct, note}}."""
    out = {}
    for name, m in res.metrics.items():
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


# ---------------------------------------------------------------------------------------------
# One domain


@dataclass
class Ctx:
    args: argparse.Namespace
    train: object  # TrainConfig for every target
    score: object  # ScoreConfig
    paraphrase: object
    gate: object
    audit_cheap: object  # AuditConfig
    audit_full: object
    cache_dir: Path
    src_hash: str
    command: str = ""
    base: object = None
    paraphraser: Paraphraser | None = None

    def base_lm(self):
        if self.base is None:
            from sanitize.models import load_lm

            t = time.time()
            self.base = load_lm(None, self.args.device)
            log(f"loaded base model {self.base.name} in {time.time() - t:.1f}s")
        return self.base

    def para(self) -> Paraphraser:
        if self.paraphraser is None:
            self.paraphraser = Paraphraser(self.paraphrase, self.gate, self.base_lm(),
                                           self.cache_dir / "paraphrases.sqlite")
        return self.paraphraser


class DomainRun:
    def __init__(self, ctx: Ctx, domain: str):
        self.ctx, self.domain = ctx, domain
        a = ctx.args
        # This domain's window in every config that trains or encodes.
        self.train = replace(ctx.train, max_length=a.max_length or WINDOWS[domain])
        self.score = replace(ctx.score, train=self.train)
        self.audit_cheap = replace(ctx.audit_cheap, train=self.train)
        self.audit_full = replace(ctx.audit_full, train=self.train)
        tokenizer = ctx.base_lm().tokenizer  # loads the model once, outside the split's time
        t = time.time()
        self.split = make_split(domain, a.members, a.nonmembers, a.validation, a.seed,
                                a.max_chars, tokenizer, self.train.max_length)
        self.times = {"split": round(time.time() - t, 1)}
        self.dir = ctx.cache_dir / domain
        self.dir.mkdir(parents=True, exist_ok=True)
        self.split_hash = sha256_json(self.split.ids())
        # Keyed by configuration and library version, not by source bytes: a comment edit in
        # the library must not throw away hours of measurements. Each result records the source
        # hash it was measured with, and the report flags results from another source
        # (`--fresh` recomputes everything).
        from sanitize import __version__

        self.common = {"domain": domain, "split": self.split_hash, "seed": a.seed,
                       "train": asdict(self.train), "version": __version__}
        self._scores: list[dict] | None = None
        self._attacker = None
        self._full_attacker = None
        self.models: dict[str, object] = {}  # setting -> target kept for the full suite
        from sanitize.datafile import write_jsonl_lines

        for role in ("members", "nonmembers", "validation"):  # for inspection and reruns
            write_jsonl_lines(self.dir / f"{role}.jsonl", [r.raw for r in getattr(self.split, role)])

    # -- shared stages -----------------------------------------------------------------------

    def score_key(self) -> str:
        return sha256_json({**self.common, "score": asdict(self.score)})

    def scores(self) -> list[dict]:
        if self._scores is not None:
            return self._scores
        key = self.score_key()
        path = self.dir / "scores.json"
        if path.exists():
            cached = json.loads(path.read_text())
            if cached.get("config_hash") == key and not self.ctx.args.fresh:
                self._scores = cached["scores"]
                self.times["score"] = cached["seconds"]
                log(f"{self.domain}: warm-up scores from cache")
                return self._scores
        log(f"{self.domain}: warm-up scoring of {len(self.split.members)} members")
        t = time.time()
        self._scores = warmup_scores(self.split.members, self.ctx.base_lm(), self.score)
        secs = round(time.time() - t, 1)
        self.times["score"] = secs
        _write_json(path, {"config_hash": key, "seconds": secs, "scores": self._scores})
        return self._scores

    def groups(self) -> list[str | None]:
        """Duplicate groups of the members (exact + near, `sanitize.dedup`, the same rule and
        threshold the scoring stage uses); taken from the scores when they exist."""
        if self._scores is not None:
            return [x["group"] for x in self._scores]
        from sanitize.dedup import duplicate_groups
        from sanitize.models import load_embedder

        t = time.time()
        g = duplicate_groups([r.trainable_text() for r in self.split.members],
                             self.score.near_duplicate_similarity, load_embedder(device="cpu"))
        self.times["dedup"] = round(time.time() - t, 1)
        return g

    def attacker(self, full: bool = False):
        if self._attacker is None:
            from sanitize.auditing.features import build_textset
            from sanitize.encoding import encode_records
            from sanitize.datafile import Dataset

            base = self.ctx.base_lm()
            tok, L = base.tokenizer, self.train.max_length

            self.ts = build_textset(Dataset("members", "auto", self.split.members),
                                    Dataset("non-members", "auto", self.split.nonmembers), tok, L)
            self.val_enc = encode_records(self.split.validation, tok, L)
            self._attacker = make_attacker(self.audit_cheap, self.ts, tok, base.model,
                                           self.val_enc)
            t = time.time()
            self.base_ppl = self._attacker.base_perplexity()
            self.times["base_stats"] = round(time.time() - t, 1)
            _write_json(self.dir / "base.json", {"config_hash": self.base_key(),
                                                 "base_perplexity": self.base_ppl,
                                                 "seconds": self.times["base_stats"]})
        if not full:
            return self._attacker
        if self._full_attacker is None:
            base = self.ctx.base_lm()
            self._full_attacker = make_attacker(self.audit_full, self.ts, base.tokenizer,
                                                base.model, self.val_enc,
                                                cache=self._attacker.cache)
        return self._full_attacker

    def base_key(self) -> str:
        return sha256_json({**self.common, "what": "base perplexity"})

    def cached_base_perplexity(self) -> float | None:
        """The base model's validation perplexity, also when every setting came from cache."""
        if getattr(self, "base_ppl", None) is not None:
            return self.base_ppl
        path = self.dir / "base.json"
        if path.exists():
            cached = json.loads(path.read_text())
            if cached.get("config_hash") == self.base_key():
                self.times.setdefault("base_stats", cached["seconds"])
                return cached["base_perplexity"]
        return None

    # -- one setting ---------------------------------------------------------------------------

    def setting_key(self, s: Setting) -> str:
        c, cheap = self.ctx, self.audit_cheap
        parts = {**self.common, "setting": asdict(s),
                 "audit": {"attacks": list(cheap.attacks), "attack": asdict(cheap.attack),
                           "bootstrap": cheap.bootstrap, "seed": cheap.seed}}
        if s.kind == "soft":
            parts["score"] = asdict(self.score)
        if s.kind in ("soft", "random"):
            parts["paraphrase"], parts["gate"] = asdict(c.paraphrase), asdict(c.gate)
        return sha256_json(parts)

    def training_set(self, s: Setting) -> tuple[list, dict, dict]:
        """(records to train on, counts, stage times) for one setting."""
        from sanitize.config import SelectConfig
        from sanitize.pipeline import dispose
        from sanitize.selection import select

        members = self.split.members
        n = len(members)
        times: dict[str, float] = {}
        if s.kind == "none":
            return list(members), {"selected": 0, "paraphrased": 0, "dropped": 0}, times
        if s.kind == "dedup":
            groups = self.groups()
            keep, seen = [], set()
            for r, g in zip(members, groups):
                if g is not None and g in seen:
                    continue
                seen.add(g)
                keep.append(r)
            return keep, {"selected": 0, "paraphrased": 0, "dropped": n - len(keep),
                          "duplicate_groups": len({g for g in groups if g is not None})}, times
        sc = self.scores()
        groups = [x["group"] for x in sc]
        t = time.time()
        if s.kind == "soft":
            risks = [x["risk"] for x in sc]
        else:  # random: seeded random risks through the same selection rule (groups whole)
            rng = random.Random(f"{self.ctx.args.seed}:{self.domain}:{s.name}")
            risks = [rng.random() for _ in members]
        chosen = select(risks, SelectConfig(ratio=s.ratio), groups)
        times["select"] = round(time.time() - t, 3)
        picked = [r for r, c in zip(members, chosen) if c]
        log(f"  {s.name}: paraphrasing {len(picked)} of {n} members")
        t = time.time()
        outcomes, calls = self.ctx.para().run(picked)
        times["paraphrase"] = round(time.time() - t, 1)
        # The CLI's own rule for what reaches the output (gate failures dropped by default).
        disposed = dispose(members, outcomes, self.ctx.gate.on_fail)
        out = [r for _, r in disposed if r is not None]
        status = [st for st, _ in disposed]
        paraphrased, dropped = status.count("obfuscated"), status.count("dropped")
        kept = status.count("kept-original")
        return out, {"selected": len(picked), "paraphrased": paraphrased, "dropped": dropped,
                     "partial": status.count("partial"),
                     "kept_unchanged": kept, "paraphrase_calls": calls,
                     "gate_failures": gate_failures(outcomes),
                     "duplicate_groups": len({g for g in groups if g is not None}),
                     "scorer": sc[0]["scorer"] if s.kind == "soft" else None}, times

    def train_target(self, records: list):
        from sanitize.encoding import encode_records
        from sanitize.train import fine_tune

        base = self.ctx.base_lm()
        enc = encode_records(records, base.tokenizer, self.train.max_length)
        return fine_tune(copy.deepcopy(base.model), enc, base.tokenizer.pad_token_id,
                         self.train)

    def run_setting(self, s: Setting, results: dict) -> dict:
        key = self.setting_key(s)
        path = self.dir / f"{s.name}.json"
        if path.exists():
            cached = json.loads(path.read_text())
            if cached.get("config_hash") == key and not self.ctx.args.fresh:
                stale = cached.get("source") != self.ctx.src_hash
                log(f"{self.domain}/{s.name}: cached"
                    + (" (measured with another library source; --fresh recomputes)" if stale
                       else ""))
                return cached
        if self.ctx.args.cached_only:
            log(f"{self.domain}/{s.name}: not measured yet (--cached-only)")
            return None
        log(f"{self.domain}/{s.name}: building the training set")
        train_recs, counts, times = self.training_set(s)
        from sanitize.datafile import write_jsonl_lines

        # The exact training file, for inspection (benchmarks/cache is not published).
        train_sha = write_jsonl_lines(self.dir / f"{s.name}.train.jsonl",
                                      [r.raw for r in train_recs])
        res = {"config_hash": key, "source": self.ctx.src_hash, "setting": s.name,
               "kind": s.kind, "ratio": s.ratio,
               "members": len(self.split.members), "train_records": len(train_recs),
               "train_sha256": train_sha, **counts}
        twin = next((v for v in results.values() if v.get("train_sha256") == train_sha), None)
        if twin is not None:
            log(f"{self.domain}/{s.name}: training set identical to {twin['setting']}; "
                "reusing its measurements")
            res.update({k: twin[k] for k in ("attacks", "strongest", "perplexity")})
            res["shared_with"] = twin["setting"]
            times.update({"train": 0.0, "audit": 0.0})
        else:
            atk = self.attacker()
            log(f"{self.domain}/{s.name}: fine-tuning the target on {len(train_recs)} records")
            t = time.time()
            target = self.train_target(train_recs)
            times["train"] = round(time.time() - t, 1)
            t = time.time()
            mr = atk.attack(target, f"target:{s.name}:{train_sha}", s.name, s.name)
            times["audit"] = round(time.time() - t, 1)
            res["attacks"] = metrics_json(mr)
            res["strongest"] = strongest(res["attacks"])
            res["perplexity"] = mr.perplexity
            if s.kind in ("none", "soft") and not self.ctx.args.no_full_suite:
                self.models[s.name] = target  # may get the full suite below
            else:
                del target
        res["times"] = times
        # A report may combine results from several runs (resumes, --cached-only renders):
        # each result says which command and machine measured it.
        res["measured_by"] = {"command": self.ctx.command, "hardware": hardware_text(hardware())}
        _write_json(path, res)
        gc.collect()
        return res

    def run_full(self, name: str, res: dict, settings: dict[str, Setting]) -> dict:
        """The full suite (adds neighbourhood, SPV-MIA, ensemble) on one setting's target."""
        if res.get("full", {}).get("config_hash") == self.full_key(res):
            return res
        if res.get("shared_with"):
            return res
        target = self.models.pop(name, None)
        if target is None:  # resumed run: retrain (deterministic with the same seed)
            log(f"{self.domain}/{name}: retraining the target for the full suite")
            recs, _, _ = self.training_set(settings[name])
            sha = hashlib.sha256("".join(r.raw + "\n" for r in recs).encode()).hexdigest()
            if sha != res["train_sha256"]:  # e.g. the paraphrase cache was deleted
                raise SystemExit(f"error: {self.domain}/{name}: the rebuilt training set differs "
                                 "from the one the cheap attacks measured; delete "
                                 f"{self.dir / (name + '.json')} to recompute the setting")
            target = self.train_target(recs)
        log(f"{self.domain}/{name}: full attack suite")
        t = time.time()
        mr = self.attacker(full=True).attack(target, f"target:{name}:{res['train_sha256']}",
                                             name, name)
        attacks = metrics_json(mr)
        res["full"] = {"config_hash": self.full_key(res), "attacks": attacks,
                       "strongest": strongest(attacks), "seconds": round(time.time() - t, 1)}
        res["times"]["audit_full"] = res["full"]["seconds"]
        _write_json(self.dir / f"{name}.json", res)
        del target
        gc.collect()
        return res

    def full_key(self, res: dict) -> str:
        a = self.audit_full
        return sha256_json({"setting": res["config_hash"], "attacks": list(a.attacks),
                            "attack": asdict(a.attack), "bootstrap": a.bootstrap})

    def run(self, settings: list[Setting]) -> dict:
        t0 = time.time()
        results: dict[str, dict] = {}
        by_name = {s.name: s for s in settings}
        for s in settings:
            res = self.run_setting(s, results)
            if res is not None:
                results[s.name] = res
        if not self.ctx.args.no_full_suite and not self.ctx.args.cached_only:
            best = best_soft(results)
            for name in ["no-defense", best]:
                if name in results:
                    results[name] = self.run_full(name, results[name], by_name)
        self.models.clear()
        gc.collect()
        if "score" not in self.times and (self.dir / "scores.json").exists():
            cached = json.loads((self.dir / "scores.json").read_text())  # a resumed run
            if cached.get("config_hash") == self.score_key():
                self.times["score"] = cached["seconds"]
        return {"domain": self.domain, "kind": self.split.kind, "format": self.split.fmt,
                "max_length": self.train.max_length,
                "members": len(self.split.members), "nonmembers": len(self.split.nonmembers),
                "validation": len(self.split.validation), "eligible_records": self.split.pool,
                "split_sha256": self.split_hash,
                "base_perplexity": self.cached_base_perplexity(),
                "scorer": next((v["scorer"] for v in results.values() if v.get("scorer")), None),
                "best_soft": best_soft(results), "shared_times": self.times,
                "seconds": round(time.time() - t0, 1), "settings": results,
                "not_measured": [s.name for s in settings if s.name not in results]}


def _write_json(path: Path, obj) -> None:
    from sanitize.datafile import write_json

    write_json(path, obj)


# ---------------------------------------------------------------------------------------------
# Summaries (computed from the measurements only)


def attacks_of(res: dict) -> dict:
    """Every attack measured for a setting: the full suite where it ran, else the cheap set."""
    out = dict(res.get("attacks", {}))
    out.update(res.get("full", {}).get("attacks", {}))
    return out


def ppl_change(res: dict, ref: dict | None) -> float | None:
    if not ref or res.get("perplexity") is None or ref.get("perplexity") is None:
        return None
    return res["perplexity"] / ref["perplexity"] - 1


def meets_target(res: dict, ref: dict | None) -> bool:
    atk = attacks_of(res)
    s = strongest(atk)
    dp = ppl_change(res, ref)
    return (s is not None and dp is not None and abs(atk[s]["auc"] - 0.5) <= TARGET_AUC_MARGIN
            and dp <= TARGET_PPL_RISE)


def best_soft(results: dict) -> str | None:
    """Among soft-* settings: closest strongest AUC to 0.5 within the perplexity budget, else the
    lowest strongest AUC. Judged on the cheap attacks, which every setting has: counting the
    full suite would penalise the setting it ran on, so the pick would move to another setting
    (and a rerun would buy it a full suite too) instead of staying put."""
    ref = results.get("no-defense")
    soft = {k: v for k, v in results.items() if v.get("kind") == "soft" and v.get("attacks")}
    if not soft:
        return None

    def auc(v):  # the strongest attack's leakage, 0.5 + |AUC - 0.5|
        from sanitize.auditing.metrics import leakage

        a = v["attacks"]
        return leakage(a[strongest(a)]["auc"])

    within = {k: v for k, v in soft.items()
              if (ppl_change(v, ref) is not None and ppl_change(v, ref) <= TARGET_PPL_RISE)}
    if within:
        return min(within, key=lambda k: abs(auc(within[k]) - 0.5))
    return min(soft, key=lambda k: auc(soft[k]))


def target_verdict(dom: dict) -> dict:
    res = dom["settings"]
    ref = res.get("no-defense")
    if ref is None:
        return {"reached": None, "text": "not judged: no-defense was not run"}
    hits = [k for k, v in res.items() if k != "no-defense" and meets_target(v, ref)]
    if hits:
        return {"reached": True, "settings": hits,
                "text": f"reached by {', '.join(hits)}"}
    rows = []  # (AUC excess over the band, perplexity rise, setting, strongest AUC)
    for k, v in res.items():
        a = attacks_of(v)
        s = strongest(a)
        dp = ppl_change(v, ref)
        if k != "no-defense" and s is not None and dp is not None:
            rows.append((max(abs(a[s]["auc"] - 0.5) - TARGET_AUC_MARGIN, 0.0), dp, k, a[s]["auc"]))
    if not rows:
        return {"reached": False, "text": "not reached (no defended setting measured)"}
    within = [r for r in rows if r[1] <= TARGET_PPL_RISE]
    if within:  # the most private setting that keeps utility: how far its AUC is from the band
        g, dp, k, auc = min(within)
        text = (f"not reached; closest within the +{TARGET_PPL_RISE * 100:.0f}% perplexity "
                f"budget: {k} (strongest AUC {auc:.3f}, {g:.3f} above the "
                f"0.5±{TARGET_AUC_MARGIN} band; perplexity {dp * 100:+.1f}%)")
    else:  # nothing keeps utility: the smallest perplexity rise
        dp, g, k, auc = min((r[1], r[0], r[2], r[3]) for r in rows)
        text = (f"not reached; no defended setting stays within +{TARGET_PPL_RISE * 100:.0f}% "
                f"perplexity; smallest rise: {k} ({dp * 100:+.1f}%, strongest AUC {auc:.3f})")
    private = [r[2] for r in rows if r[0] == 0.0]
    if private:
        text += f"; AUC band reached only at a higher perplexity cost by {', '.join(private)}"
    return {"reached": False, "closest": k, "auc_excess": round(g, 4),
            "ppl_change": round(dp, 4), "text": text}


def hardware() -> dict:
    import torch

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    hw = {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
          "torch": torch.__version__, "python": platform.python_version(),
          "platform": platform.platform(), "gpu": None}
    if torch.cuda.is_available():
        hw["gpu"] = torch.cuda.get_device_name(0)
    return hw


def hardware_text(hw: dict) -> str:
    return (f"{hw['cpu']}, {hw['cores']} cores (torch threads: {hw['torch_threads']})"
            f"{', GPU ' + hw['gpu'] if hw['gpu'] else ', no GPU'}; torch {hw['torch']}, "
            f"Python {hw['python']}")


def measured_by_lines(report: dict) -> list[str]:
    """Which command and machine measured each result, where that is not this report's run."""
    here = {"command": report["command"], "hardware": hardware_text(report["hardware"])}
    groups: dict[str, list[str]] = {}
    for d in report["domains"]:
        for name, v in d["settings"].items():
            m = v.get("measured_by")
            if m != here:
                key = (f"`{m['command']}` on {m['hardware']}" if m
                       else "a run that did not record its command and machine")
                groups.setdefault(key, []).append(f"{d['domain']}/{name}")
    return [f"- Measured by {k}: {', '.join(v)}" for k, v in groups.items()]


def _fmt(x, d=3) -> str:
    return "n/a" if x is None else f"{x:.{d}f}"


def _ci(v) -> str:
    lo, hi = v.get("auc_ci95") or [None, None]
    return "" if lo is None else f" [{lo:.2f}, {hi:.2f}]"


def _tpr(v) -> str:
    return "n/a" if v.get("tpr_1pct") is None else f"{v['tpr_1pct']:.3f}"


def _secs(t: dict, k: str) -> str:
    return "-" if t.get(k) is None else f"{t[k]:.0f}"


def _chars(report: dict) -> str:
    mc = report["config"].get("max_chars")
    return f" of at most {mc} characters" if mc else ""


def to_markdown(report: dict) -> str:
    hw = report["hardware"]
    L = ["# soft-sanitize privacy/utility benchmark", "",
         "Generated by `benchmarks/privacy_utility.py`; every number below is measured by it "
         "(nothing is typed by hand).", "",
         f"- Command: `{report['command']}`",
         f"- Hardware: {hardware_text(hw)}",
         *measured_by_lines(report),
         f"- Started {report['started']}, total wall time {report['seconds'] / 60:.1f} min",
         f"- Target model: embedded SmolLM2-135M-Instruct, {report['config']['train']['method']} "
         f"fine-tune, {report['config']['train']['epochs']:g} epoch(s), training window per "
         "domain (below; longer records are cut to fit at a word or line break), seed "
         f"{report['config']['train']['seed']} (identical for every setting)",
         f"- Risk score: `{report['config']['score']['score']}`; paraphraser: "
         f"`{report['config']['paraphrase']['backend']}` (T={report['config']['paraphrase']['temperature']}, "
         f"{report['config']['paraphrase']['candidates']} candidate(s)); gate: similarity >= "
         f"{report['config']['gate']['min_similarity']}, overlap <= "
         f"{report['config']['gate']['max_overlap']}, on fail: "
         f"{report['config']['gate']['on_fail']}",
         "- Attacks query the ORIGINAL member texts vs disjoint non-members. AUC with a 95% "
         "bootstrap CI; TPR@1%FPR needs >= 100 non-members (else n/a). Strongest = the attack "
         "with the highest AUC among those run (cheap set everywhere; + neighbourhood, SPV-MIA, "
         "ensemble where marked *).",
         "- Times are wall seconds on this machine. `paraphrase s` is incremental: candidates "
         "already in the shared cache (made by an earlier setting) cost nothing.",
         f"- Target: strongest AUC within {TARGET_AUC_MARGIN} of 0.5 with validation perplexity "
         f"at most +{TARGET_PPL_RISE * 100:.0f}% over no-defense.", ""]
    if report.get("quick"):
        L += ["**Quick mode: a smoke test with a few dozen records. These numbers are not "
              "evidence of anything.**", ""]
    stale = [f"{d['domain']}/{k}" for d in report["domains"] for k, v in d["settings"].items()
             if v.get("source") != report.get("source")]
    if stale:
        L += [f"- Note: {', '.join(stale)} came from the cache and were measured with another "
              "version of the library source; rerun with `--fresh` to remeasure.", ""]
    for skip in report.get("skipped_domains", []):
        L += [f"- Skipped {skip['domain']}: {skip['reason']}"]
    for dom in report["domains"]:
        res = dom["settings"]
        ref = res.get("no-defense")
        st = dom["shared_times"]
        L += ["", f"## {dom['domain']} ({dom['kind']})", "",
              f"{dom['members']} members, {dom['nonmembers']} non-members, {dom['validation']} "
              f"validation texts (fixed-seed shuffle of {dom['eligible_records']} records"
              f"{_chars(report)}; unique texts that fit, or were cut to fit, the "
              f"{dom.get('max_length', '?')}-token window). Base model validation perplexity {_fmt(dom['base_perplexity'], 2)}. "
              f"Shared stages (s): split {_secs(st, 'split')}, warm-up scoring "
              f"{_secs(st, 'score')}{' (' + dom['scorer'] + ')' if dom['scorer'] else ''}, duplicate groups "
              f"{_secs(st, 'dedup')}, base-model validation perplexity {_secs(st, 'base_stats')}.",
              "",
              f"**Target: {dom['target']['text']}.**", "",
              *([f"Not measured yet: {', '.join(dom['not_measured'])}.", ""]
                if dom.get("not_measured") else [])]
        if not res:
            continue
        L += ["| setting | trained on | paraphrased | dropped | strongest attack | AUC [95% CI] "
              "| TPR@1%FPR | val. ppl | vs no-defense | target | paraphrase s | train s | "
              "audit s |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for name, v in res.items():
            a = attacks_of(v)
            s = strongest(a)
            dp = ppl_change(v, ref)
            t = v.get("times", {})
            audit = (t.get("audit") or 0) + (t.get("audit_full") or 0)
            star = "*" if v.get("full") else ""
            shared = f" (= {v['shared_with']})" if v.get("shared_with") else ""
            L.append(
                f"| {name}{star}{shared} | {v['train_records']} | {v['paraphrased']} | "
                f"{v['dropped']} | {TITLES.get(s, s)} | {_fmt(a[s]['auc'])}{_ci(a[s])} | "
                f"{_tpr(a[s])} | {_fmt(v['perplexity'], 2)} | "
                f"{'-' if dp is None or name == 'no-defense' else f'{dp * 100:+.1f}%'} | "
                f"{'-' if name == 'no-defense' else ('yes' if meets_target(v, ref) else 'no')} | "
                f"{_secs(t, 'paraphrase')} | {_secs(t, 'train')} | {audit:.0f} |")
        names = [n for n in FULL_ATTACKS if any(n in attacks_of(v) for v in res.values())]
        L += ["", "AUC / TPR@1%FPR per attack:", "",
              "| setting | " + " | ".join(TITLES[n] for n in names) + " |",
              "|---|" + "---|" * len(names)]
        for name, v in res.items():
            a = attacks_of(v)
            cells = [f"{_fmt(a[n]['auc'])} / {_tpr(a[n])}" if n in a else "-" for n in names]
            L.append(f"| {name} | " + " | ".join(cells) + " |")
        calls = {k: v.get("paraphrase_calls") for k, v in res.items() if v.get("paraphrase_calls")}
        if calls:
            L += ["", "Paraphrase candidates generated / read from the shared cache: "
                  + "; ".join(f"{k} {c['generated']} / {c['cached']}" for k, c in calls.items())
                  + "."]
        fails = {k: v["gate_failures"] for k, v in res.items() if v.get("gate_failures")}
        if fails:
            L += ["", "Why selected records failed the gate (each failing chunk's last failed "
                  "check): " + "; ".join(f"{k}: " + ", ".join(f"{r} {n}" for r, n in c.items())
                                         for k, c in fails.items()) + "."]
    if report.get("plot"):
        L += ["", f"![strongest-attack AUC vs validation perplexity]({report['plot']})"]
    return "\n".join(L) + "\n"


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    doms = report["domains"]
    if not doms:
        return
    markers = {"none": "o", "soft": "^", "random": "s", "dedup": "D"}
    fig, axes = plt.subplots(1, len(doms), figsize=(5 * len(doms), 4.2), squeeze=False)
    for ax, dom in zip(axes[0], doms):
        res = dom["settings"]
        ref = res.get("no-defense")
        for name, v in res.items():
            a = attacks_of(v)
            s = strongest(a)
            if s is None or v.get("perplexity") is None or v.get("shared_with"):
                continue  # a setting sharing another's training set is labelled on its point
            label = ", ".join([name] + [k for k, w in res.items() if w.get("shared_with") == name])
            ax.scatter(v["perplexity"], a[s]["auc"], marker=markers.get(v["kind"], "x"), s=60,
                       label=label)
            ax.annotate(label, (v["perplexity"], a[s]["auc"]), fontsize=7,
                        xytext=(4, 4), textcoords="offset points")
        ax.axhspan(0.5 - TARGET_AUC_MARGIN, 0.5 + TARGET_AUC_MARGIN, color="green", alpha=0.1)
        if ref and ref.get("perplexity"):
            ax.axvline(ref["perplexity"] * (1 + TARGET_PPL_RISE), color="grey", ls="--", lw=1)
        if not res:
            ax.text(0.5, 0.5, "not measured yet", ha="center", va="center",
                    transform=ax.transAxes)
        ax.set_title(f"{dom['domain']} ({dom['kind']})")
        ax.set_xlabel("validation perplexity (lower = better utility)")
        ax.set_ylabel("strongest attack AUC (0.5 = no leakage)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="best")
    fig.suptitle("Privacy vs utility (green band: target AUC; dashed: +10% perplexity)",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# CLI


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  python benchmarks/privacy_utility.py --quick\n"
               "  python benchmarks/privacy_utility.py --domains github --settings "
               "no-defense,soft-0.5")
    p.add_argument("--domains", help=f"comma list (default: {','.join(DOMAINS)})")
    p.add_argument("--settings", help=f"comma list (default: {','.join(SETTINGS)})")
    p.add_argument("--members", type=int, help="members per domain (default 200; quick 12)")
    p.add_argument("--nonmembers", type=int, help="non-members per domain (default 200; quick 12)")
    p.add_argument("--validation", type=int, help="validation texts (default 50; quick 6)")
    p.add_argument("--max-length", type=int, help="training window in tokens, for every domain "
                   f"(default per domain: {WINDOWS}); longer records are cut to fit")
    p.add_argument("--epochs", type=float, help="target and warm-up epochs (default 1)")
    p.add_argument("--max-chars", type=int,
                   help="only records whose trainable text has at most this many characters "
                        "(default: all; quick 900, to keep paraphrasing short)")
    p.add_argument("--candidates", type=int, help="paraphrase candidates per chunk (default: "
                   "the library's; quick 1)")
    p.add_argument("--max-new-tokens", type=int, help="paraphrase generation cap per chunk "
                   "(default: the library's; quick 160)")
    p.add_argument("--score", choices=["loss", "loss-drop"], help="risk score (library default)")
    p.add_argument("--bootstrap", type=int, help="bootstrap resamples for CIs (default 1000; "
                   "quick 100)")
    p.add_argument("--seed", type=int, default=0, help="split, training and attack seed")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice). "
                   "On a machine shared with other torch jobs, 1 avoids thread oversubscription")
    p.add_argument("--fresh", action="store_true",
                   help="ignore cached results and recompute (the paraphrase cache is kept: it "
                        "is keyed by content, model, prompt and parameters)")
    p.add_argument("--cached-only", action="store_true",
                   help="measure nothing: report the settings already in the cache (e.g. after "
                        "an interrupted run) and list the missing ones")
    p.add_argument("--no-full-suite", action="store_true",
                   help="cheap attacks only (quick mode always)")
    p.add_argument("--full-suite", action="store_true",
                   help="run the full suite for no-defense and the best SOFT setting even with "
                        "--quick (checks the expensive attacks end to end at toy size)")
    p.add_argument("--quick", action="store_true",
                   help="tiny smoke-test version (a few minutes); writes under "
                        "benchmarks/cache/quick/ unless --out is given")
    p.add_argument("--out", help="RESULTS.md path; .json and .png are written beside it "
                   "(default benchmarks/RESULTS.md; quick: benchmarks/cache/quick/RESULTS.md)")
    p.add_argument("--render", metavar="RESULTS.json",
                   help="only rewrite RESULTS.md and the plot from an existing RESULTS.json "
                        "(next to it, or at --out); runs nothing")
    p.add_argument("--cache-dir", help="per-setting result cache (default benchmarks/results; "
                   "quick: benchmarks/cache/quick)")
    return p


def resolve(args: argparse.Namespace) -> argparse.Namespace:
    q = args.quick
    defaults = {"members": 12 if q else 200, "nonmembers": 12 if q else 200,
                "validation": 6 if q else 50, "epochs": 1.0,
                "bootstrap": 100 if q else 1000, "max_chars": 900 if q else None,
                "candidates": 1 if q else None, "max_new_tokens": 160 if q else None}
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    args.domains = args.domains.split(",") if args.domains else list(DOMAINS)
    args.settings = args.settings.split(",") if args.settings else list(
        QUICK_SETTINGS if q else SETTINGS)
    unknown = [d for d in args.domains if d not in DOMAINS]
    if unknown:
        raise SystemExit(f"error: unknown domain(s) {unknown}; choose from {list(DOMAINS)}")
    if q and not args.full_suite:
        args.no_full_suite = True
    out = Path(args.out) if args.out else (QUICK_DIR / "RESULTS.md" if q else DEFAULT_OUT)
    args.out = out if out.suffix == ".md" else out / "RESULTS.md"
    args.cache_dir = Path(args.cache_dir) if args.cache_dir else (QUICK_DIR if q else DEFAULT_CACHE)
    for k in ("members", "nonmembers", "validation"):
        if getattr(args, k) < 2:
            raise SystemExit(f"error: --{k} must be at least 2")
    return args


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    if args.render:  # re-render with the current code, verdicts included
        report = json.loads(Path(args.render).read_text())
        for dom in report["domains"]:
            dom["target"] = target_verdict(dom)
        out = Path(args.out) if args.out else Path(args.render).with_suffix(".md")
        write_outputs(report, out if out.suffix == ".md" else out / "RESULTS.md")
        return report
    args = resolve(args)
    settings = [parse_setting(s) for s in args.settings]
    import torch

    threads_before = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        return _run(args, argv, settings)
    finally:
        torch.set_num_threads(threads_before)  # main() may run inside pytest


def _run(args: argparse.Namespace, argv: list[str], settings: list[Setting]) -> dict:
    from sanitize.auditing.config import AttackConfig, AuditConfig
    from sanitize.config import GateConfig, ParaphraseConfig, ScoreConfig, TrainConfig

    # max_length is set per domain (DomainRun); this one is only the template.
    train = TrainConfig(epochs=args.epochs, max_length=args.max_length or 128, seed=args.seed,
                        device=args.device)
    score = ScoreConfig(train=train, **({"score": args.score} if args.score else {}))
    paraphrase = ParaphraseConfig(seed=args.seed, **{
        k: v for k, v in (("candidates", args.candidates),
                          ("max_new_tokens", args.max_new_tokens)) if v})
    gate = GateConfig()
    audit = AuditConfig(out_dir=str(args.cache_dir), attacks=CHEAP_ATTACKS, train=train,
                        bootstrap=args.bootstrap, seed=args.seed, attack=AttackConfig())
    command = "python benchmarks/privacy_utility.py " + shlex.join(argv)
    ctx = Ctx(args, train, score, paraphrase, gate, audit, replace(audit, attacks=FULL_ATTACKS),
              args.cache_dir, source_hash(), command)
    t0 = time.time()
    report = {"schema": "soft-sanitize/benchmark/v1", "quick": args.quick,
              "source": ctx.src_hash, "command": command,
              "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "hardware": hardware(),
              "config": {"members": args.members, "nonmembers": args.nonmembers,
                         "validation": args.validation, "max_chars": args.max_chars,
                         "seed": args.seed, "settings": args.settings,
                         "train": asdict(train), "score": asdict(score),
                         "paraphrase": asdict(paraphrase), "gate": asdict(gate),
                         "cheap_attacks": list(CHEAP_ATTACKS), "full_attacks": list(FULL_ATTACKS),
                         "full_suite": not args.no_full_suite, "bootstrap": args.bootstrap},
              "domains": [], "skipped_domains": []}
    for domain in args.domains:
        path = DATA_DIR / f"{domain}.jsonl.gz"
        if not path.exists():
            msg = f"{path} not found (../shared/data is beside the checkout; see its README)"
            log(f"skipping {domain}: {msg}")
            report["skipped_domains"].append({"domain": domain, "reason": msg})
            continue
        log(f"== {domain}")
        dom = DomainRun(ctx, domain).run(settings)
        dom["target"] = target_verdict(dom)
        report["domains"].append(dom)
        log(f"{domain}: done in {dom['seconds']:.0f}s; target {dom['target']['text']}")
    report["seconds"] = round(time.time() - t0, 1)
    write_outputs(report, args.out)
    if ctx.paraphraser is not None:
        ctx.paraphraser.cache.close()
    log(f"done in {report['seconds']:.0f}s")
    return report


def write_outputs(report: dict, out_md: Path) -> None:
    """RESULTS.md, RESULTS.json and the plot (named privacy_utility*.png beside the .md)."""
    from sanitize.datafile import atomic_writer

    out_md.parent.mkdir(parents=True, exist_ok=True)
    stem = out_md.stem
    png = out_md.with_name((stem.replace("RESULTS", "privacy_utility") if "RESULTS" in stem
                            else stem + ".privacy_utility") + ".png")
    if report["domains"]:
        plot(report, png)
        report["plot"] = png.name
    _write_json(out_md.with_suffix(".json"), report)
    with atomic_writer(out_md) as fh:
        fh.write(to_markdown(report))
    log(f"wrote {out_md}, {out_md.with_suffix('.json').name}"
        f"{', ' + png.name if report['domains'] else ''}")


if __name__ == "__main__":
    main()
