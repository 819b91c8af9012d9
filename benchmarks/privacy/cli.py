"""The command line: `python benchmarks/privacy_utility.py [options]`."""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

from . import __doc__ as METHOD
from .attacks import CHEAP_ATTACKS, FULL_ATTACKS
from .common import DEFAULT_CACHE, DEFAULT_OUT, QUICK_DIR, hardware, log, source_hash
from .report import write_outputs
from .run import DomainRun, RunContext
from .settings import QUICK_SETTINGS, SETTINGS, Setting, parse_setting
from .split import DOMAINS, WINDOWS, data_path
from .verdict import target_verdict


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=METHOD.split("\n\n")[0],
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
    # soft-R is SOFT's ranking; random selection is the random-R settings (the library's
    # default, --score random, is the same rule with a secret key instead of a seed).
    p.add_argument("--score", choices=["loss", "loss-drop", "base-loss"], default="loss",
                   help="soft-R's risk score (default: loss, the paper's)")
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
    p.add_argument("--full-suite-for", metavar="SETTINGS",
                   help="comma list of the settings that get the full suite (default: "
                        "no-defense and the best SOFT setting); each must be in --settings")
    p.add_argument("--full-suite-attacks", metavar="ATTACKS",
                   help=f"comma list: the attacks of the full suite (default: all, "
                        f"{','.join(FULL_ATTACKS)}); e.g. the cheap attacks plus ensemble, "
                        "an adaptive attack that costs no neighbourhood or SPV-MIA stage")
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
    if q and not (args.full_suite or args.full_suite_for):
        args.no_full_suite = True
    if args.full_suite_attacks:
        args.full_suite_attacks = args.full_suite_attacks.split(",")
        unknown = [a for a in args.full_suite_attacks if a not in FULL_ATTACKS]
        if unknown:
            raise SystemExit(f"error: unknown attack(s) {unknown}; choose from {FULL_ATTACKS}")
        # The attack order is the library's (the ensemble last: it reads the others).
        args.full_suite_attacks = [a for a in FULL_ATTACKS if a in args.full_suite_attacks]
    if args.full_suite_for:
        args.full_suite_for = args.full_suite_for.split(",")
        missing = [s for s in args.full_suite_for if s not in args.settings]
        if missing:
            raise SystemExit(f"error: --full-suite-for names {missing}, which --settings "
                             "does not run")
        if args.no_full_suite:
            raise SystemExit("error: --full-suite-for and --no-full-suite contradict each other")
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
    # The embedded models are on disk: never reach for the Hub (the library sets nothing).
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch

    threads_before = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        return run_benchmark(args, argv, settings)
    finally:
        torch.set_num_threads(threads_before)  # main() may run inside pytest


def make_context(args: argparse.Namespace, argv: list[str],
                 script: str = "privacy_utility.py") -> RunContext:
    """The configs every domain shares, from resolved arguments (also benchmarks/
    rewrite_leakage.py's, so both measure with the same training and attack settings)."""
    from sanitize.auditing.config import AttackConfig, AuditConfig
    from sanitize.config import GateConfig, ParaphraseConfig, ScoreConfig, TrainConfig

    # max_length is set per domain (DomainRun); this one is only the template.
    train = TrainConfig(epochs=args.epochs, max_length=args.max_length or 128, seed=args.seed,
                        device=args.device)
    score = ScoreConfig(train=train, score=args.score)
    # --seed and --device set the paraphraser's as the CLI's do.
    paraphrase = ParaphraseConfig(seed=args.seed, device=args.device, **{
        k: v for k, v in (("candidates", args.candidates),
                          ("max_new_tokens", args.max_new_tokens)) if v})
    gate = GateConfig()
    audit = AuditConfig(out_dir=str(args.cache_dir), attacks=CHEAP_ATTACKS, train=train,
                        bootstrap=args.bootstrap, seed=args.seed, attack=AttackConfig())
    command = f"python benchmarks/{script} " + shlex.join(argv)
    return RunContext(args, train, score, paraphrase, gate, audit,
                      replace(audit, attacks=tuple(args.full_suite_attacks or FULL_ATTACKS)),
                      args.cache_dir, source_hash(),
                      command)


def run_benchmark(args: argparse.Namespace, argv: list[str], settings: list[Setting]) -> dict:
    ctx = make_context(args, argv)
    t0 = time.time()
    report = {"schema": "soft-sanitize/benchmark/v1", "quick": args.quick,
              "source": ctx.src_hash, "command": ctx.command,
              "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "hardware": hardware(),
              "config": {"members": args.members, "nonmembers": args.nonmembers,
                         "validation": args.validation, "max_chars": args.max_chars,
                         "seed": args.seed, "settings": args.settings,
                         "train": asdict(ctx.train), "score": asdict(ctx.score),
                         "paraphrase": asdict(ctx.paraphrase), "gate": asdict(ctx.gate),
                         "cheap_attacks": list(CHEAP_ATTACKS),
                         "full_attacks": list(ctx.audit_full.attacks),
                         "full_suite": not args.no_full_suite, "bootstrap": args.bootstrap},
              "domains": [], "skipped_domains": []}
    for domain in args.domains:
        path = data_path(domain)
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
    log(f"done in {report['seconds']:.0f}s")
    return report
