"""`OUT.manifest.json`: what happened to every record and how, never the text itself.

Per record: id, line number, status, risk/rank/selected, and for rewritten segments the gate
figures, attempts, prompt hash, backend, model and seed. Run level: versions, the full config,
sha256 of input and outputs, and counts that add up to the input's record count. The original
text of a record appears nowhere in it (ids of records without one are line number + a hash).
"""
from __future__ import annotations

import time
from dataclasses import asdict

from .redact import redact_url
from .versions import package_versions

STATUSES = ("unchanged", "obfuscated", "partial", "dropped", "kept-original",
            "rejected-invalid", "other-shard")


def versions() -> dict:
    return package_versions("torch", "transformers", "sentence-transformers", "rapidfuzz", "httpx",
                            "vllm")


def record_entry(score, status: str, outcome, backend, seed: int, prompts: dict) -> dict:
    entry = {"id": score.id, "line_no": score.line_no, "status": status,
             "risk": round(score.risk, 6), "rank": score.rank, "selected": score.selected,
             "group": score.group, "tokens": score.tokens, "truncated": score.truncated}
    if outcome is not None:
        gated = [s.gate for s in outcome.segments if s.gate is not None]
        entry.update({
            "backend": backend.name, "model": backend.model, "seed": seed,
            "attempts": outcome.attempts, "requests": outcome.requests,
            # Record-level figures are the weakest segment's: the one an attacker would use.
            "similarity": round(min(g.similarity for g in gated), 4) if gated else None,
            "overlap": round(max(g.overlap for g in gated), 4) if gated else None,
            "segments": [s.summary(prompts[s.kind].sha256) for s in outcome.segments],
        })
    return entry


def count_statuses(entries: list[dict]) -> dict[str, int]:
    counts = {s: 0 for s in STATUSES}
    for e in entries:
        counts[e["status"]] += 1
    return counts


def build(cfg, dataset, entries: list[dict], outputs: dict, backend, cache, prompts: dict,
          started: float, verdict: dict) -> dict:
    counts = count_statuses(entries)
    total = len(dataset.records) + len(dataset.rejects)
    assert sum(counts.values()) == total, "manifest counts must add up to the input"
    usage = backend.usage()
    return {
        "tool": "soft-sanitize", "versions": versions(),
        "created_unix": round(time.time(), 3), "seconds": round(time.time() - started, 1),
        "dry_run": cfg.dry_run,
        "input": {"path": dataset.path, "sha256": dataset.sha256, "format": dataset.fmt,
                  "records": total, "blank_lines": dataset.blank_lines},
        "outputs": outputs,
        "counts": counts,
        "verdict": verdict,
        "paraphrase": {"backend": backend.name, "model": backend.model,
                       "backend_calls": usage["backend_calls"],
                       "generated_tokens": usage["generated_tokens"],
                       "cache": cache.stats(),
                       "prompts": {k: {"sha256": p.sha256, "source": p.source}
                                   for k, p in prompts.items()}},
        "config": _recorded_config(cfg),
        "records": entries,
    }


def _recorded_config(cfg) -> dict:
    """The run's config as recorded: an endpoint's credentials are never written down."""
    config = asdict(cfg)
    bases = config["paraphrase"]["api_base"]
    config["paraphrase"]["api_base"] = (redact_url(bases) if not isinstance(bases, (list, tuple))
                                        else [redact_url(b) for b in bases])
    return config
