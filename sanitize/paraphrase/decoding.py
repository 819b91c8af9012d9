"""Decoding rules that keep a small model from copying its source.

The embedded 135M model's most common gate failure after "too long" is a near-copy of the piece
it was asked to rewrite. `SourceNgramBlocker` is Dynamic Blocking (Niu et al., EMNLP 2021,
"Unsupervised Paraphrasing with Pretrained Language Models") generalised to n-grams: whenever
the last n-1 generated tokens also occur in the source, the token that follows them there is
forbidden (or penalised) at the next step. The model can still use every source word, just not
continue a run of the source longer than n-1 tokens, which is exactly what the gate's overlap
and verbatim-run checks reject. Blocking bigrams (n=2) is too strong (similarity collapses, see
docs/paraphrase.md); n >= 3 leaves room for set phrases.

Facts are exempt: a token inside a name, number or URL of the source (`free`) may always
follow. Blocking them made the larger paraphraser mangle what the gate's fact checks require
to survive ("IgE" -> "IgfE", "267" -> "268", "2017" -> "2020": docs/paraphrase.md); the
wording around them stays blocked.
"""
from __future__ import annotations

from collections import defaultdict


def ngram_continuations(ids: list[int], n: int,
                        free: list[bool] | None = None) -> dict[tuple[int, ...], set[int]]:
    """(n-1)-token context -> the tokens that follow it somewhere in `ids`. Negative ids
    separate variants of the source (windows across them are skipped). `free[i]`: token i may
    always follow (part of a fact), so it is never a blocked continuation."""
    table: dict[tuple[int, ...], set[int]] = defaultdict(set)
    for i in range(len(ids) - n + 1):
        window = ids[i:i + n]
        if min(window) >= 0 and not (free and free[i + n - 1]):
            table[tuple(window[:-1])].add(window[-1])
    return dict(table)


class SourceNgramBlocker:
    """A transformers LogitsProcessor for a batch: row b may not continue an n-gram of its own
    source. `prompt_length`: where generation starts (left padding makes it the same for every
    row). `penalty`: subtracted from the blocked tokens' logits (inf: forbidden). `free`: per
    source, which of its tokens may always follow (see ngram_continuations)."""

    def __init__(self, sources: list[list[int]], n: int, prompt_length: int,
                 penalty: float = float("inf"), free: list[list[bool]] | None = None):
        if n < 2:
            raise ValueError("n-gram blocking needs n >= 2")
        self.n = n
        self.prompt_length = prompt_length
        self.penalty = penalty
        self.tables = [ngram_continuations(ids, n, f)
                       for ids, f in zip(sources, free or [None] * len(sources))]

    def __call__(self, input_ids, scores):
        generated = input_ids[:, self.prompt_length:]
        if generated.shape[1] < self.n - 1:
            return scores
        contexts = generated[:, -(self.n - 1):].tolist()
        for row, (table, context) in enumerate(zip(self.tables, contexts)):
            blocked = table.get(tuple(context))
            if blocked:
                idx = list(blocked)
                scores[row, idx] = scores[row, idx] - self.penalty
        return scores


def fact_tokens(offsets: list[tuple[int, int]], spans: list[tuple[int, int]]) -> list[bool]:
    """Per token (its character offsets), whether it overlaps one of the fact `spans`."""
    return [any(a < end and start < b for start, end in spans) for a, b in offsets]
