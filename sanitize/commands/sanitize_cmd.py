"""`soft-sanitize IN OUT`: the default command, a thin layer over `sanitize.pipeline.run`."""
from __future__ import annotations

import click

from ..cli_common import (config_file, config_option, console, emit_manifest_summary,
                          json_option, rich_progress, score_select_configs, scoring_options)
from ..config import (BackendName, ContentType, GateConfig, OnFail, OutputFormat,
                      ParaphraseConfig, Pick, SanitizeConfig, choices)
from ..errors import OutputRefused

P, G = ParaphraseConfig, GateConfig


@click.command("sanitize")
@click.argument("input_path", metavar="IN")
@click.argument("output_path", metavar="OUT")
@scoring_options
# -- paraphrasing
@click.option("--paraphraser", type=click.Choice(choices(BackendName)),
              default=P.backend, show_default=True, help="Paraphrase backend.")
@click.option("--paraphrase-model", default=None,
              help="local/vllm: model folder or .gguf [default: embedded SmolLM2]; openai: model "
                   "name [default: the first one the server lists].")
@click.option("--api-base", multiple=True,
              help="openai: endpoint, e.g. http://localhost:8000/v1 [default: $OPENAI_BASE_URL]; "
                   "repeat for a pool of replicas of one model (load balancing, failover).")
@click.option("--api-key-env", default=P.api_key_env, show_default=True,
              help="openai: name of the environment variable holding the API key.")
@click.option("--concurrency", type=click.IntRange(1), default=P.concurrency, show_default=True,
              help="openai: requests in flight, per endpoint.")
@click.option("--timeout", type=click.FloatRange(0, min_open=True), default=P.timeout,
              show_default=True, help="openai: seconds per request.")
@click.option("--retries", type=click.IntRange(0), default=P.retries, show_default=True,
              help="openai: retries on 429/5xx/timeouts/connection errors.")
@click.option("--temperature", type=click.FloatRange(0), default=P.temperature, show_default=True)
@click.option("--max-new-tokens", type=click.IntRange(1), default=P.max_new_tokens,
              show_default=True, help="Cap per rewrite (scaled down to the piece's length).")
@click.option("--candidates", type=click.IntRange(1), default=P.candidates, show_default=True,
              help="Candidates tried per piece before the record fails the gate.")
@click.option("--paraphrase-batch-size", type=click.IntRange(1), default=None,
              help="local/vllm: prompts generated together [default: local 8 on CPU, 64 on "
                   "GPU; vllm 256].")
@click.option("--block-ngrams", type=click.IntRange(0), default=P.block_ngrams,
              show_default=True, help="local: never continue an n-gram (tokens) of the "
                                      "original piece while rewriting it (0: off).")
@click.option("--no-repeat-ngram", type=click.IntRange(0), default=P.no_repeat_ngram,
              show_default=True, help="local: never repeat an n-gram of the rewrite (0: off).")
@click.option("--repetition-penalty", type=click.FloatRange(0, min_open=True),
              default=P.repetition_penalty, show_default=True, help="local: 1.0 is off.")
@click.option("--pick", type=click.Choice(choices(Pick)), default=P.pick,
              show_default=True, help="first: stop at the first candidate that passes; "
                                      "most-changed: try all --candidates, keep the one with "
                                      "the lowest overlap.")
@click.option("--chunk-words", type=click.IntRange(8), default=P.chunk_words,
              show_default=True, help="Longest text piece (words) sent to the paraphraser.")
@click.option("--mask-facts/--no-mask-facts", default=P.mask_facts, show_default=True,
              help="Send names, numbers and URLs to the paraphraser as placeholders X1, X2... "
                   "and put them back before the gate.")
@click.option("--prompt-file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="One template for every content type (see prompts/*.md for the format).")
@click.option("--prompt-dir", type=click.Path(file_okay=False, exists=True), default=None,
              help="A folder of text.md, code.md and chat.md templates, e.g. prompts/oneshot "
                   "(worked examples first).")
@click.option("--content-type", type=click.Choice(choices(ContentType)),
              default=P.content_type, show_default=True,
              help="Prompt to use; auto detects code per segment.")
@click.option("--fields", default=P.fields, show_default=True,
              help="Segments to rewrite: trainable, all, or roles such as assistant,user.")
# -- gate
@click.option("--min-similarity", type=click.FloatRange(-1, 1), default=G.min_similarity,
              show_default=True, help="Least MiniLM cosine between original and rewrite.")
@click.option("--max-overlap", type=click.FloatRange(0, 1), default=G.max_overlap,
              show_default=True, help="Most rapidfuzz ratio/100 between original and rewrite.")
@click.option("--max-common-span", type=click.IntRange(0), default=G.max_common_span,
              show_default=True, help="Longest run of words copied verbatim.")
@click.option("--min-length-ratio", type=click.FloatRange(0), default=G.min_length_ratio,
              show_default=True)
@click.option("--max-length-ratio", type=click.FloatRange(0), default=G.max_length_ratio,
              show_default=True)
@click.option("--check-facts/--no-check-facts", default=G.check_facts, show_default=True,
              help="Reject rewrites that drop, change or invent numbers, negations or names "
                   "(code: public names, string literals).")
@click.option("--on-fail", type=click.Choice(choices(OnFail)), default=G.on_fail,
              show_default=True, help="drop: failed records go to OUT.rejected.jsonl; keep: "
                                      "the original stays in OUT (marked in the manifest); "
                                      "partial: keep a text record's rewritten pieces, leave "
                                      "out the pieces that failed.")
@click.option("--cache", "cache_path", default=None,
              help="SQLite cache of finished paraphrases [default: OUT.private-cache.sqlite; "
                   "required when OUT is -].")
@click.option("--scores", "scores_path", default=None,
              help="Reuse what `soft-sanitize score IN SCORES` wrote (its losses; "
                   "--ratio, --score and dedup may differ; pass a loss --score to select by "
                   "them): no warm-up runs. Refused when IN or the warm-up settings differ.")
@click.option("--shard", default=None, metavar="I/N",
              help="Rewrite only shard I of N (every N-th record from the I-th) on this "
                   "machine; needs --scores and a loss --score (every machine must draw the "
                   "same selection). `soft-sanitize merge` joins the shards' outputs.")
@click.option("--manifest", "manifest_path", default=None,
              help="Where the manifest goes [default: OUT.manifest.json; required when OUT "
                   "is -].")
@click.option("--rejected", "rejected_path", default=None,
              help="Where --on-fail drop puts the original records that failed [default: "
                   "OUT.rejected.jsonl; required when OUT is -].")
@click.option("--output-format", type=click.Choice(choices(OutputFormat)),
              default="auto", show_default=True,
              help="OUT as JSONL, a Parquet file, or a save_to_disk folder (hf); auto: by "
                   "OUT's name (.parquet; a name without suffix after a folder IN).")
@click.option("--max-drop", type=float, default=SanitizeConfig.max_drop, show_default=True,
              help="Most input records (a share) OUT may leave out, dropped or invalid; above "
                   "it, or with no record left, nothing is written and the exit code is 1.")
@click.option("--dry-run", is_flag=True,
              help="Score and select, rewrite with the fake echo backend, write nothing.")
@click.option("--verbose", "-v", is_flag=True,
              help="Log each rewrite next to its original (prints record text).")
@json_option
@config_option
def command(as_json, **params):
    """Obfuscate a --ratio of the records of IN against membership inference; write OUT.

    Selects --ratio of the records (by default a secret random draw, measured to leak less
    than SOFT's warm-up ranking, which --score loss uses), rewrites their trainable text with
    a paraphraser under a similarity gate, and writes OUT (same
    order, rewritten records in place of the originals), OUT.manifest.json (what happened to
    every record), OUT.rejected.jsonl (ORIGINAL records whose rewrite failed the gate: not for
    training) and OUT.private-cache.sqlite (finished rewrites, which can hold original text,
    and the draw's key: rerun the same command to resume).

    \b
    Examples:
      soft-sanitize train.jsonl protected.jsonl --ratio 0.3
      soft-sanitize train.jsonl protected.jsonl --paraphraser openai \\
          --api-base http://localhost:8000/v1 --concurrency 16
    """
    if as_json and params["output_path"] == "-":
        raise click.UsageError("--json prints on stdout; write OUT to a file")
    cfg = config_from_params(params)
    dry_run = cfg.dry_run
    from ..paths import check_outputs
    from ..pipeline import out_kind, output_paths, run

    paths = output_paths(cfg)
    check_outputs({"--config": config_file()}, paths,  # the pipeline checks the rest
                  folders=("OUT",) if out_kind(cfg) == "hf" else ())
    try:
        protection = run(cfg, log=lambda m: console.print(m, markup=False, highlight=False),
                         progress=rich_progress)
    except OutputRefused as refused:  # --json still reports the counts and the verdict
        if as_json:
            emit_manifest_summary(refused.manifest)
        raise
    result = protection.manifest
    if as_json:
        emit_manifest_summary(result)
        return
    c = protection.counts
    written = [("stdout" if o["path"] == "-" else o["path"]) for o in result["outputs"].values()]
    where = "dry run: nothing written" if dry_run else \
        f"wrote {', '.join(written + [paths['the manifest']])}"
    console.print(
        f"{c.obfuscated} obfuscated, {c.partial} partial, {c.unchanged} unchanged, "
        f"{c.dropped} dropped, {c.kept_original} kept original, {c.rejected_invalid} invalid "
        f"({c.total} in); {where} in {result['seconds']} s",
        markup=False, highlight=False)
    if c.dropped and not dry_run:
        console.print(f"dropped records are in {paths['the rejected-records file']} (original "
                      "text, not for training)", markup=False, highlight=False)


def config_from_params(params: dict) -> SanitizeConfig:
    """The run's config from this command's parsed options (also `--config` TOML keys, which
    are the same names): the one place they become a SanitizeConfig. `audit
    --sanitize-config` parses its file through this command too, so both read the same keys."""
    p = dict(params)
    score, select = score_select_configs(p)
    api_base = p["api_base"]
    return SanitizeConfig(
        input=p["input_path"], output=p["output_path"], fmt=p["fmt"],
        skip_invalid=p["skip_invalid"], score=score, select=select,
        paraphrase=ParaphraseConfig(
            backend=p["paraphraser"], model=p["paraphrase_model"],
            api_base=api_base[0] if len(api_base) == 1 else (tuple(api_base) or None),
            api_key_env=p["api_key_env"], temperature=p["temperature"],
            max_new_tokens=p["max_new_tokens"], candidates=p["candidates"],
            batch_size=p["paraphrase_batch_size"], concurrency=p["concurrency"],
            timeout=p["timeout"], retries=p["retries"], prompt_file=p["prompt_file"],
            prompt_dir=p["prompt_dir"], content_type=p["content_type"], fields=p["fields"],
            seed=score.train.seed, device=score.train.device,
            block_ngrams=p["block_ngrams"],
            no_repeat_ngram=p["no_repeat_ngram"], repetition_penalty=p["repetition_penalty"],
            pick=p["pick"], chunk_words=p["chunk_words"], mask_facts=p["mask_facts"]),
        gate=GateConfig(min_similarity=p["min_similarity"], max_overlap=p["max_overlap"],
                        max_common_span=p["max_common_span"],
                        min_length_ratio=p["min_length_ratio"],
                        max_length_ratio=p["max_length_ratio"], check_facts=p["check_facts"],
                        on_fail=p["on_fail"]),
        cache_path=p["cache_path"], scores_path=p["scores_path"], shard=parse_shard(p["shard"]),
        manifest_path=p["manifest_path"], rejected_path=p["rejected_path"],
        output_format=p["output_format"], max_drop=p["max_drop"], dry_run=p["dry_run"],
        verbose=p["verbose"])


def parse_shard(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        i, n = (int(x) for x in value.split("/"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not I/N (e.g. 0/4)", param_hint="--shard")
    return i, n
