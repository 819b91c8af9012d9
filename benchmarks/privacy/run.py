"""One domain's run: the split, the warm-up scores, one training set, target and attack per
setting; every stage's result cached on disk with the hash of what determines it, so a killed
run resumes and a changed config recomputes."""
from __future__ import annotations

import argparse
import gc
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from .attacks import DomainAttacks, metrics_json, strongest, train_target
from .common import (hardware, hardware_text, lines_sha256, log, read_cached, sha256_json,
                     write_json)
from .settings import SCORER, Setting, TrainingSet, dedup_set, original_set, protected_set
from .split import ROLES, WINDOWS, make_split
from .verdict import best_soft


@dataclass
class RunContext:
    """What every domain shares: the arguments, the configs and the loaded models."""

    args: argparse.Namespace
    train: object  # TrainConfig for every target (max_length set per domain)
    score: object  # ScoreConfig
    paraphrase: object
    gate: object
    audit_cheap: object  # AuditConfig
    audit_full: object
    cache_dir: Path
    src_hash: str
    command: str = ""
    base: object = None
    embedder: object = None

    def base_lm(self):
        if self.base is None:
            from sanitize.models import load_lm

            t = time.time()
            self.base = load_lm(None, self.args.device)
            log(f"loaded base model {self.base.name} in {time.time() - t:.1f}s")
        return self.base

    def sentence_embedder(self):
        """The embedder the CLI loads by default (duplicate groups, the gate's similarity)."""
        if self.embedder is None:
            from sanitize.models import load_embedder

            self.embedder = load_embedder()
        return self.embedder


def risk_json(r) -> dict:
    return {"id": r.id, "risk": float(r.risk), "group": r.group,
            "loss_before": _float(r.loss_before), "loss_after": _float(r.loss_after),
            "tokens": r.tokens, "truncated": r.truncated, "scorer": SCORER,
            "line_no": r.line_no, "trainable_tokens": r.trainable_tokens}


def risk_from_json(i: int, x: dict):
    """A cached risk; scores.json written before line_no and trainable_tokens were kept gives
    the member's position and 0 (neither takes part in selection)."""
    from sanitize.scoring import Risk

    return Risk(id=x["id"], line_no=x.get("line_no", i + 1), tokens=x["tokens"],
                truncated=x["truncated"], loss_before=x["loss_before"],
                loss_after=x["loss_after"], risk=x["risk"], group=x["group"],
                trainable_tokens=x.get("trainable_tokens", 0))


def _float(x):
    return None if x is None else float(x)


class DomainRun:
    def __init__(self, ctx: RunContext, domain: str):
        from sanitize import __version__
        from sanitize.datafile import write_jsonl_lines

        self.ctx, self.domain = ctx, domain
        a = ctx.args
        # This domain's window in every config that trains or encodes.
        self.train = replace(ctx.train, max_length=a.max_length or WINDOWS[domain])
        self.score = replace(ctx.score, train=self.train)
        base = ctx.base_lm()  # loads the model once, outside the split's time
        t = time.time()
        self.split = make_split(domain, a.members, a.nonmembers, a.validation, a.seed,
                                a.max_chars, base.tokenizer, self.train.max_length)
        self.times = {"split": round(time.time() - t, 1)}
        self.dir = ctx.cache_dir / domain
        self.dir.mkdir(parents=True, exist_ok=True)
        self.split_hash = sha256_json(self.split.ids())
        # Keyed by configuration and library version, not by source bytes: a comment edit in
        # the library must not throw away hours of measurements. Each result records the source
        # hash it was measured with, and the report flags results from another source
        # (`--fresh` recomputes everything).
        self.common = {"domain": domain, "split": self.split_hash, "seed": a.seed,
                       "train": asdict(self.train), "version": __version__}
        self.attacks = DomainAttacks(base, self.split, replace(ctx.audit_cheap, train=self.train),
                                     replace(ctx.audit_full, train=self.train))
        self._risks: list | None = None
        self.base_written = False
        self.models: dict[str, object] = {}  # setting -> target kept for the full suite
        for role in ROLES:  # for inspection and reruns
            write_jsonl_lines(self.dir / f"{role}.jsonl",
                              [r.raw for r in getattr(self.split, role).records])

    def cached(self, path: Path, key: str) -> dict | None:
        return None if self.ctx.args.fresh else read_cached(path, key)

    # -- shared stages -----------------------------------------------------------------------

    def score_key(self) -> str:
        return sha256_json({**self.common, "score": asdict(self.score)})

    def risks(self) -> list:
        """SOFT steps 1-2 once per domain (`sanitize.score`: it warms up a deep copy, the
        shared base model is never modified): each member's risk and duplicate group."""
        if self._risks is not None:
            return self._risks
        ids = [r.id for r in self.split.members.records]
        cached = self.cached(self.dir / "scores.json", self.score_key())
        if cached is not None and [x["id"] for x in cached["scores"]] == ids:
            self._risks = [risk_from_json(i, x) for i, x in enumerate(cached["scores"])]
            self.times["score"] = cached["seconds"]
            log(f"{self.domain}: warm-up scores from cache")
            return self._risks
        from sanitize import score
        from sanitize.scoring import WARM_UP_RULES, risk_of

        log(f"{self.domain}: warm-up scoring of {len(ids)} members")
        t = time.time()
        # Every soft-R+rule re-ranks these losses (settings.decisions), so the warm-up runs
        # even when the run's own --score (base-loss) would skip it; the risks are its rule's.
        warmed = self.score.score in WARM_UP_RULES
        self._risks = score(self.split.members,
                            self.score if warmed else replace(self.score, score="loss"),
                            lm=self.ctx.base_lm(), embedder=self.ctx.sentence_embedder())
        if not warmed:
            self._risks = [replace(r, risk=risk_of(self.score.score, r.loss_before,
                                                   r.loss_after)) for r in self._risks]
        secs = round(time.time() - t, 1)
        self.times["score"] = secs
        write_json(self.dir / "scores.json", {"config_hash": self.score_key(), "seconds": secs,
                                              "scores": [risk_json(r) for r in self._risks]})
        return self._risks

    def groups(self) -> list[str | None]:
        """Duplicate groups of the members: the scores' when they exist, else the same rule
        and threshold (`sanitize.dedup.duplicate_groups`) without the warm-up, which
        dedup-only does not need."""
        if self._risks is not None:
            return [r.group for r in self._risks]
        if not self.score.dedup:
            return [None] * len(self.split.members.records)
        from sanitize.dedup import duplicate_groups

        t = time.time()
        g = duplicate_groups([r.trainable_text() for r in self.split.members.records],
                             self.score.near_duplicate_similarity, self.ctx.sentence_embedder())
        self.times["dedup"] = round(time.time() - t, 1)
        return g

    def attacker(self, full: bool = False):
        atk = self.attacks.full() if full else self.attacks.cheap()
        if not self.base_written:  # the first attacker measured the base model
            self.base_written = True
            self.times["base_stats"] = self.attacks.base_seconds
            write_json(self.dir / "base.json", {"config_hash": self.base_key(),
                                                "base_perplexity": self.attacks.base_perplexity,
                                                "seconds": self.attacks.base_seconds})
        return atk

    def base_key(self) -> str:
        return sha256_json({**self.common, "what": "base perplexity"})

    def cached_base_perplexity(self) -> float | None:
        """The base model's validation perplexity, also when every setting came from cache."""
        if self.attacks.base_perplexity is not None:
            return self.attacks.base_perplexity
        cached = read_cached(self.dir / "base.json", self.base_key())
        if cached is None:
            return None
        self.times.setdefault("base_stats", cached["seconds"])
        return cached["base_perplexity"]

    # -- one setting ---------------------------------------------------------------------------

    def cheap_audit_key(self) -> dict:
        """What decides the cheap attacks' figures (not where an audit writes its outputs)."""
        cheap = self.attacks.cheap_cfg
        return {"attacks": list(cheap.attacks), "attack": asdict(cheap.attack),
                "bootstrap": cheap.bootstrap, "seed": cheap.seed}

    def setting_key(self, s: Setting) -> str:
        c = self.ctx
        setting = asdict(s)
        if not s.paraphraser:  # the embedded paraphraser: keys as before the option existed
            del setting["paraphraser"]
        parts = {**self.common, "setting": setting, "audit": self.cheap_audit_key()}
        if s.kind == "soft":
            parts["score"] = asdict(self.score)
        if s.kind in ("soft", "random"):
            parts["paraphrase"], parts["gate"] = asdict(c.paraphrase), asdict(c.gate)
        return sha256_json(parts)

    def training_set(self, s: Setting) -> TrainingSet:
        members = self.split.members
        if s.kind == "none":
            return original_set(members)
        if s.kind == "dedup":
            return dedup_set(members, self.groups())
        from sanitize.config import SanitizeConfig

        risks = self.risks()
        config = SanitizeConfig(score=self.score, paraphrase=self.ctx.paraphrase,
                                gate=self.ctx.gate)
        # One paraphrase cache for the whole run (protect opens and closes it per call): a
        # setting regenerates nothing an earlier one already made.
        return protected_set(s, members, risks, f"{self.ctx.args.seed}:{self.domain}:{s.name}",
                             config, lm=self.ctx.base_lm(),
                             embedder=self.ctx.sentence_embedder(),
                             cache_path=str(self.ctx.cache_dir / "paraphrases.sqlite"), log=log)

    def run_setting(self, s: Setting, results: dict) -> dict | None:
        key = self.setting_key(s)
        path = self.dir / f"{s.name}.json"
        cached = self.cached(path, key)
        if cached is not None:
            stale = cached.get("source") != self.ctx.src_hash
            log(f"{self.domain}/{s.name}: cached"
                + (" (measured with another library source; --fresh recomputes)" if stale
                   else ""))
            return cached
        if self.ctx.args.cached_only:
            log(f"{self.domain}/{s.name}: not measured yet (--cached-only)")
            return None
        log(f"{self.domain}/{s.name}: building the training set")
        made = self.training_set(s)
        from sanitize.datafile import write_jsonl_lines

        # The exact training file, for inspection (benchmarks/cache is not published).
        train_sha = write_jsonl_lines(self.dir / f"{s.name}.train.jsonl", made.lines())
        times = made.times
        res = {"config_hash": key, "source": self.ctx.src_hash, "setting": s.name,
               "kind": s.kind, "ratio": s.ratio,
               "members": len(self.split.members.records), "train_records": len(made.records),
               "train_sha256": train_sha, **made.counts, "member_groups": made.groups}
        twin = next((v for v in results.values() if v.get("train_sha256") == train_sha), None)
        if twin is not None:
            log(f"{self.domain}/{s.name}: training set identical to {twin['setting']}; "
                "reusing its measurements")
            res.update({k: twin[k] for k in ("attacks", "strongest", "perplexity",
                                             "by_protection") if k in twin})
            res["shared_with"] = twin["setting"]
            times.update({"train": 0.0, "audit": 0.0})
        else:
            atk = self.attacker()
            log(f"{self.domain}/{s.name}: fine-tuning the target on {len(made.records)} records")
            t = time.time()
            target = train_target(self.ctx.base_lm(), made.records, self.train)
            times["train"] = round(time.time() - t, 1)
            t = time.time()
            mr = atk.attack(target, f"target:{s.name}:{train_sha}", s.name, s.name)
            times["audit"] = round(time.time() - t, 1)
            res["attacks"] = metrics_json(mr)
            res["strongest"] = strongest(res["attacks"])
            res["perplexity"] = mr.perplexity
            res["by_protection"] = self.attacks.groups_json(mr, made.groups, full=False)
            if self.may_get_full_suite(s):
                self.models[s.name] = target  # kept for the full suite below
            else:
                del target
        res["times"] = times
        # A report may combine results from several runs (resumes, --cached-only renders):
        # each result says which command and machine measured it.
        res["measured_by"] = {"command": self.ctx.command, "hardware": hardware_text(hardware())}
        write_json(path, res)
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
            records = self.saved_training_set(name, res["train_sha256"])
            if records is None:
                records = self.training_set(settings[name]).records
                if lines_sha256(r.raw for r in records) != res["train_sha256"]:  # e.g. the paraphrase cache was deleted
                    raise SystemExit(f"error: {self.domain}/{name}: the rebuilt training set "
                                     "differs from the one the cheap attacks measured; delete "
                                     f"{self.dir / (name + '.json')} to recompute the setting")
            target = train_target(self.ctx.base_lm(), records, self.train)
        log(f"{self.domain}/{name}: full attack suite")
        t = time.time()
        mr = self.attacker(full=True).attack(target, f"target:{name}:{res['train_sha256']}",
                                             name, name)
        attacks = metrics_json(mr)
        res["full"] = {"config_hash": self.full_key(res), "attacks": attacks,
                       "strongest": strongest(attacks), "seconds": round(time.time() - t, 1),
                       "by_protection": (self.attacks.groups_json(mr, res["member_groups"],
                                                                  full=True)
                                         if "member_groups" in res else None),
                       # It may run on another machine than the cheap attacks (a GPU box).
                       "measured_by": {"command": self.ctx.command,
                                       "hardware": hardware_text(hardware())}}
        res["times"]["audit_full"] = res["full"]["seconds"]
        write_json(self.dir / f"{name}.json", res)
        del target
        gc.collect()
        return res

    def saved_training_set(self, name: str, sha256: str) -> list | None:
        """The records of `<name>.train.jsonl` when it is the file the cheap attacks' target
        trained on (same sha256), else None. A resumed full suite then needs neither the
        warm-up scores nor the paraphraser, its cache and the gate's embedder, so it can run
        where those are not (a GPU machine that holds only the base model)."""
        from sanitize.datafile import read_dataset

        path = self.dir / f"{name}.train.jsonl"
        if not path.exists():
            return None
        records = read_dataset(str(path), fmt=self.split.fmt).records
        return records if lines_sha256(r.raw for r in records) == sha256 else None

    def may_get_full_suite(self, s: Setting) -> bool:
        """Whether the target of `s` may get the full suite after every setting's cheap
        attacks (the best SOFT setting is known only then)."""
        a = self.ctx.args
        if a.no_full_suite:
            return False
        return s.name in a.full_suite_for if a.full_suite_for else s.kind in ("none", "soft")

    def full_key(self, res: dict) -> str:
        a = self.attacks.full_cfg
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
            for name in self.ctx.args.full_suite_for or ["no-defense", best_soft(results)]:
                if name in results:
                    results[name] = self.run_full(name, results[name], by_name)
        self.models.clear()
        gc.collect()
        if "score" not in self.times:  # a resumed run: the warm-up's time from its cache
            cached = read_cached(self.dir / "scores.json", self.score_key())
            if cached is not None:
                self.times["score"] = cached["seconds"]
        sp = self.split
        return {"domain": self.domain, "kind": sp.kind, "format": sp.fmt,
                "max_length": self.train.max_length,
                "members": len(sp.members.records), "nonmembers": len(sp.nonmembers.records),
                "validation": len(sp.validation.records), "eligible_records": sp.pool,
                "split_sha256": self.split_hash,
                "base_perplexity": self.cached_base_perplexity(),
                "scorer": next((v["scorer"] for v in results.values() if v.get("scorer")), None),
                "best_soft": best_soft(results), "shared_times": self.times,
                "seconds": round(time.time() - t0, 1), "settings": results,
                "not_measured": [s.name for s in settings if s.name not in results]}
