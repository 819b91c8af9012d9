"""Paraphrase yield: how many selected records the paraphraser rewrites past the gate, per domain
and paraphrase setting (levers: docs/paraphrase.md). Prints and saves, per (domain, variant): the
share of records rewritten (the yield at ratio 1.0, where every record is selected), the share
of chunks whose first candidate passed, why chunks failed, mean similarity and overlap of the
kept rewrites, and generation time.

    python benchmarks/paraphrase_yield.py --n 16                       # every variant below
    python benchmarks/paraphrase_yield.py --n 16 --variant default --variant block4

Records: the first N members of the privacy benchmark's split of each domain (same seed, same
per-domain training window), so yield here is the yield the benchmark's soft-1.0 would see.
Results land in benchmarks/results/yield/<domain>--<variant>.json as they finish (resumable:
finished pairs are skipped, finished candidates come from the paraphrase cache) and the table
is re-rendered into docs/paraphrase-yield.md.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

from privacy import DOMAINS, WINDOWS, make_split  # noqa: E402
from privacy.common import REPO, hardware, log, write_json  # noqa: E402
from privacy.paraphrasers import LARGER, larger_model_path  # noqa: E402
from privacy.settings import (cache_calls, gate_failures, outcomes, protect_with,  # noqa: E402
                               select_all)

from sanitize.config import GateConfig, ParaphraseConfig, SanitizeConfig  # noqa: E402
from sanitize.paraphrase import placeholders  # noqa: E402

OUT_DIR = REPO / "benchmarks" / "results" / "yield"
TABLE = REPO / "docs" / "paraphrase-yield.md"
CACHE = REPO / "benchmarks" / "cache" / "yield.sqlite"
# One lever at a time against today's defaults (so each effect is seen alone), then combinations.
VARIANTS = {
    "default": {},
    # The same candidates without the fact checks (gate settings go under "gate").
    "no-facts": {"gate": {"check_facts": False}},
    # The same candidates, failed chunks left out instead of the record dropped.
    "partial": {"gate": {"on_fail": "partial"}},
    "block4": {"block_ngrams": 4},
    "block3": {"block_ngrams": 3},
    "norepeat": {"no_repeat_ngram": 4, "repetition_penalty": 1.1},
    "best-of-3": {"pick": "most-changed"},
    "small-pieces": {"chunk_words": 50},
    "block4+norepeat": {"block_ngrams": 4, "no_repeat_ngram": 4},
    "block4+small": {"block_ngrams": 4, "chunk_words": 50},
    "oneshot": {"prompt_dir": "prompts/oneshot"},  # a worked example per content type
    "mask-facts": {"mask_facts": True},  # names and numbers sent as placeholders
    # Blocking made the model bend facts; with them masked only the wording is blocked.
    "block4+mask-facts": {"block_ngrams": 4, "mask_facts": True},
    # The two best levers so far together (oneshot's cached candidates: gate time only).
    "oneshot+partial": {"prompt_dir": "prompts/oneshot", "gate": {"on_fail": "partial"}},
    # How much of the gap is the model: the larger paraphraser, as it is and unable to copy.
    "qwen0.5b": {"model": LARGER},
    "qwen0.5b+block4": {"model": LARGER, "block_ngrams": 4},
}


def rewrite_all(records, pcfg, gcfg, base) -> tuple[list, dict]:
    """Every record selected (ratio 1.0) and rewritten under the gate by `sanitize.protect`,
    the CLI's protect stage: the rewrites (`RecordOutcome`s) and the cache counters."""
    protection = protect_with(records, select_all(records),
                              SanitizeConfig(paraphrase=pcfg, gate=gcfg), lm=base,
                              embedder=None, cache_path=str(CACHE), log=log)
    return outcomes(protection), cache_calls(protection)


@contextmanager
def placeholder_counts():
    """With --mask-facts: of the candidates for pieces that had placeholders, how many carried
    every placeholder over exactly, lost one, or added one (counted where the pipeline puts
    the values back, so cached candidates are counted too)."""
    counts: Counter = Counter()
    restore = placeholders.Masked.restore

    def counting(self, candidate: str) -> str:
        if self.values:
            sent, got = (Counter(t[a:b] for a, b in placeholders.placeholder_spans(t))
                         for t in (self.text, candidate))
            counts["candidates"] += 1
            counts["kept_exactly"] += sent == got
            counts["lost_some"] += bool(set(sent) - set(got))
            counts["invented_some"] += bool(set(got) - set(sent))
        return restore(self, candidate)

    placeholders.Masked.restore = counting
    try:
        yield counts
    finally:
        placeholders.Masked.restore = restore


def measure(domain: str, variant: str, n: int, seed: int, base) -> dict:
    split = make_split(domain, n, 0, 0, seed, None, base.tokenizer, WINDOWS[domain])
    settings = dict(VARIANTS[variant])
    gcfg = replace(GateConfig(), **settings.pop("gate", {}))
    if settings.get("model") == LARGER:
        settings["model"] = larger_model_path()
    pcfg = replace(ParaphraseConfig(), **settings)
    if pcfg.prompt_dir:  # recorded relative to the repository, loaded from it
        pcfg = replace(pcfg, prompt_dir=str(REPO / pcfg.prompt_dir))
    started = time.perf_counter()
    with placeholder_counts() as codes:
        rewrites, calls = rewrite_all(split.members, pcfg, gcfg, base)
    seconds = time.perf_counter() - started
    chunks = [(so, i) for ro in rewrites for so in ro.segments
              for i, c in enumerate(so.chunks) if not c.verbatim]
    failed = sum(len(so.failures) for ro in rewrites for so in ro.segments)
    kept = [s.gate for ro in rewrites if ro.new_record for s in ro.segments if s.gate]
    return {
        "domain": domain, "variant": variant, "settings": VARIANTS[variant], "records": n,
        "rewritten": sum(ro.new_record is not None and not ro.partial for ro in rewrites),
        "partial": sum(ro.partial for ro in rewrites),
        "chunks": len(chunks), "chunks_failed": failed,
        "failures": gate_failures(rewrites),
        "similarity_mean": _mean([g.similarity for g in kept]),
        "overlap_mean": _mean([g.overlap for g in kept]),
        "generation_s": round(seconds, 1), "calls": calls,
        **({"placeholders": dict(codes)} if pcfg.mask_facts else {}),
        # Recorded as named in VARIANTS: no machine path of a prompt folder or model file.
        "paraphrase": {**asdict(pcfg), "prompt_dir": settings.get("prompt_dir"),
                       "model": VARIANTS[variant].get("model")},
        "gate": asdict(gcfg), "seed": seed,
        "machine": hardware(),
    }


def _mean(xs: list[float]) -> float | None:
    return round(statistics.fmean(xs), 4) if xs else None


def render(rows: list[dict]) -> str:
    lines = ["# Paraphrase yield per domain and setting", "",
             "Written by `benchmarks/paraphrase_yield.py` (embedded SmolLM2-135M-Instruct "
             "unless the variant names a model: qwen0.5b* use Qwen2.5-Coder-0.5B-Instruct Q4, "
             "on the first 8 records of the same split; default gate; every record selected, "
             "as at ratio 1.0). *yield*: records whose "
             "every rewritten segment passed the gate; *partial*: records kept with failed "
             "pieces left out (`--on-fail partial`); *failed*: chunks without a passing "
             "candidate after all tries; similarity and overlap: means over the rewritten "
             "records' segments; *gen. s*: wall time of the run (no-facts and partial reuse "
             "default's cached candidates, so theirs is gate time only); *top failures*: each "
             "failed chunk's last failed check. Samples are small (16 records a domain): "
             "read differences of one or two records as noise.", "",
             "| domain | variant | settings | yield | partial | chunks | failed | similarity "
             "| overlap | gen. s | top failures |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["domain"], list(VARIANTS).index(r["variant"])
                                         if r["variant"] in VARIANTS else 99)):
        fails = ", ".join(f"{k} {v}" for k, v in list(r["failures"].items())[:3]) or "-"
        lines.append(
            f"| {r['domain']} | {r['variant']} | {json.dumps(r['settings']) or '{}'} | "
            f"{r['rewritten']}/{r['records']} ({r['rewritten'] / r['records']:.0%}) | "
            f"{r.get('partial', 0)} | {r['chunks']} | {r['chunks_failed']} | "
            f"{r['similarity_mean']} | {r['overlap_mean']} | {r['generation_s']} | {fails} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=16, help="records per domain")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--domain", action="append", choices=list(DOMAINS))
    ap.add_argument("--variant", action="append", choices=list(VARIANTS))
    ap.add_argument("--render-only", action="store_true")
    args = ap.parse_args()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    if not args.render_only:
        from sanitize.models import load_lm

        base = load_lm(None, device="cpu")
        for variant in args.variant or list(VARIANTS):
            for domain in args.domain or list(DOMAINS):
                path = OUT_DIR / f"{domain}--{variant}.json"
                if path.exists() and json.loads(path.read_text())["records"] == args.n:
                    continue
                log(f"{domain} / {variant}: {args.n} records")
                row = measure(domain, variant, args.n, args.seed, base)
                write_json(path, row)
                log(f"  rewrote {row['rewritten']}/{row['records']} in "
                       f"{row['generation_s']} s; failures {row['failures']}")
    rows = [json.loads(p.read_text()) for p in sorted(OUT_DIR.glob("*.json"))]
    TABLE.write_text(render(rows))
    print(render(rows))


if __name__ == "__main__":
    main()
