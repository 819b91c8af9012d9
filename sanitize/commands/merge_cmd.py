"""`soft-sanitize merge`: join the outputs of `--shard i/N` runs into one OUT."""
from __future__ import annotations

import click

from ..cli_common import console, emit_manifest_summary, json_option
from ..errors import OutputRefused


@click.command("merge")
@click.argument("input_path", metavar="IN")
@click.argument("output_path", metavar="OUT")
@click.argument("shards", metavar="SHARD_OUT...", nargs=-1, required=True)
@click.option("--max-drop", type=float, default=0.5, show_default=True,
              help="As for the main command: above this share of input records left out of "
                   "OUT (or with none in it) nothing is written and the exit code is 1.")
@json_option
def command(input_path, output_path, shards, max_drop, as_json):
    """Join the shard outputs of one scored IN into OUT, OUT.manifest.json and
    OUT.rejected.jsonl, in IN's order, as one run would have written them.

    Each SHARD_OUT needs its .manifest.json (and .rejected.jsonl, if it dropped records)
    beside it. The shards must come from this IN, cover 0..N-1 once each, and share every
    setting but their output paths.

    \b
    Example (score once, rewrite on two machines, merge):
      soft-sanitize score train.jsonl scores.jsonl
      soft-sanitize train.jsonl part0.jsonl --scores scores.jsonl --score loss --shard 0/2 ...
      soft-sanitize train.jsonl part1.jsonl --scores scores.jsonl --score loss --shard 1/2 ...
      soft-sanitize merge train.jsonl protected.jsonl part0.jsonl part1.jsonl
    """
    from ..merge import merge

    try:
        result = merge(input_path, output_path, list(shards), max_drop,
                       log=lambda m: console.print(m, markup=False, highlight=False))
    except OutputRefused as refused:
        if as_json:
            emit_manifest_summary(refused.manifest)
        raise
    if as_json:
        emit_manifest_summary(result)
