"""What the code renamers share: the result type and how new names are drawn.

New names depend only on (seed, old name, the piece's words): `random.Random(f"{seed}:{old}")`
draws a readable name of the same style (`_private` keeps its underscore, `CONSTANT` stays
upper case, `ClassName` stays CapWords, short names stay short) until it is fresh, i.e. no
word of the piece, keyword or builtin. So the pieces of one file renamed with the same seed
mostly agree on a shared name, which keeps a reassembled file consistent where it can be.
"""
from __future__ import annotations

import builtins
import keyword
import random
import re
from dataclasses import dataclass

PYTHON_NAMES = frozenset({"python", "py", "python3", "py3"})


@dataclass(frozen=True)
class Renamed:
    text: str  # the piece with identifiers renamed (the input itself when nothing was done)
    mapping: dict[str, str]  # old name -> new name, a bijection onto names fresh in the piece
    # "python", the pygments alias of the lexer used (round-trips through `language=`), or ""
    # when the piece could not be handled (does not parse, weak guess, failed self-check)
    language: str


_WORDS = ("alpha", "amber", "atom", "basin", "birch", "cedar", "coral", "count", "delta",
          "ember", "entry", "fable", "field", "flint", "frame", "gamma", "grain", "harbor",
          "item", "jade", "kite", "label", "lemon", "maple", "marble", "meadow", "node",
          "orbit", "pearl", "pivot", "prism", "quill", "raven", "ridge", "slate", "spark",
          "stone", "total", "unit", "value", "vertex", "willow")
_LETTERS = "abcdefghjkmnpqrstuvwxyz"
RESERVED = frozenset(keyword.kwlist) | frozenset(getattr(keyword, "softkwlist", ())) | frozenset(
    dir(builtins))
WORD_RE = re.compile(r"[^\W\d]\w*")


def _fresh_name(old: str, seed: int, taken: set[str]) -> str:
    """A new name for `old` in its style, not in `taken` (and added to it)."""
    lead = len(old) - len(old.lstrip("_$@%"))
    prefix, core = old[:lead], old[lead:]
    letters = [c for c in core if c.isalpha()]
    if letters and all(c.isupper() for c in letters):
        style = "upper"
    elif core[:1].isupper():
        style = "cap"
    elif any(c.isupper() for c in core):
        style = "camel"
    else:
        style = "snake"
    rng = random.Random(f"{seed}:{old}")
    for attempt in range(200):
        if len(core) <= 2 and attempt < 50:  # `i`, `df`: keep it short (and the text's length)
            new = rng.choice(_LETTERS) + str(rng.randint(0, 9))
            new = new.upper() if style in ("upper", "cap") else new
        else:
            w, w2, n = rng.choice(_WORDS), rng.choice(_WORDS), rng.randint(1, 99)
            new = {"snake": f"{w}_{n}", "upper": f"{w.upper()}_{n}",
                   "cap": f"{w.capitalize()}{w2.capitalize()}{n}",
                   "camel": f"{w}{w2.capitalize()}{n}"}[style]
        new = prefix + new
        if new not in taken and new[lead:] not in taken:
            taken.add(new)
            return new
    n = 100  # practically unreachable: every draw collided
    while f"{new}{n}" in taken:
        n += 1
    taken.add(f"{new}{n}")
    return f"{new}{n}"


def assign_names(names: list[str], seed: int, code: str) -> dict[str, str]:
    taken = set(WORD_RE.findall(code)) | RESERVED
    return {old: _fresh_name(old, seed, taken) for old in sorted(names)}

