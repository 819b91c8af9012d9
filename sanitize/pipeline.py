"""The whole `soft-sanitize IN OUT` run: read -> score -> select -> paraphrase -> gate -> write.

Outputs, all atomic, the manifest last (its presence means the run finished):
- OUT: every record in input order; selected ones replaced by their paraphrase (never added
  next to the original), untouched ones byte-identical, dropped ones left out.
- OUT.rejected.jsonl: selected records whose rewrite failed the gate under `--on-fail drop`.
  They are the ORIGINAL records, the user's own data, kept so nothing vanishes silently; this
  file is not for training.
- OUT.manifest.json: what happened to every record (manifest.py).
- OUT.private-cache.sqlite: every finished paraphrase, so a rerun after a crash resumes. Its
  name says what it is: a paraphraser's raw answers can hold original text (cache.py).
"""
from __future__ import annotations

import contextlib
import json
import time
from dataclasses import replace

from . import manifest, tabular
from . import scoring  # called through the module: tests replace its functions
from .cache import Cache
from .config import SanitizeConfig
from .datafile import Dataset, Outputs, dump_json, read_dataset, sidecar, write_lines
from .errors import OutputRefused
from .obfuscate import RecordOutcome, obfuscate
from .paths import check_outputs, private_mode
from .progress import Log, Progress, no_log, silent
from .prompts import load_templates
from .records import Record
from .results import Protection, RecordResult
from .selection import RecordScore, decide


def output_paths(cfg: SanitizeConfig) -> dict[str, str | None]:
    """Every file a run writes, by the label its errors use. The cache's -wal/-shm files are
    SQLite's own, beside it."""
    if cfg.dry_run:
        return {}
    cache = sidecar(cfg.output, ".private-cache.sqlite", cfg.cache_path)
    return {"OUT": cfg.output,
            "the manifest": sidecar(cfg.output, ".manifest.json", cfg.manifest_path),
            "the rejected-records file": sidecar(cfg.output, ".rejected.jsonl",
                                                 cfg.rejected_path),
            "--cache": cache, "the cache's WAL file": f"{cache}-wal" if cache else None,
            "the cache's shared-memory file": f"{cache}-shm" if cache else None}


def input_paths(cfg: SanitizeConfig) -> dict[str, str | None]:
    prompt_dir = cfg.paraphrase.prompt_dir
    return {"IN": cfg.input, "--prompt-file": cfg.paraphrase.prompt_file,
            "--scores": cfg.scores_path,
            "--scores' provenance file": (scoring.meta_path(cfg.scores_path)
                                          if cfg.scores_path else None),
            **{f"--prompt-dir's {k}.md": f"{prompt_dir}/{k}.md" if prompt_dir else None
               for k in ("text", "code", "chat")}}


def run(cfg: SanitizeConfig, lm=None, embedder=None, backend=None, log: Log = no_log,
        progress: Progress = silent) -> Protection:
    """Protect the file cfg.input into cfg.output and its side files; the result carries the
    manifest as written. `lm`, `embedder`, `backend` may be passed in (tests, the audit)
    instead of being loaded from the config.

    Everything that can fail cheaply is checked before the warm-up (the expensive stage): paths
    and permissions of every output, the prompt templates, the input itself, the cache, and the
    paraphrase backend (built, so an unreachable endpoint or a missing model stops the run now).
    Raises OutputRefused, writing nothing, when the verdict fails.
    """
    kind = out_kind(cfg)
    check_outputs(input_paths(cfg), output_paths(cfg), folders=("OUT",) if kind == "hf" else ())
    data = read_dataset(cfg.input, cfg.fmt, cfg.skip_invalid)
    log(f"read {len(data.records)} records ({data.fmt}), {len(data.rejects)} invalid")
    perms = private_mode(cfg.input)
    cache_path = None if cfg.dry_run else output_paths(cfg)["--cache"]
    protection = protect_dataset(data, cfg, lm=lm, embedder=embedder, backend=backend,
                                 cache_path=cache_path, cache_perms=perms, log=log,
                                 progress=progress)
    verdict = protection.verdict
    if not verdict.ok and not cfg.dry_run:
        raise OutputRefused(verdict.reason, protection.manifest)
    if not cfg.dry_run:
        _write_outputs(cfg, protection, perms)
    return protection


def protect_dataset(data: Dataset, cfg: SanitizeConfig, lm=None, embedder=None, backend=None,
                    cache_path: str | None = None, cache_perms: int = 0o600,
                    log: Log = no_log, progress: Progress = silent,
                    scores: list[RecordScore] | None = None) -> Protection:
    """Score, select, paraphrase and gate `data` in memory; nothing but the cache (when
    `cache_path` is given) is written. The manifest's outputs stay empty until written.
    `scores`: decisions already made (selection.decide over scoring's risks, one per record in
    order), e.g. to rewrite many selections of one warm-up; then nothing is scored here.
    A backend passed in stays open (the caller's); one built here is closed here."""
    from .models import load_embedder, load_lm
    from .paraphrase import make_backend

    started = time.time()
    pcfg = replace(cfg.paraphrase, backend="echo") if cfg.dry_run else cfg.paraphrase
    prompts = load_templates(pcfg.prompt_file, pcfg.prompt_dir)
    if scores is not None and [s.id for s in scores] != [r.id for r in data.records]:
        raise ValueError("scores must hold one decision per record, in the records' order")
    stored = (scoring.load_scores(cfg.scores_path, data, cfg.score)
              if cfg.scores_path and scores is None else None)
    with contextlib.ExitStack() as cleanup:
        if backend is None and pcfg.backend != "local":  # proves the endpoint before any model
            backend = make_backend(pcfg)
            cleanup.callback(backend.close)
        cache = Cache(cache_path, cache_perms)
        cleanup.callback(cache.close)
        embedder = embedder or load_embedder()
        if stored is None and scores is None:
            lm = lm or load_lm(cfg.score.model, device=cfg.score.train.device)
        if backend is None:  # the local backend may reuse the scoring model
            backend = make_backend(pcfg, lm=lm if _same_model(cfg) else None)
            cleanup.callback(backend.close)
        if scores is None:
            # --score random draws from a key kept in the private cache: a resumed run (same
            # cache) repeats the draw, and nobody without the cache can recompute it.
            key = cache.secret("selection") if cfg.score.score == "random" else None
            if key is not None:
                log("--score random: the selection is a secret draw; no model is fine-tuned")
            elif cfg.score.score not in scoring.WARM_UP_RULES and stored is None:
                log(f"--score {cfg.score.score}: ranks by the base model's loss; no warm-up "
                    "runs")
            if key is not None and cache_path is None:
                log("--score random without a cache file (a dry run or an in-memory call): "
                    "this draw cannot be repeated, and a real run draws another")
            if stored is not None:
                log(f"reusing the stored losses in {cfg.scores_path}"
                    + (" (for the manifest: --score random does not rank by them; "
                       "--score loss does)" if key is not None else ""))
                risks = scoring.rescore(data.records, stored, cfg.score, embedder, progress,
                                        selection_key=key)
            else:
                risks = scoring.score_records(data.records, cfg.score, lm=lm,
                                              embedder=embedder, source_path=data.path,
                                              progress=progress, selection_key=key)
            scores = decide(risks, cfg.select)
        owned = shard_owned(len(data.records), cfg.shard)
        selected = [r for r, s, mine in zip(data.records, scores, owned) if s.selected and mine]
        n_selected = sum(s.selected for s in scores)
        log(f"selected {n_selected} of {len(data.records)} records to "
            f"obfuscate" + (f"; {len(selected)} of them in shard {cfg.shard[0]}/{cfg.shard[1]}"
                            if cfg.shard else ""))
        _warn_drop_bound(cfg, n_selected, data, log)
        outcomes = obfuscate(selected, backend, pcfg, cfg.gate, prompts, cache, embedder, log,
                             verbose=cfg.verbose)

    by_id = {o.record.id: o for o in outcomes}
    results, entries = [], []
    for rec, score, (status, out) in zip(data.records, scores, dispose(
            data.records, outcomes, cfg.gate.on_fail, owned)):
        outcome = by_id.get(rec.id)
        results.append(RecordResult(rec, score, status, outcome, out))
        entries.append(manifest.record_entry(score, status, outcome, backend, pcfg.seed,
                                             prompts))
    entries += [{"line_no": r.line_no, "status": "rejected-invalid", "reason": r.reason}
                for r in data.rejects]
    kept = sum(r.output is not None for r in results)
    # A shard's OUT holds its own records only: the merge judges the whole.
    verdict = output_verdict(entries, kept, None if cfg.shard else cfg.max_drop)

    def build(outputs: dict) -> dict:
        return manifest.build(cfg, data, entries, outputs, backend, cache, prompts, started,
                              verdict)

    return Protection(data, results, build({}), build)


def out_kind(cfg: SanitizeConfig) -> str:
    """OUT's format: jsonl, parquet or hf (a save_to_disk folder); see tabular.output_kind."""
    return tabular.output_kind(cfg.output, cfg.output_format, tabular.table_kind(cfg.input))


def _warn_drop_bound(cfg: SanitizeConfig, n_selected: int, data: Dataset, log: Log) -> None:
    """Before the costly paraphrase stage: with --on-fail drop, a selection larger than
    --max-drop is refused at the end if enough of its rewrites fail, as most do with a small
    paraphraser (docs/paraphrase.md), so say it now rather than after the work."""
    total = len(data.records) + len(data.rejects)
    # A shard is not held to --max-drop (output_verdict): the merge judges the whole.
    if cfg.gate.on_fail != "drop" or cfg.shard or not total:
        return
    worst = (n_selected + len(data.rejects)) / total
    if worst > cfg.max_drop:
        log(f"note: with --on-fail drop up to {worst:.0%} of the records may be left out, "
            f"over --max-drop {cfg.max_drop:g}; if that many rewrites fail, nothing is "
            f"written. Raise --max-drop to accept it, or use --on-fail keep or partial")


def output_verdict(entries: list[dict], kept: int, max_drop: float | None) -> dict:
    """Is OUT fit to hand to a trainer? Not when it holds no record, or when more than
    `max_drop` of the input records would be left out of it (dropped or invalid). None: not
    judged here (a shard, which may rightly hold no record: the merge judges the whole)."""
    total = len(entries)
    dropped = sum(e["status"] == "dropped" for e in entries)
    invalid = sum(e["status"] == "rejected-invalid" for e in entries)
    share = (dropped + invalid) / total if total else 1.0
    reason = None
    fix = ("nothing was written (finished rewrites are cached: rerun with --on-fail keep or "
           "partial, or a higher --max-drop)")
    if max_drop is None:
        pass
    elif kept == 0:
        reason = (f"OUT would hold no record ({dropped} dropped, {invalid} invalid of "
                  f"{total}); {fix}")
    elif share > max_drop:
        reason = (f"{dropped + invalid} of {total} input records ({share:.0%}) would be left out "
                  f"of OUT ({dropped} failed the gate, {invalid} invalid), more than --max-drop "
                  f"{max_drop:g}; {fix}")
    return {"ok": reason is None, "reason": reason, "records_out": kept,
            "left_out": dropped + invalid, "left_out_share": round(share, 4),
            "max_drop": max_drop}


def _write_outputs(cfg: SanitizeConfig, protection: Protection, perms: int | None) -> None:
    """OUT, the rejected file and the manifest appear together or not at all, manifest last:
    a failure while writing any of them leaves every earlier output as it was."""
    data, kept = protection.data, protection.kept_lines
    paths = output_paths(cfg)
    rejected_path = paths["the rejected-records file"]
    outputs: dict = {}
    kind = out_kind(cfg)
    with Outputs(perms) as outs:
        if kind == "jsonl":
            with outs.writer(cfg.output) as fh:
                sha = write_lines(fh, kept, data.newline)
        else:  # tabular.py: the input's schema when it was a table too
            rows = [json.loads(raw) for raw in kept]
            schema = data.table.schema if data.table else None
            if kind == "parquet":
                with outs.writer(cfg.output, "wb") as fh:
                    sha = tabular.write_parquet(fh, rows, schema)
            else:
                with outs.folder(cfg.output) as folder:
                    sha = tabular.write_hf_folder(folder, rows, schema)
        outputs["output"] = {"path": cfg.output, "format": kind, "records": len(kept),
                             "sha256": sha}
        if rejected_path:
            written = write_rejected(outs, rejected_path, protection.rejected_lines,
                                     data.newline)
            if written:
                outputs["rejected"] = written
        result = protection.with_outputs(outputs)
        with outs.writer(paths["the manifest"]) as fh:
            dump_json(fh, result)
        outs.commit()


def write_rejected(outs: Outputs, path: str, lines: list[str], newline: str) -> dict | None:
    """Stage the rejected-records file (ORIGINAL records that failed the gate), or, with none,
    the removal of an earlier run's, which would mislead; its outputs entry, if written."""
    if not lines:
        outs.remove(path)
        return None
    with outs.writer(path) as fh:
        return {"path": path, "records": len(lines), "sha256": write_lines(fh, lines, newline),
                "note": "original records that failed the gate; not for training"}


def shard_owned(n: int, shard: tuple[int, int] | None) -> list[bool]:
    """Which of n records a shard `(i, N)` owns: every N-th from the i-th, in input order, so
    shards of similar size and risk mix; all of them without --shard."""
    if shard is None:
        return [True] * n
    i, count = shard
    return [j % count == i for j in range(n)]


def dispose(records: list[Record], outcomes: list[RecordOutcome], on_fail: str,
            owned: list[bool] | None = None) -> list[tuple[str, Record | None]]:
    """What becomes of each record, in input order: (status, the record that goes to OUT, or
    None when it is left out). Records without an outcome were not selected.

    status: unchanged | obfuscated | partial (rewritten, failed chunks left out, `on_fail=
    partial`) | kept-original (failed the gate, `on_fail=keep`) | dropped
    (failed the gate, `on_fail=drop`) | other-shard (`--shard`: another shard's record).
    The benchmark reaches it through `sanitize.protect`, so what it measures is what the CLI
    writes."""
    by_id = {o.record.id: o for o in outcomes}
    result: list[tuple[str, Record | None]] = []
    for j, rec in enumerate(records):
        outcome = by_id.get(rec.id)
        if owned is not None and not owned[j]:
            result.append(("other-shard", None))  # another shard writes it (merge.py)
        elif outcome is None:
            result.append(("unchanged", rec))
        elif outcome.new_record is not None:
            result.append(("partial" if outcome.partial else "obfuscated", outcome.new_record))
        elif on_fail == "keep":
            result.append(("kept-original", rec))
        else:
            result.append(("dropped", None))
    return result


def _same_model(cfg: SanitizeConfig) -> bool:
    """Can the local paraphraser reuse the scoring LM? (score_records warms up a copy, so the
    loaded model is still the base model.)"""
    embedded = (None, "", "embedded", "embedded:smollm2-135m-instruct")
    p, s = cfg.paraphrase.model, cfg.score.model
    return (cfg.paraphrase.backend == "local" and cfg.paraphrase.device == cfg.score.train.device
            and (p == s or (p in embedded and s in embedded)))
