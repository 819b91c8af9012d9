"""`soft-sanitize score`: warm-up, per-record memorization risk and selection, as a JSONL file."""
from __future__ import annotations

import time
from dataclasses import asdict

import click

from ..cli_common import (config_file, config_option, console, emit_json, json_option,
                          rich_progress, score_select_configs, scoring_options)


@click.command("score")
@click.argument("input_path", metavar="IN")
@click.argument("scores_out", metavar="SCORES_OUT")
@scoring_options(score_default="loss")  # the secret random draw needs a run's private cache
@json_option
@config_option
def command(input_path, scores_out, fmt, skip_invalid, as_json, **options):
    """Score each record's memorization risk and select the riskiest (--score loss by default).

    Fine-tunes a proxy LM briefly on IN (the warm-up; --score base-loss reads only the base
    model's loss, so it skips the warm-up and leaves loss_after null), then writes one JSON
    line per record to SCORES_OUT, in input order: id, line_no, tokens, truncated,
    loss_before, loss_after, risk, rank (1 = riskiest), selected, group (duplicate group or
    null), trainable_tokens.

    \b
    Example:
      soft-sanitize score train.jsonl scores.jsonl --ratio 0.3 --score loss
    """
    cfg, sel = score_select_configs(options)
    if cfg.score == "random":
        raise click.UsageError("--score random draws its selection from a key kept in the "
                               "private cache of a sanitize run, which this command does not "
                               "have: run `soft-sanitize IN OUT --score random` (it also "
                               "accepts --scores made here with another --score)")
    if as_json and scores_out == "-":
        raise click.UsageError("--json prints on stdout; write SCORES_OUT to a file")
    from ..datafile import Outputs, dump_json, read_dataset, write_lines
    from ..paths import check_outputs, private_mode
    from ..scoring import meta_path, score_lines, score_records, scores_meta
    from ..selection import decide

    started = time.perf_counter()
    meta = None if scores_out == "-" else meta_path(scores_out)
    check_outputs({"IN": input_path, "--config": config_file()},
                  {"SCORES_OUT": scores_out, "SCORES_OUT's provenance file": meta})
    data = read_dataset(input_path, fmt, skip_invalid)
    scores = decide(score_records(data.records, cfg, source_path=input_path,
                                  progress=rich_progress), sel)
    # The scores and their provenance (what `soft-sanitize IN OUT --scores` checks before
    # reusing them) appear together or not at all.
    with Outputs(private_mode(input_path)) as outs:
        with outs.writer(scores_out) as fh:
            sha = write_lines(fh, score_lines(scores))
        if meta:
            with outs.writer(meta) as fh:
                dump_json(fh, scores_meta(data, cfg))
        outs.commit()
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
        "threshold": sel.threshold, "dedup": cfg.dedup,
        "near_duplicate_similarity": cfg.near_duplicate_similarity,
        "train": asdict(cfg.train), "model": cfg.model or "embedded",
        "seconds": round(seconds, 1),
    }


def _print_summary(s: dict) -> None:
    console.print(
        f"scored {s['records']} records ({s['rejected']} rejected, {s['truncated']} truncated) "
        f"with --score {s['score']}; selected {s['selected']}; "
        f"{s['duplicate_groups']} duplicate groups covering {s['records_in_groups']} records; "
        f"wrote {s['scores']} in {s['seconds']} s")
