"""Options and output helpers shared by the subcommands.

- `config_option`: `--config file.toml` fills option defaults (flags given on the command line
  win). Keys are option names with dashes or underscores, at the top level or under a table
  named after the command (`[sanitize]`, `[score]`, `[audit]`).
- `train_options`: the fine-tuning knobs used by `score`, `sanitize` and `audit`.
- `console`: rich output on stderr, so stdout stays clean for `--json` and `-` outputs.
"""
from __future__ import annotations

import contextlib
import json
import sys
from typing import Any, Callable, Iterator

import click
from rich.console import Console

from .batching import EVAL_BATCH
from .config import (Method, ScoreConfig, ScoreKind, SelectConfig, TrainConfig, choices,
                     load_toml)
from .records import FORMAT_NAMES

console = Console(stderr=True)
EVAL_BATCH_HELP = f"{EVAL_BATCH['cpu']} on CPU, {EVAL_BATCH['cuda']} on GPU"


@contextlib.contextmanager
def rich_progress(description: str, total: int) -> Iterator[Callable[[int], None]]:
    """The CLI's progress (progress.Progress): a bar with an ETA on stderr."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


def _load_config(ctx: click.Context, _param, value):
    if not value:
        return value
    ctx.meta["config_file"] = value  # an input too: no output may overwrite it
    data = load_toml(value)
    section = data.get(ctx.info_name, {}) if isinstance(data.get(ctx.info_name), dict) else {}
    flat = {k: v for k, v in data.items() if not isinstance(v, dict)}
    flat.update(section)
    # A key is an option's flag name (`score`, `min-similarity`) or its parameter name
    # (`score_kind`, `min_similarity`); dashes and underscores are the same.
    params = {}
    for p in ctx.command.params:
        for alias in [p.name, *(o.lstrip("-") for o in getattr(p, "opts", []))]:
            params[alias.replace("-", "_")] = p
    defaults = {}
    for key, val in flat.items():
        param = params.get(key.replace("-", "_"))
        if param is None:
            raise click.BadParameter(f"unknown option {key!r} in {value}", param_hint="--config")
        if getattr(param, "multiple", False) and isinstance(val, str):
            val = [val]  # `api_base = "http://..."` means one endpoint, not its characters
        defaults[param.name] = val
    ctx.default_map = {**(ctx.default_map or {}), **defaults}
    return value


def config_option(f):
    return click.option("--config", type=click.Path(dir_okay=False), is_eager=True,
                        expose_value=False, callback=_load_config,
                        help="TOML file with option defaults (flags given here win).")(f)


def config_file() -> str | None:
    """The `--config` file of the running command, if any."""
    return click.get_current_context().meta.get("config_file")


def json_option(f):
    return click.option("--json", "as_json", is_flag=True,
                        help="Print a machine-readable summary on stdout.")(f)


def train_options(f):
    """Fine-tuning options; read them back with `train_config_from(kwargs)`."""
    opts = [
        click.option("--epochs", type=float, default=1.0, show_default=True,
                     help="Fine-tuning epochs (the SOFT warm-up is about one)."),
        click.option("--method", type=click.Choice(choices(Method)), default="full",
                     show_default=True, help="Full fine-tuning or LoRA (peft)."),
        click.option("--lr", "learning_rate", type=float, default=None,
                     help="Learning rate [default: 5e-5 full, 2e-4 LoRA]."),
        click.option("--batch-size", type=int, default=8, show_default=True),
        click.option("--max-length", type=int, default=256, show_default=True,
                     help="Tokens per record; longer records are truncated (and reported)."),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--device", default="auto", show_default=True,
                     help="auto (GPU when present), cpu, cuda, cuda:1, ..."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def train_config_from(kwargs: dict[str, Any]) -> TrainConfig:
    return TrainConfig(epochs=kwargs["epochs"], method=kwargs["method"],
                       learning_rate=kwargs["learning_rate"], batch_size=kwargs["batch_size"],
                       max_length=kwargs["max_length"], seed=kwargs["seed"],
                       device=kwargs["device"])


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def emit_manifest_summary(manifest: dict) -> None:
    """`--json` of the main and merge commands: the manifest without its per-record list."""
    emit_json({k: v for k, v in manifest.items() if k != "records"})
    sys.stdout.flush()


def scoring_options(f=None, *, score_default: str = ScoreConfig.score):
    """IN's format plus the scoring and selection knobs shared by `sanitize` and `score`;
    read them back with `score_select_configs(kwargs)`. `score_default`: the --score a command
    uses when none is given (`score` cannot draw the secret random selection)."""
    if f is None:
        return lambda g: scoring_options(g, score_default=score_default)
    opts = [
        click.option("--format", "fmt", type=click.Choice(FORMAT_NAMES), default="auto",
                     show_default=True, help="Record schema of IN."),
        click.option("--skip-invalid", is_flag=True,
                     help="Skip (and count) invalid lines instead of stopping at the first."),
        click.option("--model", default=None,
                     help="Proxy LM for scoring: a local HF folder or .gguf "
                          "[default: embedded SmolLM2-135M]."),
        click.option("--score", "score_kind", type=click.Choice(choices(ScoreKind)),
                     default=score_default, show_default=True,
                     help="How records are ranked for selection. random: a secret random "
                          "draw per record, kept in the private cache so a resumed run "
                          "repeats it (measured to leak less than the loss rules); loss: low "
                          "post-warm-up loss first (the paper); loss-drop: base loss minus "
                          "post-warm-up loss; base-loss: high base-model loss (no warm-up "
                          "needed, so none runs). See docs/scoring.md."),
        click.option("--ratio", type=click.FloatRange(0, 1), default=None,
                     help=f"Share of records to select, highest --score rank first "
                          f"[default: {SelectConfig.ratio}]."),
        click.option("--threshold", type=float, default=None,
                     help="Select every record with risk >= this instead of a ratio."),
        click.option("--no-dedup", is_flag=True,
                     help="Do not group duplicates (by default a group is selected whole)."),
        click.option("--near-dup-similarity", type=click.FloatRange(0, 1, min_open=True),
                     default=ScoreConfig.near_duplicate_similarity, show_default=True,
                     help="Embedding cosine at which two records count as near-duplicates."),
        click.option("--eval-batch-size", type=click.IntRange(min=1), default=None,
                     help=f"Records per scoring batch [default: {EVAL_BATCH_HELP}]."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return train_options(f)


def score_select_configs(kwargs: dict[str, Any]) -> tuple[ScoreConfig, SelectConfig]:
    """Pop the scoring/selection/training options from a command's kwargs into configs."""
    ratio, threshold = kwargs.pop("ratio"), kwargs.pop("threshold")
    if ratio is not None and threshold is not None:
        raise click.UsageError("give --ratio or --threshold, not both")
    train = train_config_from(kwargs)
    for name in ("epochs", "method", "learning_rate", "batch_size", "max_length", "seed",
                 "device"):
        kwargs.pop(name)
    score = ScoreConfig(model=kwargs.pop("model"), score=kwargs.pop("score_kind"), train=train,
                        eval_batch_size=kwargs.pop("eval_batch_size"),
                        dedup=not kwargs.pop("no_dedup"),
                        near_duplicate_similarity=kwargs.pop("near_dup_similarity"))
    select = SelectConfig(ratio=ratio if ratio is not None else SelectConfig.ratio,
                          threshold=threshold)
    return score, select
