"""The settings and the training set each one gives, built by the library's API
(`sanitize.select`, then the protect stage `sanitize.protect` and the CLI run): what a setting
trains on is what the CLI would write."""
from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field, replace

from .paraphrasers import OPTIONS as PARAPHRASER_OPTIONS
from .paraphrasers import with_options

SETTINGS = ("no-defense", "soft-0.3", "soft-0.5", "soft-1.0", "random-0.5", "dedup-only")
QUICK_SETTINGS = ("no-defense", "soft-0.5", "random-0.5", "dedup-only")
# The warm-up's scorer, named in the results (`sanitize.score` is its public entry).
SCORER = "sanitize.scoring.score_records"


@dataclass(frozen=True)
class Setting:
    """One way to build the training set. Options after `+` vary one thing at a time:
    `soft-0.5+loss-drop` (risk score), `soft-0.5+keep` / `+partial` / `+drop` (what happens to
    a record whose rewrite fails), `random-0.5+seed2` (another random draw: the seed string
    includes the name), `soft-0.5+qwen0.5b+block4` (the paraphraser: paraphrasers.OPTIONS)."""

    name: str
    kind: str  # none | soft | random | dedup
    ratio: float | None = None
    score: str | None = None  # None: the run's --score (the benchmark's default: loss)
    on_fail: str | None = None  # None: the library's default
    paraphraser: tuple[str, ...] = ()  # paraphrasers.OPTIONS applied in order (none: the run's)


def parse_setting(name: str) -> Setting:
    from sanitize.config import OnFail, ScoreKind, choices  # the library's own choice lists

    # "random" is not a soft-R option: random-R is the benchmark's random selection (a seeded
    # draw per setting name, so that its training set is reproducible).
    score_options = [k for k in choices(ScoreKind) if k != "random"]
    on_fail_options = choices(OnFail)
    base, *options = name.split("+")
    setting = _parse_base(base, name)
    for opt in options:
        if opt in score_options and setting.kind == "soft":
            setting = replace(setting, score=opt)
        elif opt in on_fail_options and setting.kind in ("soft", "random"):
            setting = replace(setting, on_fail=opt)
        elif opt in PARAPHRASER_OPTIONS and setting.kind in ("soft", "random"):
            setting = replace(setting, paraphraser=(*setting.paraphraser, opt))
        elif setting.kind == "random" and opt.startswith("seed") and opt[4:].isdigit():
            pass  # the name alone makes the draw differ
        else:
            soft = "/+".join((*score_options, *on_fail_options, *PARAPHRASER_OPTIONS))
            rand = "/+".join((*on_fail_options, *PARAPHRASER_OPTIONS))
            raise SystemExit(f"error: unknown option {opt!r} in setting {name!r}; soft-R takes "
                             f"+{soft}, random-R takes +{rand}/+seedN")
    return replace(setting, name=name)


def _parse_base(base: str, name: str) -> Setting:
    if base == "no-defense":
        return Setting(base, "none")
    if base == "dedup-only":
        return Setting(base, "dedup")
    kind, _, ratio = base.partition("-")
    if kind in ("soft", "random"):
        try:
            r = float(ratio)
        except ValueError:
            r = -1.0
        if 0.0 < r <= 1.0:
            return Setting(base, kind, r)
    raise SystemExit(f"error: unknown setting {name!r}; use no-defense, dedup-only, soft-R or "
                     "random-R with 0 < R <= 1 (e.g. soft-0.5), optionally with +options "
                     "(e.g. soft-0.5+keep, soft-0.5+loss-drop, random-0.5+seed1)")


@dataclass
class TrainingSet:
    records: list  # sanitize Records, in member order
    counts: dict  # merged into the setting's result as is
    groups: list[str]  # per member: unchanged / rewritten / removed (auditing.groups)
    times: dict = field(default_factory=dict)

    def lines(self) -> list[str]:
        return [r.raw for r in self.records]


def original_set(members) -> TrainingSet:
    """no-defense: the members as they are."""
    from sanitize.auditing.groups import UNCHANGED

    return TrainingSet(list(members.records), {"selected": 0, "paraphrased": 0, "dropped": 0},
                       [UNCHANGED] * len(members.records))


def dedup_set(members, groups: list[str | None]) -> TrainingSet:
    """dedup-only: each duplicate group keeps its first record; nothing is paraphrased."""
    from sanitize.auditing.groups import REMOVED, UNCHANGED

    keep, member_groups, seen = [], [], set()
    for r, g in zip(members.records, groups):
        first = g is None or g not in seen
        seen.add(g)
        member_groups.append(UNCHANGED if first else REMOVED)
        if first:
            keep.append(r)
    n = len(members.records)
    return TrainingSet(keep, {"selected": 0, "paraphrased": 0, "dropped": n - len(keep),
                              "duplicate_groups": count_groups(groups)}, member_groups)


def count_groups(groups) -> int:
    return len({g for g in groups if g is not None})


def decisions(setting: Setting, risks: list, seed: str) -> list:
    """`sanitize.select`'s decisions for a soft-R or random-R setting. random-R: the same rule
    (ratio, duplicate groups whole) over seeded random risks, so only the ranking differs."""
    from sanitize import select
    from sanitize.config import SelectConfig
    from sanitize.scoring import risk_of

    if setting.kind == "random":
        rng = random.Random(seed)
        risks = [replace(r, risk=rng.random()) for r in risks]
    elif setting.score is not None:  # the same warm-up losses, another rule
        risks = [replace(r, risk=risk_of(setting.score, r.loss_before, r.loss_after))
                 for r in risks]
    return select(risks, SelectConfig(ratio=setting.ratio))


def select_all(members) -> list:
    """Every record selected, as at ratio 1.0, without the warm-up scoring it would not use."""
    from sanitize import select
    from sanitize.config import SelectConfig
    from sanitize.scoring import Risk

    unscored = [Risk(r.id, r.line_no, 0, False, 0.0, 0.0, 0.0, None) for r in members.records]
    return select(unscored, SelectConfig(ratio=1.0))


def protect_with(members, chosen: list, config, *, lm, embedder, cache_path: str, log):
    """`sanitize.protect` (the CLI's protect stage) on `members` with decisions made earlier
    (`chosen`, one per record; nothing is re-scored): a `sanitize.results.Protection`.

    `lm`: the loaded base model, which the local paraphraser reuses by the CLI's own rule (the
    backend is built and closed by the call, as in the CLI). One cache file for the whole run
    (opened and closed per call): a setting regenerates nothing an earlier one made."""
    from sanitize import protect

    return protect(members, config=config, scores=chosen, lm=lm, embedder=embedder,
                   cache_path=cache_path, log=lambda m: log("    " + m))


def cache_calls(protection) -> dict:
    """Paraphrase candidates read from the shared cache / generated by this protection."""
    cache = protection.manifest["paraphrase"]["cache"]
    return {"cached": cache["hits"], "generated": cache["misses"]}


def outcomes(protection) -> list:
    """The rewrites (`RecordOutcome`) of the selected records, in record order."""
    return [r.outcome for r in protection.results if r.outcome is not None]


def protected_set(setting: Setting, members, risks: list, seed: str, config, *, lm,
                  embedder, cache_path: str, log) -> TrainingSet:
    """soft-R and random-R: select, then protect with those decisions. The training set is the
    protection's output records, exactly the records the CLI would write to OUT."""
    from sanitize.config import SelectConfig

    t = time.time()
    chosen = decisions(setting, risks, seed)
    times = {"select": round(time.time() - t, 3)}
    n_selected = sum(d.selected for d in chosen)
    log(f"  {setting.name}: paraphrasing {n_selected} of {len(chosen)} members")
    t = time.time()
    cfg = replace(config, select=SelectConfig(ratio=setting.ratio))  # recorded, not re-run
    if setting.score is not None:
        cfg = replace(cfg, score=replace(cfg.score, score=setting.score))
    if setting.on_fail is not None:
        cfg = replace(cfg, gate=replace(cfg.gate, on_fail=setting.on_fail))
    cfg = replace(cfg, paraphrase=with_options(cfg.paraphrase, setting.paraphraser))
    prot = protect_with(members, chosen, cfg, lm=lm, embedder=embedder, cache_path=cache_path,
                        log=log)
    times["paraphrase"] = round(time.time() - t, 1)
    if not prot.verdict.ok:  # the numbers stand, but say that the CLI would have stopped here
        log(f"  {setting.name}: the CLI would refuse to write this output: {prot.verdict.reason}")
    c = prot.counts
    counts = {"selected": n_selected, "paraphrased": c.obfuscated, "dropped": c.dropped,
              "partial": c.partial, "kept_unchanged": c.kept_original,
              "paraphrase_calls": cache_calls(prot),
              "gate_failures": gate_failures(outcomes(prot)),
              "duplicate_groups": count_groups(r.group for r in risks),
              "scorer": SCORER if setting.kind == "soft" else None,
              "score": cfg.score.score if setting.kind == "soft" else None,
              "on_fail": cfg.gate.on_fail}
    from sanitize.auditing.groups import STATUS_GROUP

    out = [r.output for r in prot.results if r.output is not None]
    return TrainingSet(out, counts, [STATUS_GROUP[r.status] for r in prot.results], times)


def gate_failures(rewrites) -> dict[str, int]:
    """Why selected records failed the gate: each failing chunk's last failed check, and each
    segment whose chunks passed but whose reassembled text did not."""
    counts = Counter()
    for ro in rewrites:
        for so in ro.segments:
            counts.update(so.failures.values())
            if so.gate is not None and not so.gate.passed:
                counts[f"segment: {so.gate.reason}"] += 1
    return dict(counts.most_common())
