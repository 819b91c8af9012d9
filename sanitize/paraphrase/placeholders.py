"""Facts the paraphraser never sees: names, numbers and URLs stand in as placeholders.

The gate's fact checks (sanitize/fidelity.py) require a rewrite to keep the original's names,
numbers and verbatim spans, and they were the most common failures of the embedded 135M model
(it drops acronyms, misspells organisms, loses p-values: docs/paraphrase.md). With
`--mask-facts` each such fact of a piece is replaced by a numbered placeholder (X1, X2, ...)
before the piece goes to the backend, and put back into the candidate before the gate sees it.
The model only has to carry short codes over; the gate still judges the restored text against
the original, so a dropped or invented placeholder fails the fact checks as a lost or added
fact. Measured, it does not raise the embedded model's yield: that model drops the codes as it
drops the facts (docs/paraphrase.md). It also keeps the facts away from the paraphrase model,
which matters when that is a server.

The same value gets the same placeholder everywhere in the piece, so "IgE ... IgE" stays one
fact. A piece that already contains text shaped like a placeholder is sent as it is: putting
values back could not tell ours from the record's own. Works with every backend: it changes the
request, not the decoding.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..fidelity import fact_spans

# "X1" rather than "[1]": measured on 16 records a domain (docs/paraphrase.md), the model
# invented bracketed numbers as list and citation marks and lost more of them. A whole word
# only, so "X11" in "X11 forwarding" is the record's own text (and keeps the piece unmasked).
_SHAPE = re.compile(r"(?<![\w.-])X(\d+)(?![\w-])")


def _placeholder(i: int) -> str:
    return f"X{i}"


INSTRUCTION = ("Codes such as X1 and X2 stand for names and numbers: copy each one exactly as "
               "it is, where its meaning belongs, and add no others.")


@dataclass(frozen=True)
class Masked:
    text: str  # what the backend is asked to rewrite
    values: tuple[str, ...]  # values[i - 1] is what placeholder Xi stands for

    def restore(self, candidate: str) -> str:
        """The candidate with each known placeholder replaced by its value. Unknown ones stay
        as written: their digits make the numbers check fail the candidate."""
        def value(m: re.Match) -> str:
            i = int(m.group(1))
            return self.values[i - 1] if 1 <= i <= len(self.values) else m.group()
        return _SHAPE.sub(value, candidate) if self.values else candidate


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping spans joined (a name inside a URL is part of the URL)."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start < out[-1][1]:
            out[-1] = (out[-1][0], max(end, out[-1][1]))
        else:
            out.append((start, end))
    return out


def mask(text: str) -> Masked:
    """`text` with its facts (`fidelity.fact_spans`) replaced by X1, X2, ... in order of first
    appearance."""
    if _SHAPE.search(text):
        return Masked(text, ())
    index: dict[str, int] = {}
    pieces, last = [], 0
    for start, end in _merged(fact_spans(text)):
        value = text[start:end]
        i = index.setdefault(value, len(index) + 1)
        pieces += [text[last:start], _placeholder(i)]
        last = end
    pieces.append(text[last:])
    return Masked("".join(pieces), tuple(index))


def placeholder_spans(text: str) -> list[tuple[int, int]]:
    """Where the placeholders of a masked piece are, so that decoding rules let them be
    copied (paraphrase/decoding.py)."""
    return [m.span() for m in _SHAPE.finditer(text)]
