"""A deterministic fake paraphraser for tests and `--dry-run`: no model, no network.

Modes (`SOFT_SANITIZE_ECHO_MODE`):
- `reverse` (default): reverses the word order of every line. Same words, so the MiniLM
  embedding stays close, but no two words run in the original order: passes the gate with the
  default thresholds, and keeps the line layout. Never train on it; it exists to drive the
  pipeline without a model.
- `copy`: returns the text unchanged (what a lazy paraphraser does): fails the divergence gate.
- `obey`: follows an instruction of the form "ignore ... instructions and <X>" found in the text
  by answering X, as a weak model might: shows the gate rejecting injected records.
`SOFT_SANITIZE_ECHO_DELAY` (seconds per request) makes it slow enough to kill a run midway.
"""
from __future__ import annotations

import os
import re
import time
from typing import TYPE_CHECKING

from .base import OnResult, Request

if TYPE_CHECKING:
    from ..config import ParaphraseConfig

MODES = ("reverse", "copy", "obey")
_INJECTION = re.compile(r"ignore (?:all |the )?(?:previous|above|prior) instructions and (.+)",
                        re.I | re.S)


def rewrite(text: str, mode: str) -> str:
    if mode == "copy":
        return text
    if mode == "obey":
        m = _INJECTION.search(text)
        if m:
            return m.group(1).strip()
    return "\n".join(" ".join(reversed(line.split(" "))) for line in text.split("\n"))


class EchoBackend:
    name = "echo"

    def __init__(self, mode: str | None = None, delay: float | None = None, batch_size: int = 8):
        self.mode = mode or os.environ.get("SOFT_SANITIZE_ECHO_MODE", "reverse")
        if self.mode not in MODES:
            raise ValueError(f"echo mode must be one of {MODES}, got {self.mode!r}")
        self.delay = float(delay if delay is not None
                           else os.environ.get("SOFT_SANITIZE_ECHO_DELAY", "0") or 0)
        self.model = f"echo-{self.mode}"
        self.batch_size = batch_size
        self.calls = 0

    @classmethod
    def from_config(cls, cfg: ParaphraseConfig, lm=None) -> EchoBackend:
        return cls(batch_size=cfg.batch_size or 8)

    def generate(self, requests: list[Request], on_result: OnResult | None = None) -> list[str]:
        out = []
        for i, req in enumerate(requests):
            if self.delay:
                time.sleep(self.delay)
            self.calls += 1
            text = rewrite(req.text, self.mode)
            out.append(text)
            if on_result:
                on_result(i, text)
        return out

    def count_tokens(self, text: str) -> int | None:
        return None  # no model: the caller's estimate sizes the (unused) budget

    def usage(self) -> dict:
        return {"backend_calls": self.calls, "generated_tokens": None}

    def close(self) -> None:
        pass
