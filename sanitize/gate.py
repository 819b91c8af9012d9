"""Does a candidate paraphrase keep the meaning but not the wording? All checks must hold.

- similarity: cosine of the embedded all-MiniLM-L6-v2 embeddings >= min_similarity (meaning
  kept; also what rejects a candidate that followed an instruction hidden in the record, since
  its output is about something else).
- overlap: rapidfuzz `fuzz.ratio` of the lower-cased, whitespace-normalised texts / 100 <=
  max_overlap (an edit-distance similarity: a light touch-up of the original scores ~0.9).
- common span: the longest run of words copied verbatim <= max_common_span (a long exact run is
  what a membership attack and an extraction attack both key on).
- sanity: not empty, length ratio (characters) within bounds, no refusal, no echo of our prompt.
- facts (`check_facts`, fidelity.py): numbers, negation, names survive and none are invented;
  for code, public names and string literals (embedding similarity cannot see a flipped "no").
- parse: a code piece that parsed as Python must still parse.

`evaluate` embeds all pairs in one batch, which is what makes the gate cheap next to generation.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from itertools import islice
import numpy as np
from rapidfuzz import fuzz

from .config import GateConfig
from .fidelity import failed_fact_checks
from .paraphrase.code_rename import parses

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


# rapidfuzz's ratio costs about len(a) * len(b) / 64 steps: past this many characters a side,
# long texts (a whole segment reassembled from its chunks) are compared window by window.
OVERLAP_WINDOW = 4000


def overlap(a: str, b: str) -> float:
    """Edit-distance similarity of the normalised texts, 0..1. Texts longer than
    OVERLAP_WINDOW are cut into as many windows as the longer one needs, paired in order (a
    rewrite keeps the order of its pieces), and the windows' ratios averaged by length."""
    a, b = normalise(a), normalise(b)
    n = max(1, -(-max(len(a), len(b)) // OVERLAP_WINDOW))
    if n == 1:
        return fuzz.ratio(a, b) / 100.0
    pairs = [(a[len(a) * i // n: len(a) * (i + 1) // n], b[len(b) * i // n: len(b) * (i + 1) // n])
             for i in range(n)]
    weights = [len(x) + len(y) for x, y in pairs]
    total = sum(fuzz.ratio(x, y) * w for (x, y), w in zip(pairs, weights))
    return total / max(1, sum(weights)) / 100.0


def longest_common_span(a: str, b: str) -> int:
    """Longest run of consecutive words (case-insensitive, punctuation ignored) in both.

    A binary search over the run length k; each step hashes every k-word window of both texts
    at once (a polynomial rolling hash over word ids, mod 2**64), so long texts cost
    O(n log n) instead of the quadratic cost of a plain longest-common-substring search."""
    wa, wb = _WORD.findall(a.lower()), _WORD.findall(b.lower())
    if not wa or not wb:
        return 0
    vocab: dict[str, int] = {}
    ha, hb = (_prefix_hashes([vocab.setdefault(w, len(vocab) + 1) for w in ws])
              for ws in (wa, wb))
    lo, hi = 0, min(len(wa), len(wb))
    while lo < hi:
        k = (lo + hi + 1) // 2
        if _shares_run(ha, hb, wa, wb, k):
            lo = k
        else:
            hi = k - 1
    return lo


_BASE = 1_000_003
_MASK = (1 << 64) - 1


def _prefix_hashes(ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Prefix hashes and powers of the base, mod 2**64, for O(1) hashes of any window."""
    prefix, powers = [0], [1]
    for x in ids:
        prefix.append((prefix[-1] * _BASE + x) & _MASK)
        powers.append((powers[-1] * _BASE) & _MASK)
    return np.array(prefix, dtype=np.uint64), np.array(powers, dtype=np.uint64)


def _windows(hashes: tuple[np.ndarray, np.ndarray], k: int) -> np.ndarray:
    prefix, powers = hashes
    with np.errstate(over="ignore"):  # wrapping mod 2**64 is the hash
        return prefix[k:] - prefix[:-k] * powers[k]


def _shares_run(ha, hb, wa: list[str], wb: list[str], k: int) -> bool:
    a, b = _windows(ha, k), _windows(hb, k)
    where_in_b = dict(zip(b.tolist(), range(len(b))))
    for i in np.flatnonzero(np.isin(a, b)).tolist():
        j = where_in_b[int(a[i])]
        if wa[i:i + k] == wb[j:j + k]:  # rule out a hash collision
            return True
    return False


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


def evaluate(pairs: list[tuple[str, str]], cfg: GateConfig, embedder,
             kinds: list[str] | None = None) -> list[GateResult]:
    """Gate decisions for (original, candidate) pairs, in order. `kinds`: each pair's content
    kind (text, code, chat) for the fact checks; default text."""
    return [result for result, _ in _judge(pairs, cfg, embedder, kinds, first_only=True)]


def evaluate_every_check(pairs: list[tuple[str, str]], cfg: GateConfig, embedder,
                         kinds: list[str] | None = None) -> list[tuple[GateResult, list[str]]]:
    """`evaluate`, with every check each pair fails listed in the gate's order (the first is
    its GateResult.reason). For reports: which check alone stands between a candidate and a
    pass."""
    return _judge(pairs, cfg, embedder, kinds, first_only=False)


def _judge(pairs, cfg, embedder, kinds, first_only: bool) -> list[tuple[GateResult, list[str]]]:
    if not pairs:
        return []
    sims = similarities(pairs, embedder)
    out = []
    for (orig, cand), sim, kind in zip(pairs, sims, kinds or ["text"] * len(pairs)):
        ov = overlap(orig, cand)
        span = longest_common_span(orig, cand)
        ratio = len(cand.strip()) / max(1, len(orig.strip()))
        failed = [reason for reason in (sanity_reason(orig, cand, cfg),
                                        "similarity" if sim < cfg.min_similarity else "",
                                        "overlap" if ov > cfg.max_overlap else "",
                                        "common-span" if span > cfg.max_common_span else "")
                  if reason]
        # For the gate's verdict alone, the dearer checks run only while all before them passed.
        # Python that parsed before must parse after.
        if not (first_only and failed) and kind == "code" and parses(orig, "python") and \
                parses(cand, "python") is False:
            failed.append("parse")
        if cfg.check_facts and not (first_only and failed):
            facts = failed_fact_checks(orig, cand, kind)
            failed += islice(facts, 1) if first_only else facts
        out.append((GateResult(not failed, failed[0] if failed else "", sim, ov, span, ratio),
                    failed))
    return out


def similarities(pairs: list[tuple[str, str]], embedder) -> list[float]:
    texts = [t for pair in pairs for t in pair]
    emb = embedder.encode(texts, batch_size=32, normalize_embeddings=True,
                          convert_to_numpy=True, show_progress_bar=False)
    return [float(emb[2 * i] @ emb[2 * i + 1]) for i in range(len(pairs))]
