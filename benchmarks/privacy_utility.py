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
from privacy.common import REPO  # noqa: E402

__all__ = ["CHEAP_ATTACKS", "DOMAINS", "FULL_ATTACKS", "QUICK_SETTINGS", "SETTINGS",
           "TARGET_AUC_MARGIN", "TARGET_PPL_RISE", "TITLES", "WINDOWS", "Setting", "Split",
           "attacks_of", "best_soft", "build_parser", "fit_to_window", "main", "make_split",
           "meets_target", "metrics_json", "parse_setting", "plot", "ppl_change", "resolve",
           "strongest", "target_verdict", "to_markdown", "write_outputs", "REPO"]

if __name__ == "__main__":
    main()
