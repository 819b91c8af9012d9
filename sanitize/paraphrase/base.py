"""The one interface every paraphrase backend implements: a batch of requests in, texts out.

A request is already a rendered chat (system + user message with the segment as data) plus the
seed for this candidate; the backend knows nothing about records, gates or caches. Backends may
call `on_result(i, text)` as soon as request i is done, so the caller can commit it to the cache
before the rest of the batch finishes (a kill loses only unfinished requests).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

OnResult = Callable[[int, str], None]


@dataclass(frozen=True)
class Request:
    messages: tuple  # ({"role": ..., "content": ...}, ...)
    text: str  # the segment piece inside the prompt (the fake backend rewrites it directly)
    seed: int
    max_new_tokens: int


@dataclass(frozen=True)
class GenParams:
    temperature: float
    top_p: float
    # Against copying and loops (paraphrase/decoding.py); 0 / 1.0 turn each off.
    block_ngrams: int = 0  # forbid continuing any n-gram of the source piece
    no_repeat_ngram: int = 0  # forbid repeating an n-gram of the rewrite itself
    repetition_penalty: float = 1.0


class Backend(Protocol):
    name: str  # registry name, e.g. "local"
    model: str  # what generated the text, recorded in the manifest and cache keys
    batch_size: int  # how many requests the caller should hand over at once

    def generate(self, requests: list[Request], on_result: OnResult | None = None) -> list[str]:
        ...

    def close(self) -> None:
        ...


def new_tokens_for(text_tokens: int, cap: int) -> int:
    """Enough room for a rewrite somewhat longer than the original, never more than `cap`:
    a tight budget stops a rambling small model early and keeps batches short."""
    return max(16, min(cap, int(text_tokens * 1.6) + 24))
