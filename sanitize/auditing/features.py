"""What the attacks read: per-text token statistics under the target and reference models.

Every forward pass happens here, once per (model, text): the attacks are then cheap functions
of these arrays. `StatsCache` keys each result by model key + the exact token ids and trainable
mask, so the base model's statistics are computed once and shared by both dataset-mode targets,
and a text's statistics are shared by every attack that reads them.
"""
from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, field

import numpy as np

from ..encoding import Encoded, encode, encode_records
from ..datafile import Dataset
from ..records import Example
from ..token_stats import TokenStats, token_stats
from .perturb import lowercase_example


@dataclass
class TextSet:
    """The audited records: members (label 1) then non-members (label 0)."""

    ids: list[str]
    labels: np.ndarray
    examples: list[Example]
    encoded: list[Encoded]
    zlib_bytes: np.ndarray  # zlib-compressed length of each text's scored tokens (UTF-8)

    def __len__(self) -> int:
        return len(self.ids)


def build_textset(members: Dataset, nonmembers: Dataset, tokenizer,
                  max_length: int) -> TextSet:
    """Members then non-members; a record that cannot be encoded is an input error naming
    its own file and line."""
    records = members.records + nonmembers.records
    encoded = (encode_records(members.records, tokenizer, max_length, members.path)
               + encode_records(nonmembers.records, tokenizer, max_length, nonmembers.path))
    return TextSet(
        ids=[r.id for r in records],
        labels=np.array([1] * len(members.records) + [0] * len(nonmembers.records)),
        examples=[r.example() for r in records],
        encoded=encoded,
        zlib_bytes=np.array([scored_zlib_bytes(e, tokenizer) for e in encoded],
                            dtype=np.float64),
    )


def scored_zlib_bytes(e: Encoded, tokenizer) -> int:
    """zlib-compressed size of exactly the tokens the NLL covers (the trainable tokens inside
    the window). The whole text's size would let a long tail past the window, which no model
    ever scored, tell members from non-members."""
    scored = [t for t, keep in zip(e.input_ids, e.trainable) if keep]
    text = tokenizer.decode(scored, skip_special_tokens=True)
    return len(zlib.compress(text.encode("utf-8")))


def _key(model_key: str, e: Encoded) -> str:
    h = hashlib.sha256(model_key.encode())
    h.update(np.asarray(e.input_ids, dtype=np.int64).tobytes())
    h.update(np.asarray(e.trainable, dtype=np.bool_).tobytes())
    return h.hexdigest()


class StatsCache:
    """TokenStats per (model key, encoded text). Model keys must name one fixed set of weights."""

    def __init__(self) -> None:
        self._store: dict[str, TokenStats] = {}

    def stats(self, model_key: str, model, encoded: list[Encoded], pad_id: int,
              batch_size: int = 16, with_distribution: bool = False) -> list[TokenStats]:
        keys = [_key(model_key, e) for e in encoded]
        todo = sorted({i for i, k in enumerate(keys)
                       if k not in self._store
                       or (with_distribution and self._store[k].mu is None)})
        # Deduplicate identical texts inside one call (e.g. unchanged records).
        first = {}
        for i in todo:
            first.setdefault(keys[i], i)
        idx = list(first.values())
        if idx:
            new = token_stats(model, [encoded[i] for i in idx], pad_id, batch_size,
                              with_distribution=with_distribution)
            for i, s in zip(idx, new):
                self._store[keys[i]] = s
        return [self._store[k] for k in keys]


@dataclass
class Features:
    """Everything the attacks read for one target model. Arrays are aligned with TextSet."""

    labels: np.ndarray
    target: list[TokenStats]  # with mu/sigma (Min-K%++)
    zlib_bytes: np.ndarray
    reference: list[TokenStats] | None = None  # the base model
    target_lower: list[TokenStats] | None = None
    neighbour_nll: np.ndarray | None = None  # [n, k] NLL of each refilled copy (target)
    spv_target: np.ndarray | None = None  # [n] probabilistic variation under the target
    spv_reference: np.ndarray | None = None  # [n] the same under the self-prompt reference
    prior_scores: dict[str, np.ndarray] = field(default_factory=dict)  # for the ensemble
    seed: int = 0


def nll(stats: list[TokenStats]) -> np.ndarray:
    return np.array([s.nll for s in stats])


def lowercase_stats(cache: StatsCache, model_key: str, model, ts: TextSet, tokenizer,
                    max_length: int, pad_id: int, batch_size: int) -> list[TokenStats]:
    enc = [encode(lowercase_example(ex), tokenizer, max_length) for ex in ts.examples]
    return cache.stats(model_key, model, enc, pad_id, batch_size)


def copies_nll(cache: StatsCache, model_key: str, model, copies: list[list[Encoded]],
               pad_id: int, batch_size: int) -> np.ndarray:
    """[n, k] mean NLL of each text's k perturbed copies (perturb.py) under one model, all
    texts' copies in one batched pass."""
    flat = [c for group in copies for c in group]
    return nll(cache.stats(model_key, model, flat, pad_id, batch_size)).reshape(len(copies), -1)
