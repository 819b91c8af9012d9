#!/usr/bin/env python
"""Privacy / utility / speed benchmark of soft-sanitize on real data (benchmarks/RESULTS.md).

The command users type; the benchmark itself is the package benchmarks/privacy/ (its docstring
describes the method). This file puts the repository and benchmarks/ on sys.path, so it runs
from any directory without installing anything, and re-exports the names tests use.

    python benchmarks/privacy_utility.py --quick
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for path in (HERE.parent, HERE):  # the library (sanitize) and the benchmark package (privacy)
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from privacy import (CHEAP_ATTACKS, DOMAINS, FULL_ATTACKS, QUICK_SETTINGS,  # noqa: E402
                     SETTINGS, TARGET_AUC_MARGIN, TARGET_PPL_RISE, TITLES, WINDOWS, Setting,
                     Split, attacks_of, best_soft, build_parser, fit_to_window, main,
                     make_split, meets_target, metrics_json, parse_setting, plot, ppl_change,
                     resolve, strongest, target_verdict, to_markdown, write_outputs)
from privacy.common import REPO, hardware, log, write_json  # noqa: E402
from privacy.settings import cache_calls, gate_failures, outcomes, protect_with  # noqa: E402

_write_json = write_json  # the name benchmarks/paraphrase_yield.py uses


class Paraphraser:
    """For benchmarks/paraphrase_yield.py: every given record selected and rewritten under the
    gate by the same protect stage the benchmark's soft-1.0 runs. `run` gives the rewrites
    (`RecordOutcome`s, new_record None: failed the gate) and the cache counters."""

    def __init__(self, pcfg, gcfg, base, cache_path):
        self.pcfg, self.gcfg, self.base, self.cache_path = pcfg, gcfg, base, str(cache_path)

    def run(self, records) -> tuple[list, dict]:
        from sanitize import select
        from sanitize.api import as_dataset
        from sanitize.config import SanitizeConfig, SelectConfig
        from sanitize.scoring import Risk

        data = as_dataset(records if hasattr(records, "records") else [r.data for r in records])
        unscored = [Risk(r.id, r.line_no, 0, False, 0.0, 0.0, 0.0, None) for r in data.records]
        cfg = SanitizeConfig(paraphrase=self.pcfg, gate=self.gcfg)
        prot = protect_with(data, select(unscored, SelectConfig(ratio=1.0)), cfg, lm=self.base,
                            embedder=None, cache_path=self.cache_path, log=log)
        return outcomes(prot), cache_calls(prot)


__all__ = ["CHEAP_ATTACKS", "DOMAINS", "FULL_ATTACKS", "QUICK_SETTINGS", "SETTINGS",
           "TARGET_AUC_MARGIN", "TARGET_PPL_RISE", "TITLES", "WINDOWS", "Setting", "Split",
           "attacks_of", "best_soft", "build_parser", "fit_to_window", "main", "make_split",
           "meets_target", "metrics_json", "parse_setting", "plot", "ppl_change", "resolve",
           "strongest", "target_verdict", "to_markdown", "write_outputs",
           # for benchmarks/paraphrase_yield.py
           "REPO", "Paraphraser", "gate_failures", "hardware", "log"]

if __name__ == "__main__":
    main()
