"""`soft-sanitize score`: warm-up, per-record memorization risk and selection, as a JSONL file."""
from __future__ import annotations

import time
from dataclasses import asdict

import click

from ..cli_common import (config_option, console, emit_json, json_option, train_config_from,
                          train_options)
from ..config import ScoreConfig, SelectConfig
from ..records import FORMAT_NAMES


@click.command("score")
@click.argument("input_path", metavar="IN")
@click.argument("scores_out", metavar="SCORES_OUT")
@click.option("--format", "fmt", type=click.Choice(FORMAT_NAMES), default="auto",
              show_default=True, help="Record schema of IN.")
@click.option("--skip-invalid", is_flag=True,
              help="Skip (and count) invalid lines instead of stopping at the first.")
@click.option("--model", default=None,
              help="Proxy LM: a local HF folder, a .gguf file [default: embedded SmolLM2-135M].")
@click.option("--score", "score_kind", type=click.Choice(["loss", "loss-drop"]),
              default=ScoreConfig.score, show_default=True,
              help="loss: low post-warm-up loss is risky (the paper); loss-drop: base loss "
                   "minus post-warm-up loss. See docs/scoring.md for the measurement.")
@click.option("--ratio", type=click.FloatRange(0, 1), default=None,
              help=f"Share of records to select, riskiest first [default: {SelectConfig.ratio}].")
@click.option("--threshold", type=float, default=None,
              help="Select every record with risk >= this instead of a ratio.")
@click.option("--no-dedup", is_flag=True,
              help="Do not group duplicates (by default a group is selected as a whole).")
@click.option("--near-dup-similarity", type=click.FloatRange(0, 1, min_open=True),
              default=SelectConfig.near_duplicate_similarity, show_default=True,
              help="Embedding cosine at which two records count as near-duplicates.")
@click.option("--eval-batch-size", type=int, default=ScoreConfig.eval_batch_size,
              show_default=True, help="Records per scoring batch.")
@train_options
@json_option
@config_option
def command(input_path, scores_out, fmt, skip_invalid, model, score_kind, ratio, threshold,
            no_dedup, near_dup_similarity, eval_batch_size, as_json, **train_kwargs):
    """Score each record's memorization risk and select the riskiest.

    Fine-tunes a proxy LM briefly on IN (the warm-up), then writes one JSON line per record to
    SCORES_OUT, in input order: id, line_no, tokens, truncated, loss_before, loss_after, risk,
    rank (1 = riskiest), selected, group (duplicate group or null), trainable_tokens.

    \b
    Example:
      soft-sanitize score train.jsonl scores.jsonl --ratio 0.3 --score loss
    """
    if ratio is not None and threshold is not None:
        raise click.UsageError("give --ratio or --threshold, not both")
    if as_json and scores_out == "-":
        raise click.UsageError("--json prints on stdout; write SCORES_OUT to a file")
    from ..io import read_dataset
    from ..score import score_records, write_scores

    started = time.perf_counter()
    data = read_dataset(input_path, fmt, skip_invalid)
    cfg = ScoreConfig(model=model, score=score_kind, train=train_config_from(train_kwargs),
                      eval_batch_size=eval_batch_size)
    sel = SelectConfig(ratio=ratio if ratio is not None else SelectConfig.ratio,
                       threshold=threshold, dedup=not no_dedup,
                       near_duplicate_similarity=near_dup_similarity)
    scores = score_records(data.records, cfg, sel, source_path=input_path, show_progress=True)
    sha = write_scores(scores_out, scores)
    summary = _summary(data, scores, cfg, sel, scores_out, sha, time.perf_counter() - started)
    if as_json:
        emit_json(summary)
    else:
        _print_summary(summary)


def _summary(data, scores, cfg, sel, out, sha, seconds) -> dict:
    groups = {s.group for s in scores if s.group is not None}
    return {
        "input": data.path, "input_sha256": data.sha256, "format": data.fmt,
        "scores": out, "scores_sha256": sha,
        "records": len(scores), "rejected": len(data.rejects),
        "rejects": [{"line": r.line_no, "reason": r.reason} for r in data.rejects],
        "blank_lines": data.blank_lines,
        "selected": sum(s.selected for s in scores),
        "truncated": sum(s.truncated for s in scores),
        "duplicate_groups": len(groups),
        "records_in_groups": sum(s.group is not None for s in scores),
        "score": cfg.score, "ratio": None if sel.threshold is not None else sel.ratio,
        "threshold": sel.threshold, "dedup": sel.dedup,
        "near_duplicate_similarity": sel.near_duplicate_similarity,
        "train": asdict(cfg.train), "model": cfg.model or "embedded",
        "seconds": round(seconds, 1),
    }


def _print_summary(s: dict) -> None:
    console.print(
        f"scored {s['records']} records ({s['rejected']} rejected, {s['truncated']} truncated) "
        f"with --score {s['score']}; selected {s['selected']}; "
        f"{s['duplicate_groups']} duplicate groups covering {s['records_in_groups']} records; "
        f"wrote {s['scores']} in {s['seconds']} s")
