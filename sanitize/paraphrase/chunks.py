"""Split a long segment into pieces a small model can rewrite, and put the rewrites back.

The embedded 135M model rewrites a paragraph acceptably and a whole article poorly (seen in
use, not benchmarked: docs/paraphrase.md), and it drops layout. So a segment is cut along its
own structure: fenced code blocks, then paragraphs (blank-line runs), then sentence groups (or
line groups) of long paragraphs. The separators between pieces are kept from the original, so
paragraph breaks, blank lines and the order of everything survive whatever the model does
inside a piece.

- Hard-wrapped paragraphs are unwrapped into one line before rewriting (sentence-level work on
  wrapped lines cuts sentences in half) and re-wrapped to the original width afterwards.
- A leading list marker, heading hashes or indentation is kept and only the rest is rewritten.
- Tiny pieces (headings like "See also", a lone "}") are kept verbatim: rewriting them only adds
  noise, and the gate's verbatim-run cap still bounds what is copied.

Invariant (tested): `"".join(c.prefix + c.original + c.sep ...)` is the segment byte-for-byte.
"""
from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

MAX_WORDS = 120  # per text piece: what the 135M model still rewrites without losing content
MAX_CODE_LINES = 30
MIN_WORDS = 4  # pieces with fewer words are kept verbatim

_FENCE = re.compile(r"^(```|~~~)[^\n]*\n.*?^\1[ \t]*$", re.M | re.S)
_BLANK_RUN = re.compile(r"\n[ \t]*\n\s*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[A-Z0-9])")
_MARKER = re.compile(r"^[ \t]*(?:[-*+\u2022]|\d+[.)]|#+|>)?[ \t]*")
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Chunk:
    original: str  # the piece as it appears in the segment (after `prefix`)
    prefix: str  # kept verbatim: indentation, list marker, heading hashes
    sep: str  # separator after the piece, verbatim
    kind: str | None  # "code" for fenced code blocks, else None (the segment's kind)
    verbatim: bool  # kept as is, not sent to the paraphraser
    wrap: int | None  # original line width of a hard-wrapped paragraph

    @property
    def source(self) -> str:
        """What the paraphraser sees: the piece, unwrapped if it was hard-wrapped."""
        return " ".join(ln.strip() for ln in self.original.splitlines()) if self.wrap else self.original


def words(text: str) -> int:
    return len(_WORD.findall(text))


def _is_hard_wrapped(para: str) -> bool:
    """Several lines of running prose: no list markers, similar widths, not ending sentences."""
    lines = para.splitlines()
    if len(lines) < 2:
        return False
    if any(_MARKER.match(ln).end() > 0 and ln[:_MARKER.match(ln).end()].strip() for ln in lines):
        return False
    body = lines[:-1]
    widths = [len(ln) for ln in body]
    return min(widths) >= 40 and max(widths) - min(widths) <= 25 and \
        sum(ln.rstrip().endswith((".", ":", "!", "?")) for ln in body) <= len(body) // 2


def _split_long(para: str, max_words: int) -> list[tuple[str, str]]:
    """(piece, separator) pairs of a paragraph longer than `max_words`: sentence groups for
    one-line prose, line groups for multi-line paragraphs (lists, tables)."""
    if "\n" in para.strip():
        units = re.split(r"(\n)", para)
    else:
        units = _SENTENCE_END.split(para)
        seps = _SENTENCE_END.findall(para)
        units = [u for pair in zip(units, seps + [""]) for u in pair]
    pieces: list[tuple[str, str]] = []
    cur = ""
    for i in range(0, len(units), 2):
        text, sep = units[i], units[i + 1] if i + 1 < len(units) else ""
        if cur and words(cur + text) > max_words:
            body, trail = cur.rstrip(), cur[len(cur.rstrip()):]
            pieces.append((body, trail))
            cur = ""
        cur += text + sep
    if cur:
        body, trail = cur.rstrip(), cur[len(cur.rstrip()):]
        pieces.append((body, trail))
    return [cut for body, trail in pieces for cut in _cut_at_spaces(body, trail, max_words)]


def _cut_at_spaces(piece: str, sep: str, max_words: int) -> list[tuple[str, str]]:
    """A piece still over `max_words` (one huge line, no sentence end to cut at) is cut at
    whitespace, so no chunk outgrows what the model and the gate handle in bounded time."""
    if words(piece) <= max_words:
        return [(piece, sep)]
    tokens = re.split(r"(\s+)", piece)  # word, space, word, space, ..., word
    out: list[tuple[str, str]] = []
    body, count = "", 0
    for i in range(0, len(tokens), 2):
        n = words(tokens[i])
        if body and count + n > max_words:
            out.append((body, tokens[i - 1]))
            body, count = "", 0
        body += ("" if not body else tokens[i - 1]) + tokens[i]
        count += n
    out.append((body, sep))
    return out


def _text_chunks(block: str, sep: str, max_words: int) -> list[Chunk]:
    out: list[Chunk] = []
    parts = _BLANK_RUN.split(block)
    seps = _BLANK_RUN.findall(block) + [sep]
    for para, psep in zip(parts, seps):
        if not para:
            if out:
                out[-1] = Chunk(out[-1].original, out[-1].prefix, out[-1].sep + psep,
                                out[-1].kind, out[-1].verbatim, out[-1].wrap)
            else:
                out.append(Chunk("", "", psep, None, True, None))
            continue
        body = para.rstrip()
        if body != para:  # trailing newline/spaces are layout: keep them in the separator
            para, psep = body, para[len(body):] + psep
        wrapped = _is_hard_wrapped(para)
        pieces = ([(para, "")] if wrapped or words(para) <= max_words
                  else _split_long(para, max_words))
        pieces[-1] = (pieces[-1][0], pieces[-1][1] + psep)
        for text, s in pieces:
            prefix = "" if "\n" in text else text[:_MARKER.match(text).end()]
            body = text[len(prefix):]
            width = max(len(ln) for ln in para.splitlines()) if wrapped else None
            out.append(Chunk(body, prefix, s, None, words(body) < MIN_WORDS, width))
    return out


def _code_chunks(block: str, sep: str) -> list[Chunk]:
    """Blank-line separated blocks of code, grouped up to MAX_CODE_LINES lines."""
    out: list[Chunk] = []
    lines = block.split("\n")
    cur: list[str] = []
    for i, ln in enumerate(lines):
        cur.append(ln)
        last = i == len(lines) - 1
        if last or (len(cur) >= MAX_CODE_LINES and not ln.strip()) or len(cur) >= 2 * MAX_CODE_LINES:
            text = "\n".join(cur)
            body = text.rstrip("\n")
            trail = text[len(body):] + ("" if last else "\n")
            out.append(Chunk(body, "", trail, "code", words(body) < MIN_WORDS, None))
            cur = []
    out[-1] = Chunk(out[-1].original, "", out[-1].sep + sep, "code", out[-1].verbatim, None)
    return out


def split(text: str, kind: str, max_words: int = MAX_WORDS) -> list[Chunk]:
    """Chunks of one segment; `kind` is the segment's content kind (code is split by lines);
    text pieces hold at most `max_words` words (a hard-wrapped paragraph stays whole)."""
    if kind == "code":
        return _code_chunks(text, "")
    chunks: list[Chunk] = []
    pos = 0
    for m in _FENCE.finditer(text):
        if m.start() > pos:
            chunks += _text_chunks(text[pos:m.start()], "", max_words)
        fence = m.group(0)
        # The fence lines are kept; only the code inside is rewritten (with the code prompt).
        first_nl = fence.index("\n") + 1
        last_nl = fence.rindex("\n") + 1
        inner = fence[first_nl:last_nl - 1]
        chunks.append(Chunk("", fence[:first_nl], "", None, True, None))
        if inner:
            chunks += [Chunk(c.original, c.prefix, c.sep, "code", c.verbatim, None)
                       for c in _code_chunks(inner, "\n")]
        chunks.append(Chunk("", fence[last_nl:], "", None, True, None))
        pos = m.end()
    if pos < len(text) or not chunks:
        chunks += _text_chunks(text[pos:], "", max_words)
    return chunks


def assemble(chunks: list[Chunk], rewrites: dict[int, str], drop: frozenset[int] = frozenset()
             ) -> str:
    """The segment with chunk i replaced by rewrites[i] (re-wrapped if it was hard-wrapped);
    chunks in `drop` are left out, keeping only a separator that carries a line break (so
    paragraphs and lines stay apart)."""
    out = []
    for i, c in enumerate(chunks):
        if i in drop:
            out.append(c.sep if "\n" in c.sep else "")
            continue
        body = c.original
        if i in rewrites:
            body = rewrites[i]
            if "\n" not in c.original:  # a one-line piece stays one line
                body = " ".join(body.split())
            if c.wrap:
                body = textwrap.fill(" ".join(body.split()), width=c.wrap)
        out.append(c.prefix + body + c.sep)
    return "".join(out)
