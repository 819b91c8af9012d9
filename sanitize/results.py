"""What protecting a dataset gives, typed: one result per record, the counts, the verdict and
the manifest built from them (`pipeline.protect_dataset`, `sanitize.protect`)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Callable

from .datafile import Dataset
from .obfuscate import RecordOutcome
from .records import Record
from .selection import RecordScore


@dataclass(frozen=True)
class Counts:
    """Records by status (manifest.STATUSES); they add up to the input's records."""

    unchanged: int = 0
    obfuscated: int = 0
    partial: int = 0
    dropped: int = 0
    kept_original: int = 0
    rejected_invalid: int = 0
    other_shard: int = 0

    @classmethod
    def from_manifest(cls, counts: dict[str, int]) -> "Counts":
        return cls(**{k.replace("-", "_"): v for k, v in counts.items()})

    @property
    def total(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))


@dataclass(frozen=True)
class Verdict:
    """Is OUT fit to hand to a trainer (pipeline.output_verdict)?"""

    ok: bool
    reason: str | None
    records_out: int
    left_out: int
    left_out_share: float
    max_drop: float | None


@dataclass(frozen=True)
class RecordResult:
    """One valid input record: its score and selection, what became of it, and what OUT
    holds in its place (None: left out)."""

    record: Record  # the input record (original text: never written to OUT or the manifest)
    score: RecordScore
    status: str  # manifest.STATUSES
    outcome: RecordOutcome | None  # the rewrite, for selected records of this shard
    output: Record | None

    @property
    def row(self) -> dict | None:
        """The record as OUT holds it, parsed."""
        return None if self.output is None else json.loads(self.output.raw)


@dataclass
class Protection:
    """A protected dataset before (or after) it is written."""

    data: Dataset
    results: list[RecordResult]  # one per valid input record, input order
    manifest: dict  # OUT.manifest.json's content (outputs filled once written)
    _build_manifest: Callable[[dict], dict] = field(repr=False, default=None)

    @property
    def counts(self) -> Counts:
        return Counts.from_manifest(self.manifest["counts"])

    @property
    def verdict(self) -> Verdict:
        return Verdict(**self.manifest["verdict"])

    @property
    def rows(self) -> list[dict]:
        """OUT's records, parsed, in input order."""
        return [r.row for r in self.results if r.output is not None]

    @property
    def kept_lines(self) -> list[str]:
        return [r.output.raw for r in self.results if r.output is not None]

    @property
    def rejected_lines(self) -> list[str]:
        """ORIGINAL records that failed the gate under on_fail=drop: not for training."""
        return [r.record.raw for r in self.results if r.status == "dropped"]

    def with_outputs(self, outputs: dict) -> dict:
        """The manifest again, with the written outputs recorded."""
        self.manifest = self._build_manifest(outputs)
        return self.manifest
