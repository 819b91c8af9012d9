"""Deterministic text transforms the attacks query: lowercasing and word-order neighbours.

Only the trainable messages of an example change (the span a trainer learns and the attacks
score); prompts and system turns stay as they are, so the context the model conditions on is the
same for the original and its variants.

Neighbours (the neighbourhood attack of Mattern et al., ACL Findings 2023, without its BERT
substitution model): a neighbour swaps about `rate` of the words with the word that follows
them. Word order changes, the vocabulary and the whitespace layout do not, and nothing is
downloaded. A memorised text sits at a sharp likelihood peak, so its neighbours lose more
likelihood than the neighbours of an unseen text of the same style. The swap positions come
from a RNG seeded by (seed, neighbour index, text hash): the same text always gets the same
neighbours, on every model and every run.
"""
from __future__ import annotations

import hashlib
import random
import re
from dataclasses import replace

from ..records import Example

_WS = re.compile(r"(\s+)")


def _map_trainable(example: Example, fn) -> Example:
    msgs = tuple(replace(m, text=fn(m.text)) if m.trainable else m for m in example.messages)
    return replace(example, messages=msgs)


def lowercase_example(example: Example) -> Example:
    return _map_trainable(example, str.lower)


def swap_words(text: str, rate: float, rng: random.Random) -> str:
    """Swap ~rate of the words with their right neighbour, keeping every whitespace run."""
    parts = _WS.split(text)  # words at even indices, whitespace at odd ones
    words = [i for i in range(0, len(parts), 2) if parts[i]]
    if len(words) < 2:
        return text
    n_swaps = max(1, round(rate * len(words)))
    for k in rng.sample(range(len(words) - 1), min(n_swaps, len(words) - 1)):
        a, b = words[k], words[k + 1]
        parts[a], parts[b] = parts[b], parts[a]
    return "".join(parts)


def _text_seed(seed: int, index: int, text: str) -> int:
    digest = hashlib.sha256(f"{seed}:{index}:{text}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def neighbour_examples(example: Example, n: int, rate: float, seed: int) -> list[Example]:
    """`n` deterministic neighbours of `example` (word swaps in its trainable messages)."""
    out = []
    for j in range(n):
        out.append(_map_trainable(
            example, lambda t, j=j: swap_words(t, rate, random.Random(_text_seed(seed, j, t)))))
    return out
