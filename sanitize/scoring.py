"""Memorization risk (SOFT steps 1-2): warm up a copy of the LM on the dataset, score each record.

1. Encode every record exactly as a trainer would (`encoding.encode`: trainable-span mask,
   truncation to --max-length), failing with file:line when a record has no trainable token.
2. Mean NLL of each record's trainable tokens under the untouched base model (`loss_before`).
3. Warm-up: fine-tune a deep copy of the model for about one epoch on those same tokens; the
   caller's model is never modified (the pipeline paraphrases with it afterwards).
4. Mean NLL again under the warmed-up copy (`loss_after`), then the risk:
   - "loss" (the paper): -loss_after, records the warm-up fits best are riskiest;
   - "loss-drop": loss_before - loss_after, how much the warm-up itself taught the model about
     this record, which discounts texts that are easy for any model (boilerplate, common code);
   - "base-loss": loss_before, the records the base model finds least predictable: what a
     base-calibrated (reference) attack can least explain away if they are trained on;
   - "random" (the main command's default): a uniform draw per record from a secret key
     (`selection_draw`). A rule computed from losses leaves a selection an attacker can partly
     find again from the same losses (docs/scoring.md measured this with the ensemble attack);
     a draw the attacker cannot recompute leaves no such trace. It reads no loss, so steps 2-4
     are skipped: no warm-up, the costliest stage on a CPU, runs for it.
   "base-loss" reads only step 2's loss, so steps 3-4 are skipped for it (its scores hold no
   `loss_after`, and a later `--scores` reuse by a warm-up rule is refused: `load_scores`).
5. Duplicate groups (`dedup`). Ranks and selection are the next step (`selection.decide`).

Records are never packed together, batches are length-bucketed, and only one batch of tensors
lives at a time. On a GPU the base model may be bf16 (`models.pick_dtype`); the warm-up copy is
then trained in float32 under bf16 autocast, because Adam updates of ~lr=5e-5 are below bf16's
resolution on weights of ~1e-2 and would round away.
"""
from __future__ import annotations

import copy
import hashlib
import hmac
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from .batching import eval_batch_size
from .config import ScoreConfig
from .dedup import duplicate_groups
from .encoding import Encoded, encode_records
from .errors import InputError, SanitizeError
from .models import LoadedLM
from .progress import Progress, silent
from .records import Record
from .selection import RecordScore
from .token_stats import token_stats
from .train import autocast_for

# Risk from (loss before, loss after the warm-up); higher = more exposed. Keys: ScoreKind.
RISK_RULES = {"loss": lambda before, after: -after,
              "loss-drop": lambda before, after: before - after,
              "base-loss": lambda before, after: before}
# The rules that read the warm-up's losses; the others skip the warm-up, the costliest stage.
WARM_UP_RULES = frozenset({"loss", "loss-drop"})


@dataclass(frozen=True)
class Risk:
    """One record's analysis: its losses, risk and duplicate group. The decision (rank,
    selected) is selection.decide's."""

    id: str
    line_no: int
    tokens: int  # sequence length the trainer sees, after truncation
    truncated: bool
    loss_before: float | None  # mean NLL of the trainable tokens, base model (None: random)
    loss_after: float | None  # the same after the warm-up (None: the rule needs no warm-up)
    risk: float  # higher = more exposed
    group: str | None  # duplicate group id, None if unique
    trainable_tokens: int = 0  # tokens the losses average over


# ---------------------------------------------------------------------------------------------
# Steps


def record_losses(model, encoded: list[Encoded], pad_id: int, batch_size: int,
                  description: str = "scoring", progress: Progress = silent) -> list[float]:
    """Mean NLL per record over its trainable tokens, in input order."""
    with progress(description, len(encoded)) as advance:
        stats = token_stats(model, encoded, pad_id, batch_size, progress=advance)
    return [s.nll for s in stats]


def warm_up(base_model, encoded: list[Encoded], pad_id: int, cfg: ScoreConfig,
            progress: Progress = silent):
    """A fine-tuned deep copy of `base_model`; `base_model` is untouched."""
    from .train import fine_tune

    total = max(1, round(len(encoded) * cfg.train.epochs))
    with progress("warm-up", total) as advance:
        return fine_tune(copy.deepcopy(base_model), encoded, pad_id, cfg.train,
                         lambda n, _loss: advance(n))


def risk_of(kind: str, loss_before: float, loss_after: float) -> float:
    """A loss rule of ScoreConfig.score (the config has checked it is a ScoreKind); "random"
    is not computed from losses (`selection_draw`)."""
    return RISK_RULES[kind](loss_before, loss_after)


def selection_draw(key: bytes, record: Record) -> float:
    """The record's uniform draw in [0, 1) under `key`: HMAC-SHA256 of its content. The same
    key and record always give the same draw, in any input order; without the key the draws
    cannot be recomputed."""
    mac = hmac.new(key, record.content_hash().encode("ascii"), hashlib.sha256).digest()
    return int.from_bytes(mac[:8], "big") / 2**64


def _groups(records: list[Record], cfg: ScoreConfig, embedder,
            progress: Progress) -> list[str | None]:
    if not cfg.dedup:
        return [None] * len(records)
    texts = [r.trainable_text() for r in records]
    if embedder is None:
        from .models import load_embedder

        embedder = load_embedder()
    with progress("duplicates", len(set(texts))) as advance:
        return duplicate_groups(texts, cfg.near_duplicate_similarity, embedder, advance)


# ---------------------------------------------------------------------------------------------
# The stage


def score_records(records: list[Record], cfg: ScoreConfig, lm: LoadedLM | None = None,
                  embedder=None, source_path: str = "<input>",
                  progress: Progress = silent, selection_key: bytes | None = None) -> list[Risk]:
    """Warm up, score and group every record; results in input order. Selection is
    selection.decide's. `selection_key`: the secret of `--score random` (required for it; that
    rule reads no loss, so the records are encoded and grouped but no model runs). "base-loss"
    reads the base model's loss only, so no warm-up runs for it either."""
    if not records:
        return []
    if lm is None:
        from .models import load_lm

        lm = load_lm(cfg.model, device=cfg.train.device)
    pad_id = lm.tokenizer.pad_token_id
    # Encoded as a trainer would even without a warm-up: the manifest's token counts and the
    # file:line error of a record with nothing to train on come from here.
    encoded = encode_records(records, lm.tokenizer, cfg.train.max_length, source_path)
    groups = _groups(records, cfg, embedder, progress)
    shapes = [(len(e.input_ids), e.truncated, e.n_trainable) for e in encoded]
    if cfg.score == "random":
        return _risks(records, shapes, None, None, groups, cfg, selection_key)

    batch = eval_batch_size(cfg.eval_batch_size, lm.model)
    before = record_losses(lm.model, encoded, pad_id, batch, "base loss", progress)
    if cfg.score not in WARM_UP_RULES:
        return _risks(records, shapes, before, None, groups, cfg, selection_key)
    warm = warm_up(lm.model, encoded, pad_id, cfg, progress)
    base_weight = next(lm.model.parameters())
    with autocast_for(base_weight.dtype, base_weight.device.type):
        after = record_losses(warm, encoded, pad_id, batch, "warm-up loss", progress)
    del warm  # free the copy before the caller loads a paraphraser
    return _risks(records, shapes, before, after, groups, cfg, selection_key)


def _risks(records: list[Record], shapes: list[tuple[int, bool, int]],
           before: list[float] | None, after: list[float] | None, groups: list[str | None],
           cfg: ScoreConfig, selection_key: bytes | None) -> list[Risk]:
    """Risks from the losses before and after the warm-up, or the secret draws of "random".
    `shapes`: (tokens, truncated, trainable tokens) per record; `before`: None when no model
    ran (random); `after`: None when no warm-up ran (random, base-loss)."""
    if before is None and cfg.score != "random":
        raise ValueError(f"--score {cfg.score} needs the base model's losses")
    if after is None and cfg.score in WARM_UP_RULES:
        raise ValueError(f"--score {cfg.score} needs the warm-up's losses")
    before = before or [None] * len(records)
    after = after or [None] * len(records)
    if not all(math.isfinite(x) for x in before + after if x is not None):
        raise SanitizeError("a record's loss is not finite; the model overflowed (try "
                            "--device cpu or a lower --lr)")
    if cfg.score == "random":
        if selection_key is None:
            raise ValueError("--score random needs a selection key (Cache.secret)")
        risks = [selection_draw(selection_key, r) for r in records]
    else:
        risks = [risk_of(cfg.score, b, a) for b, a in zip(before, after)]
    return [Risk(r.id, r.line_no, tokens, truncated, b, a, risk, g, trainable)
            for r, (tokens, truncated, trainable), b, a, risk, g
            in zip(records, shapes, before, after, risks, groups)]


def score_lines(scores: list[RecordScore]) -> list[str]:
    """The scores file: one JSON line per record, in input order."""
    return [json.dumps(asdict(s), ensure_ascii=False) for s in scores]


# ---------------------------------------------------------------------------------------------
# Score once, rewrite many: a scores file and its provenance, reused by the main command

OPTION_NAMES = {"learning_rate": "lr"}  # TrainConfig fields whose flag is named otherwise


def meta_path(scores_path: str) -> str:
    return f"{scores_path}.meta.json"


def scores_meta(data, cfg: ScoreConfig) -> dict:
    """What the losses depend on: the input's bytes and the warm-up (and whether one ran). The
    device is left out (a CPU and a GPU run of the same warm-up rank records alike,
    benchmarks/gpu_check.py); the score rule and the selection are recomputed from the losses
    at reuse."""
    train = {k: v for k, v in asdict(cfg.train).items() if k != "device"}
    return {"input_sha256": data.sha256, "format": data.fmt, "records": len(data.records),
            "model": cfg.model or "embedded", "warm_up": cfg.score in WARM_UP_RULES,
            "train": train}


def load_scores(path: str, data, cfg: ScoreConfig) -> list[dict]:
    """The rows of a `score` output made from exactly this input with this warm-up, in input
    order; otherwise an InputError saying what differs."""
    meta = meta_path(path)
    try:
        with open(meta, encoding="utf-8") as fh:
            made = json.load(fh)
    except FileNotFoundError:
        raise InputError(f"no {Path(meta).name} beside it (written by `soft-sanitize score`): "
                         "cannot tell which input and settings made these scores",
                         path) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc.msg}", meta) from None
    want = scores_meta(data, cfg)
    if made.get("input_sha256") != want["input_sha256"]:
        raise InputError(f"these scores were made from another input (sha256 "
                         f"{str(made.get('input_sha256'))[:12]}..., IN has "
                         f"{want['input_sha256'][:12]}...)", path)
    warmed_up = made.get("warm_up", True)  # files from before the flag all had a warm-up
    if cfg.score in WARM_UP_RULES and not warmed_up:
        raise InputError(f"these scores hold no warm-up losses (made with a rule that needs "
                         f"none, such as --score base-loss); --score {cfg.score} needs them: "
                         f"rerun `soft-sanitize score` with --score {cfg.score}", path)
    made_train = made.get("train") or {}
    # Without a warm-up the losses depend on the training window alone.
    compared = want["train"] if warmed_up else {"max_length": want["train"]["max_length"]}
    differ = [k for k in ("format", "model") if made.get(k) != want[k]]
    differ += [f"--{OPTION_NAMES.get(k, k.replace('_', '-'))} {made_train.get(k)!r} (now {v!r})"
               for k, v in compared.items() if made_train.get(k) != v]
    if differ:
        raise InputError(f"these scores were made with other settings: {', '.join(differ)}; "
                         "rerun `soft-sanitize score` or pass the same settings", path)
    with open(path, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    ids = [r.id for r in data.records]
    if [r.get("id") for r in rows] != ids:
        raise InputError(f"{len(rows)} score rows do not match the {len(ids)} records of IN "
                         "one for one", path)
    return rows


def rescore(records: list[Record], rows: list[dict], cfg: ScoreConfig, embedder=None,
            progress: Progress = silent, selection_key: bytes | None = None) -> list[Risk]:
    """Risks and groups from stored losses: no model is loaded, no warm-up runs. The score
    rule, the grouping and the selection may differ from the ones the file was made with."""
    shapes = [(r["tokens"], r["truncated"], r.get("trainable_tokens", 0)) for r in rows]
    return _risks(records, shapes, _stored(rows, "loss_before"), _stored(rows, "loss_after"),
                  _groups(records, cfg, embedder, progress), cfg, selection_key)


def _stored(rows: list[dict], key: str) -> list[float] | None:
    """One stored loss per row, or None when the file holds none (no warm-up ran)."""
    if any(r.get(key) is None for r in rows):
        return None
    return [float(r[key]) for r in rows]
