"""Join the outputs of `--shard i/N` runs into the OUT one run would have written.

Shard i owns every N-th record of IN from the i-th (pipeline.shard_owned) and writes those
records only, with its manifest; the others are "other-shard" there. The merge takes each
record's line and manifest entry from its owner, in IN's order, after checking that the shards
were made from this very IN, cover 0..N-1 once each and ran with the same settings. With a
backend that is deterministic per request (echo; openai with per-request seeds at temperature 0
or a seeded server), OUT is byte for byte what one unsharded run writes; the local backend
samples per batch, so its shards are equally valid but not identical to one run.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from .errors import InputError, OutputRefused
from .datafile import Outputs, dump_json, read_dataset, sidecar, write_lines
from .manifest import count_statuses
from .paths import check_outputs, private_mode
from .progress import Log, no_log

# Config keys that differ between the shards of one run by design.
PER_SHARD = ("output", "cache_path", "manifest_path", "rejected_path", "shard")


def _shard_manifest(path: str) -> dict:
    manifest = sidecar(path, ".manifest.json")
    try:
        with open(manifest, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise InputError(f"no manifest beside this shard output ({Path(manifest).name})",
                         path) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"its manifest is not JSON: {exc.msg}", manifest) from None


def _lines(path: str | None) -> list[str]:
    if not path:
        return []
    with open(path, encoding="utf-8", newline="") as fh:
        return [line.rstrip("\r\n") for line in fh if line.strip()]


def merge(input_path: str, output: str, shards: list[str], max_drop: float = 0.5,
          log: Log = no_log) -> dict:
    """Write OUT, its manifest (and rejected file) from the shards' outputs; returns the
    manifest. Raises OutputRefused, writing nothing, when the verdict fails."""
    from .pipeline import output_verdict, write_rejected

    started = time.time()
    paths = {"OUT": output, "the manifest": sidecar(output, ".manifest.json"),
             "the rejected-records file": sidecar(output, ".rejected.jsonl")}
    inputs = {"IN": input_path}
    for k, s in enumerate(shards):
        inputs[f"shard {k + 1}"] = s
        inputs[f"shard {k + 1}'s manifest"] = sidecar(s, ".manifest.json")
    check_outputs(inputs, paths)
    manifests = [_shard_manifest(s) for s in shards]
    first = manifests[0]
    cfg = first["config"]
    data = read_dataset(input_path, cfg["fmt"], cfg["skip_invalid"])
    total = {m["config"]["shard"][1] if m["config"].get("shard") else None for m in manifests}
    if total != {len(shards)}:
        raise InputError(f"{len(shards)} shard outputs given, but their manifests say "
                         f"{sorted(map(str, total))} shards (each run needs --shard i/N)",
                         shards[0])
    by_index = {}
    for s, m in zip(shards, manifests):
        i = m["config"]["shard"][0]
        if i in by_index:
            raise InputError(f"shard {i} is given twice ({by_index[i][0]} and {s})", s)
        if m["input"]["sha256"] != data.sha256:
            raise InputError("this shard was made from another input than IN", s)
        differ = sorted(k for k in set(cfg) | set(m["config"])
                        if k not in PER_SHARD and cfg.get(k) != m["config"].get(k))
        if differ:
            raise InputError(f"this shard ran with other settings than {shards[0]}: "
                             f"{', '.join(differ)}", s)
        by_index[i] = (s, m)
    n = len(shards)
    # Each shard's OUT lines and rejected lines, in the order of its own records.
    out_lines, rejected_lines, entries = {}, {}, []
    for i, (s, m) in by_index.items():
        written = [e for e in m["records"] if e["status"] not in ("other-shard", "dropped",
                                                                   "rejected-invalid")]
        dropped = [e for e in m["records"] if e["status"] == "dropped"]
        if m["outputs"]["output"].get("format", "jsonl") != "jsonl":
            raise InputError("merge joins JSONL shard outputs; run the shards with a .jsonl "
                             "OUT", s)
        # The rejected file as the shard recorded it, else beside the shard's OUT (copied
        # from another machine with it).
        recorded = m["outputs"].get("rejected", {}).get("path")
        beside = sidecar(s, ".rejected.jsonl")
        lines = _lines(s)
        rejected = _lines(recorded if recorded and Path(recorded).exists() else
                          beside if dropped else None)
        if len(lines) != len(written) or len(rejected) != len(dropped):
            raise InputError(f"this shard's output and rejected file hold {len(lines)} and "
                             f"{len(rejected)} records, its manifest lists {len(written)} and "
                             f"{len(dropped)}: they were changed after the run", s)
        out_lines.update({e["id"]: line for e, line in zip(written, lines)})
        rejected_lines.update({e["id"]: line for e, line in zip(dropped, rejected)})
    kept, rejected = [], []
    for j, rec in enumerate(data.records):
        owner = by_index[j % n][1]
        entry = owner["records"][j]
        if entry.get("id") != rec.id:
            raise InputError(f"shard {j % n}'s manifest does not list IN's records in order",
                             by_index[j % n][0])
        entries.append(entry)
        if entry["status"] == "dropped":
            rejected.append(rejected_lines[rec.id])
        else:
            kept.append(out_lines[rec.id])
    entries += [e for e in first["records"] if e["status"] == "rejected-invalid"]
    counts = count_statuses(entries)
    verdict = output_verdict(entries, len(kept), max_drop)
    merged = {**first, "created_unix": round(time.time(), 3),
              "seconds": round(time.time() - started, 1), "counts": counts, "verdict": verdict,
              "config": {**cfg, **{k: None for k in PER_SHARD}, "output": output},
              "shards": [{"path": s, "shard": f"{i}/{n}", "seconds": m["seconds"],
                          "output_sha256": m["outputs"]["output"]["sha256"]}
                         for i, (s, m) in sorted(by_index.items())],
              "records": entries}
    for stat in ("backend_calls", "generated_tokens"):
        values = [m["paraphrase"].get(stat) for m in manifests]
        merged["paraphrase"] = {**merged["paraphrase"],
                                stat: sum(values) if None not in values else None}
    if not verdict["ok"]:
        raise OutputRefused(verdict["reason"], merged)
    newline = data.newline
    with Outputs(private_mode(input_path)) as outs:
        outputs = {}
        with outs.writer(output) as fh:
            outputs["output"] = {"path": output, "format": "jsonl", "records": len(kept),
                                 "sha256": write_lines(fh, kept, newline)}
        written = write_rejected(outs, paths["the rejected-records file"], rejected, newline)
        if written:
            outputs["rejected"] = written
        merged["outputs"] = outputs
        with outs.writer(paths["the manifest"]) as fh:
            dump_json(fh, merged)
        outs.commit()
    log(f"merged {n} shards: {len(kept)} records in {output}")
    return merged
