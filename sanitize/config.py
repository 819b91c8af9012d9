"""One frozen config per stage. Stages take their config; the CLI only builds configs.

Defaults that matter for privacy or utility say where they come from (measurement or paper).
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, get_args

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .errors import InputError


# The choice registries: configs validate against them and the CLI's choice lists come from
# them (`choices`). The paraphrase backends' registry (paraphrase.BACKENDS) must match
# BackendName; tests/test_config.py holds them together.
Method = Literal["full", "lora"]
ScoreKind = Literal["loss", "loss-drop", "base-loss", "random"]
BackendName = Literal["local", "openai", "vllm", "echo"]
ContentType = Literal["auto", "text", "code", "chat"]
Pick = Literal["first", "most-changed"]
OnFail = Literal["drop", "keep", "partial"]
OutputFormat = Literal["auto", "jsonl", "parquet", "hf"]


def choices(kind) -> tuple[str, ...]:
    """The values of a Literal choice type, in order."""
    return get_args(kind)


def _check_choice(value, kind, option: str) -> None:
    names = choices(kind)
    _check(value in names, option, value, ", ".join(names[:-1]) + " or " + names[-1])


def _check(ok: bool, option: str, value, want: str) -> None:
    """Configs check themselves when built, so a bad number stops the run before any
    expensive stage (NaN fails every comparison, so `ok` is False for it too)."""
    if not ok:
        raise InputError(f"{option} must be {want}, got {value!r}")


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


@dataclass(frozen=True)
class TrainConfig:
    """A short causal-LM fine-tune: the SOFT warm-up, and the audit's target models."""

    epochs: float = 1.0
    method: Method = "full"
    learning_rate: float | None = None  # None: 5e-5 for full, 2e-4 for LoRA
    batch_size: int = 8
    grad_accum: int = 1
    max_length: int = 256
    lora_r: int = 16
    lora_alpha: int = 32
    weight_decay: float = 0.0
    seed: int = 0
    device: str = "auto"

    def __post_init__(self):
        _check(_finite(self.epochs) and self.epochs > 0, "--epochs", self.epochs, "above 0")
        _check_choice(self.method, Method, "--method")
        _check(self.learning_rate is None or (_finite(self.learning_rate)
                                              and self.learning_rate > 0),
               "--lr", self.learning_rate, "a number above 0")
        _check(self.batch_size >= 1, "--batch-size", self.batch_size, "at least 1")
        _check(self.grad_accum >= 1, "grad_accum", self.grad_accum, "at least 1")
        _check(self.max_length >= 2, "--max-length", self.max_length, "at least 2")

    @property
    def lr(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return 2e-4 if self.method == "lora" else 5e-5


@dataclass(frozen=True)
class ScoreConfig:
    """Memorization-risk scoring (SOFT steps 1-2)."""

    model: str | None = None  # None: the embedded SmolLM2
    # "random" (a secret draw per record: scoring.selection_draw), "loss" (the paper),
    # "loss-drop" (base-calibrated) or "base-loss" (the base model's loss). The default follows
    # the benchmark (docs/scoring.md): against the full attack suite a random half leaked less
    # than every loss rule on both prose domains (an attacker can partly find a loss-chosen
    # half again from the same losses), and on code it came second to base-loss, ahead of loss.
    score: ScoreKind = "random"
    train: TrainConfig = field(default_factory=TrainConfig)
    eval_batch_size: int | None = None  # None: batching.EVAL_BATCH for the device
    # Duplicate groups (dedup.py): a group is selected or left whole, since one surviving copy
    # still leaks.
    dedup: bool = True
    near_duplicate_similarity: float = 0.95  # embedding cosine that makes two records one group

    def __post_init__(self):
        _check_choice(self.score, ScoreKind, "--score")
        _check(_finite(self.near_duplicate_similarity)
               and 0 < self.near_duplicate_similarity <= 1, "--near-dup-similarity",
               self.near_duplicate_similarity, "in (0, 1]")
        _check(self.eval_batch_size is None or self.eval_batch_size >= 1, "--eval-batch-size",
               self.eval_batch_size, "at least 1")


@dataclass(frozen=True)
class SelectConfig:
    """Which records to obfuscate (SOFT step 3), from their risks and duplicate groups."""

    ratio: float | None = 0.5  # the paper's default
    threshold: float | None = None  # select risk >= threshold instead of a ratio

    def __post_init__(self):
        if self.threshold is not None:
            _check(_finite(self.threshold), "--threshold", self.threshold, "a finite number")
        else:
            _check(self.ratio is not None and _finite(self.ratio) and 0 <= self.ratio <= 1,
                   "--ratio", self.ratio, "between 0 and 1")


@dataclass(frozen=True)
class ParaphraseConfig:
    """How selected segments are rewritten (SOFT step 4)."""

    backend: BackendName = "local"
    model: str | None = None  # local/vllm model; openai: --paraphrase-model
    api_base: str | tuple[str, ...] | None = None  # one endpoint or a pool of replicas
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float = 0.7
    top_p: float = 0.95
    max_new_tokens: int = 512
    candidates: int = 3
    batch_size: int | None = None  # None: each backend's own (local: 8 on CPU, 64 on GPU)
    concurrency: int = 8
    timeout: float = 120.0
    retries: int = 4
    prompt_file: str | None = None
    prompt_dir: str | None = None  # a folder of text.md/code.md/chat.md (prompts/oneshot, ...)
    content_type: ContentType = "auto"
    fields: str = "trainable"  # "trainable" or "all"
    seed: int = 0  # the CLI's --seed sets it and the warm-up's alike
    device: str = "auto"  # where a local or vLLM paraphraser loads (the CLI's --device)
    # Decoding against copies and loops (paraphrase/decoding.py; local backend).
    block_ngrams: int = 0
    no_repeat_ngram: int = 0
    repetition_penalty: float = 1.0
    # Which passing candidate wins: the first, or (generating every candidate) the one that
    # changes the wording most (lowest overlap with the original).
    pick: Pick = "first"
    chunk_words: int = 120  # longest text piece sent to the paraphraser (paraphrase/chunks.py)
    # Names, numbers and URLs sent as placeholders and put back (paraphrase/placeholders.py).
    mask_facts: bool = False

    def __post_init__(self):
        _check(_finite(self.temperature) and self.temperature >= 0, "--temperature",
               self.temperature, "0 or more")
        _check(_finite(self.top_p) and 0 < self.top_p <= 1, "top_p", self.top_p, "in (0, 1]")
        for option, value in (("--max-new-tokens", self.max_new_tokens),
                              ("--candidates", self.candidates),
                              ("--paraphrase-batch-size", self.batch_size or 1),
                              ("--concurrency", self.concurrency)):
            _check(value >= 1, option, value, "at least 1")
        _check(_finite(self.timeout) and self.timeout > 0, "--timeout", self.timeout, "above 0")
        _check(self.retries >= 0, "--retries", self.retries, "0 or more")
        _check_choice(self.backend, BackendName, "--paraphraser")
        _check_choice(self.content_type, ContentType, "--content-type")
        _check(self.block_ngrams == 0 or self.block_ngrams >= 2, "--block-ngrams",
               self.block_ngrams, "0 (off) or at least 2")
        _check(self.no_repeat_ngram >= 0, "--no-repeat-ngram", self.no_repeat_ngram, "0 or more")
        _check(_finite(self.repetition_penalty) and self.repetition_penalty > 0,
               "--repetition-penalty", self.repetition_penalty, "above 0")
        _check_choice(self.pick, Pick, "--pick")
        _check(self.chunk_words >= 8, "--chunk-words", self.chunk_words, "at least 8")


@dataclass(frozen=True)
class GateConfig:
    """Checks every candidate paraphrase must pass."""

    # Measured on 30 real chunks with the embedded paraphraser (docs/paraphrase.md): at
    # 0.75/0.7/12, 5 of 30 first candidates pass; overlap <= 0.6 let through 1 of 30, and
    # rewrites above 0.7 were near-copies.
    min_similarity: float = 0.75
    max_overlap: float = 0.7
    max_common_span: int = 12  # longest verbatim run of the original, in words
    min_length_ratio: float = 0.5
    max_length_ratio: float = 2.0
    # Numbers, negations and names kept, none invented (fidelity.py): a rewrite that flips a
    # "yes" to a "no" embeds almost like the original, so similarity alone lets it through.
    check_facts: bool = True
    on_fail: OnFail = "drop"  # partial: see obfuscate._cut_failed_chunks

    def __post_init__(self):
        _check(_finite(self.min_similarity) and -1 <= self.min_similarity <= 1,
               "--min-similarity", self.min_similarity, "between -1 and 1")
        _check(_finite(self.max_overlap) and 0 <= self.max_overlap <= 1, "--max-overlap",
               self.max_overlap, "between 0 and 1")
        _check(self.max_common_span >= 0, "--max-common-span", self.max_common_span, "0 or more")
        _check(_finite(self.min_length_ratio) and _finite(self.max_length_ratio)
               and 0 <= self.min_length_ratio <= self.max_length_ratio,
               "--min-length-ratio/--max-length-ratio",
               (self.min_length_ratio, self.max_length_ratio), "finite with min <= max")
        _check_choice(self.on_fail, OnFail, "--on-fail")


def load_toml(path: str | Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise InputError("config file not found", str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"invalid TOML: {exc}", str(path)) from None


def updated(cfg, **changes):
    """`dataclasses.replace`, ignoring None values (flags the user did not give)."""
    names = {f.name for f in fields(cfg)}
    return replace(cfg, **{k: v for k, v in changes.items() if v is not None and k in names})


MEMORY = "<memory>"  # names in-memory records in errors and the manifest


@dataclass(frozen=True)
class SanitizeConfig:
    """The whole `soft-sanitize IN OUT` run: read -> score -> select -> paraphrase -> gate ->
    write. `sanitize.pipeline.run(cfg)` executes it; the audit's holdout mode reuses it."""

    input: str = MEMORY  # a path; MEMORY when the records come from a caller (sanitize.protect)
    output: str = MEMORY
    fmt: str = "auto"
    skip_invalid: bool = False
    score: ScoreConfig = field(default_factory=ScoreConfig)
    select: SelectConfig = field(default_factory=SelectConfig)
    paraphrase: ParaphraseConfig = field(default_factory=ParaphraseConfig)
    gate: GateConfig = field(default_factory=GateConfig)
    cache_path: str | None = None  # None: OUT.private-cache.sqlite beside the output
    scores_path: str | None = None  # reuse `soft-sanitize score` output: no warm-up
    manifest_path: str | None = None  # None: OUT.manifest.json
    rejected_path: str | None = None  # None: OUT.rejected.jsonl
    # The most input records OUT may leave out (dropped or invalid), as a share: above it the
    # run writes nothing and exits 1. Drops are bounded by --ratio, so 0.5 fails only a run
    # that lost at least half its data (a high ratio with a paraphraser that fails most).
    max_drop: float = 0.5
    output_format: OutputFormat = "auto"  # auto: by OUT's name (tabular.py)
    shard: tuple[int, int] | None = None  # (i, N): rewrite only shard i of N (merge.py)
    dry_run: bool = False  # echo paraphraser; no model generation
    verbose: bool = False  # only then may record text reach logs

    def __post_init__(self):
        _check(_finite(self.max_drop) and 0 <= self.max_drop <= 1, "--max-drop", self.max_drop,
               "between 0 and 1")
        _check_choice(self.output_format, OutputFormat, "--output-format")
        if self.shard is not None:
            i, n = self.shard
            _check(n >= 1 and 0 <= i < n, "--shard", f"{i}/{n}", "i/N with 0 <= i < N")
            if not self.scores_path:
                raise InputError("--shard needs --scores: run `soft-sanitize score` once, so "
                                 "every shard selects from the same warm-up")
            if self.score.score == "random":
                # Each machine's private cache would hold its own key, so the shards would not
                # agree on the draw (a duplicate group split across shards could leave a copy).
                raise InputError("--score random (the default) cannot be sharded: each "
                                 "shard's private cache would draw its own selection; shard "
                                 "with a loss rule, e.g. --score loss")
        if self.output == "-" and not self.dry_run:
            # Side files of stdout output go where the user says, never into the current
            # directory under a made-up name.
            needed = [("--manifest", self.manifest_path), ("--cache", self.cache_path)]
            if self.gate.on_fail == "drop":
                needed.append(("--rejected", self.rejected_path))
            missing = [option for option, value in needed if not value]
            if missing:
                raise InputError(f"OUT is - (stdout): say where the side files go with "
                                 f"{', '.join(missing)}")
