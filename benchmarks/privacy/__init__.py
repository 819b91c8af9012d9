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
               (duplicate groups whole, via `sanitize.select` over seeded random risks)
  dedup-only   every duplicate group (exact or near-duplicate, from the scoring stage) keeps its
               first record; nothing is paraphrased

What a setting trains on is what the CLI would write: the members are scored once per domain
(`sanitize.score`), each soft-R / random-R selection is made by `sanitize.select`, and the
records are protected by the pipeline's own in-memory stage (`protect_dataset`, the function
behind `sanitize.protect` and the CLI) with those decisions; its output records are the training
set. Targets are trained with `sanitize.train.fine_tune` and attacked with the audit's
`Attacker`, as `sanitize.audit` does.

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

Modules: split (domains, the fixed-seed split, fitting records to the window), settings (the
settings and their training sets), attacks (targets and attackers), run (one domain, cached),
verdict (judgements from the numbers), report (RESULTS.md/.json and the plot), cli.
"""
from __future__ import annotations

from .attacks import CHEAP_ATTACKS, FULL_ATTACKS, TITLES, metrics_json, strongest
from .cli import build_parser, main, resolve
from .report import plot, to_markdown, write_outputs
from .settings import QUICK_SETTINGS, SETTINGS, Setting, parse_setting
from .split import DOMAINS, WINDOWS, Split, fit_to_window, make_split
from .verdict import (TARGET_AUC_MARGIN, TARGET_PPL_RISE, attacks_of, best_soft, meets_target,
                      ppl_change, target_verdict)

__all__ = ["CHEAP_ATTACKS", "DOMAINS", "FULL_ATTACKS", "QUICK_SETTINGS", "SETTINGS",
           "TARGET_AUC_MARGIN", "TARGET_PPL_RISE", "TITLES", "WINDOWS", "Setting", "Split",
           "attacks_of", "best_soft", "build_parser", "fit_to_window", "main", "make_split",
           "meets_target", "metrics_json", "parse_setting", "plot", "ppl_change", "resolve",
           "strongest", "target_verdict", "to_markdown", "write_outputs"]
