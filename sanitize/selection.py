"""Which records to obfuscate (SOFT step 3): rank by risk, take the top ratio or a threshold.

- Ranks are total and deterministic: riskiest first, exact ties broken by input order, so the
  same scores always give the same selection.
- `--ratio r` selects ceil(r * n) records (at least the requested share is protected). With
  duplicate groups, walking the ranking selects a record's whole group at once, since one
  surviving copy still leaks; the count can then exceed ceil(r * n) by less than the size of the
  last group taken. Ratio 0 selects nothing and ratio 1 everything, groups or not.
- `--threshold t` selects every record with risk >= t, plus the rest of its group.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Sequence

from .config import SelectConfig
from .errors import SanitizeError

if TYPE_CHECKING:
    from .scoring import Risk


@dataclass(frozen=True)
class RecordScore:
    """A record's risk (scoring.Risk) with the decision: its rank and whether it is selected.
    Field order is the scores file's column order (scoring.score_lines)."""

    id: str
    line_no: int
    tokens: int
    truncated: bool
    loss_before: float | None  # None: no model ran (--score random)
    loss_after: float | None  # None: no warm-up ran (--score random or base-loss)
    risk: float
    rank: int  # 1 = riskiest
    selected: bool
    group: str | None
    trainable_tokens: int = 0


def decide(risks: Sequence["Risk"], cfg: SelectConfig) -> list[RecordScore]:
    """Rank every record and select by `cfg`, duplicate groups whole; input order."""
    values = [r.risk for r in risks]
    chosen = select(values, cfg, [r.group for r in risks])
    return [RecordScore(**asdict(r), rank=rank, selected=selected)
            for r, rank, selected in zip(risks, ranks(values), chosen)]


def rank_order(risks: Sequence[float]) -> list[int]:
    """Indices riskiest first; ties keep input order (Python's sort is stable)."""
    _check_finite(risks)
    return sorted(range(len(risks)), key=lambda i: -risks[i])


def ranks(risks: Sequence[float]) -> list[int]:
    """1-based rank of each record in input order (1 = riskiest)."""
    out = [0] * len(risks)
    for pos, i in enumerate(rank_order(risks), start=1):
        out[i] = pos
    return out


def target_count(n: int, ratio: float) -> int:
    """ceil(ratio * n), rounded first so 0.3 * 10 = 3.0000000000000004 gives 3, not 4."""
    return min(n, math.ceil(round(ratio * n, 9)))


def select(risks: Sequence[float], cfg: SelectConfig,
           groups: Sequence[str | None] | None = None) -> list[bool]:
    """Selection flag per record, in input order. `groups[i]` names record i's duplicate group
    (None when unique); grouped records are selected or left together."""
    n = len(risks)
    groups = list(groups) if groups is not None else [None] * n
    if len(groups) != n:
        raise ValueError("groups and risks differ in length")
    members: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        if g is not None:
            members[g].append(i)
    chosen = [False] * n

    def take(i: int) -> int:
        """Select record i with its whole group; return how many became newly selected."""
        new = 0
        for j in members[groups[i]] if groups[i] is not None else [i]:
            new += not chosen[j]
            chosen[j] = True
        return new

    if cfg.threshold is not None:
        _check_finite(risks)
        for i in range(n):
            if risks[i] >= cfg.threshold:
                take(i)
        return chosen
    k = target_count(n, cfg.ratio)
    count = 0
    for i in rank_order(risks):
        if count >= k:
            break
        if not chosen[i]:
            count += take(i)
    return chosen


def _check_finite(risks: Sequence[float]) -> None:
    bad = [i for i, r in enumerate(risks) if not math.isfinite(r)]
    if bad:
        raise SanitizeError(f"{len(bad)} risk score(s) are not finite (first at record index "
                            f"{bad[0]}); the model's losses overflowed")
