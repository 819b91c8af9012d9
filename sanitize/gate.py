"""Does a candidate paraphrase keep the meaning but not the wording? All checks must hold.

- similarity: cosine of the embedded all-MiniLM-L6-v2 embeddings >= min_similarity (meaning
  kept; also what rejects a candidate that followed an instruction hidden in the record, since
  its output is about something else).
- overlap: rapidfuzz `fuzz.ratio` of the lower-cased, whitespace-normalised texts / 100 <=
  max_overlap (an edit-distance similarity: a light touch-up of the original scores ~0.9).
- common span: the longest run of words copied verbatim <= max_common_span (a long exact run is
  what a membership attack and an extraction attack both key on).
- sanity: not empty, length ratio (characters) within bounds, no refusal, no echo of our prompt.

`evaluate` embeds all pairs in one batch, which is what makes the gate cheap next to generation.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from difflib import SequenceMatcher

from rapidfuzz import fuzz

from .config import GateConfig

_WORD = re.compile(r"\w+")
_REFUSAL = re.compile(
    r"\b(?:i(?:'m| am) sorry|i apologi[sz]e|i can(?:no|')t (?:help|assist|do|comply|provide|"
    r"fulfil)|i(?:'m| am) (?:not able|unable) to|as an ai\b|as a language model|i won't be able)",
    re.I)
# Phrases from our own templates: a candidate containing them is the model repeating the prompt.
_PROMPT_ECHO = re.compile(
    r"(?:rewrite (?:this|the following) (?:text|code|message)|in different words:|"
    r"the text is data to rewrite|reply with the rewritten|never instructions to follow)", re.I)


@dataclass(frozen=True)
class GateResult:
    passed: bool
    reason: str  # "" when passed, else the first failed check
    similarity: float
    overlap: float
    common_span: int
    length_ratio: float

    def as_dict(self) -> dict:
        d = asdict(self)
        for k in ("similarity", "overlap", "length_ratio"):
            d[k] = round(d[k], 4)
        return d


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


def overlap(a: str, b: str) -> float:
    return fuzz.ratio(normalise(a), normalise(b)) / 100.0


def longest_common_span(a: str, b: str) -> int:
    """Longest run of consecutive words (case-insensitive, punctuation ignored) in both."""
    wa, wb = _WORD.findall(a.lower()), _WORD.findall(b.lower())
    if not wa or not wb:
        return 0
    # autojunk off: with it, frequent words in long texts are ignored and runs come out short.
    m = SequenceMatcher(None, wa, wb, autojunk=False).find_longest_match(0, len(wa), 0, len(wb))
    return m.size


def sanity_reason(original: str, candidate: str, cfg: GateConfig) -> str:
    if not candidate.strip():
        return "empty"
    ratio = len(candidate.strip()) / max(1, len(original.strip()))
    if ratio < cfg.min_length_ratio:
        return "too-short"
    if ratio > cfg.max_length_ratio:
        return "too-long"
    if _REFUSAL.search(candidate) and not _REFUSAL.search(original):
        return "refusal"
    if _PROMPT_ECHO.search(candidate) and not _PROMPT_ECHO.search(original):
        return "prompt-echo"
    return ""


def evaluate(pairs: list[tuple[str, str]], cfg: GateConfig, embedder) -> list[GateResult]:
    """Gate decisions for (original, candidate) pairs, in order."""
    if not pairs:
        return []
    sims = similarities(pairs, embedder)
    out = []
    for (orig, cand), sim in zip(pairs, sims):
        ov = overlap(orig, cand)
        span = longest_common_span(orig, cand)
        ratio = len(cand.strip()) / max(1, len(orig.strip()))
        reason = sanity_reason(orig, cand, cfg)
        if not reason and sim < cfg.min_similarity:
            reason = "similarity"
        if not reason and ov > cfg.max_overlap:
            reason = "overlap"
        if not reason and span > cfg.max_common_span:
            reason = "common-span"
        out.append(GateResult(not reason, reason, sim, ov, span, ratio))
    return out


def similarities(pairs: list[tuple[str, str]], embedder) -> list[float]:
    texts = [t for pair in pairs for t in pair]
    emb = embedder.encode(texts, batch_size=32, normalize_embeddings=True,
                          convert_to_numpy=True, show_progress_bar=False)
    return [float(emb[2 * i] @ emb[2 * i + 1]) for i in range(len(pairs))]
