"""The one interface every paraphrase backend implements: a batch of requests in, texts out.

Callers use a backend only through `Backend`: built from the config (`from_config`), asked to
count tokens (to size each request's budget) and for its usage (the manifest), never reached
into. A request is already a rendered chat (system + user message with the segment as data) plus the
seed for this candidate; the backend knows nothing about records, gates or caches. Backends may
call `on_result(i, text)` as soon as request i is done, so the caller can commit it to the cache
before the rest of the batch finishes (a kill loses only unfinished requests).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Protocol

if TYPE_CHECKING:
    from ..config import ParaphraseConfig

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

    @classmethod
    def from_config(cls, cfg: ParaphraseConfig) -> GenParams:
        return cls(cfg.temperature, cfg.top_p, cfg.block_ngrams, cfg.no_repeat_ngram,
                   cfg.repetition_penalty)


class Backend(Protocol):
    name: str  # registry name, e.g. "local"
    model: str  # what generated the text, recorded in the manifest and cache keys
    batch_size: int  # how many requests the caller should hand over at once

    @classmethod
    def from_config(cls, cfg: ParaphraseConfig, lm=None) -> Backend:
        """The backend the config asks for, with the config's values and the backend's own
        defaults where the config leaves one unset (a model loads on `cfg.device`). `lm`: an
        already loaded LoadedLM a backend may reuse (only the local backend does)."""
        ...

    def generate(self, requests: list[Request], on_result: OnResult | None = None) -> list[str]:
        ...

    def count_tokens(self, text: str) -> int | None:
        """How many tokens the model reads `text` as (no special tokens), or None when the
        backend has no tokenizer at hand (the caller then estimates)."""
        ...

    def usage(self) -> dict:
        """{"backend_calls": completed requests, "generated_tokens": tokens generated}, None
        where the backend does not know; recorded in the manifest as they are."""
        ...

    def close(self) -> None:
        ...


def new_tokens_for(text_tokens: int, cap: int) -> int:
    """Enough room for a rewrite somewhat longer than the original, never more than `cap`:
    a tight budget stops a rambling small model early and keeps batches short."""
    return max(16, min(cap, int(text_tokens * 1.6) + 24))
