"""A content-addressed SQLite cache of paraphrase candidates: kill -9 loses nothing finished.

The key is the sha256 of everything that determines a candidate: the segment text, backend,
model, prompt template hash, generation parameters, seed and candidate index. A changed prompt,
model or temperature therefore never reuses a stale candidate (GUIDE s5). The value is the
backend's raw output (before cleaning, so a better cleaner applies on rerun).

WAL mode plus one commit per result: a process killed at any point leaves every committed row
readable, and concurrent readers (a second run, a test polling progress) never block writers.
The cache holds rewrites only; keys are hashes, so the original text is not stored here.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path


def cache_key(text: str, backend: str, model: str, prompt_sha256: str, params: dict,
              seed: int, candidate: int) -> str:
    payload = json.dumps({"text_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
                          "backend": backend, "model": model, "prompt": prompt_sha256,
                          "params": params, "seed": seed, "candidate": candidate},
                         sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class Cache:
    def __init__(self, path: str | None):
        """`path=None` keeps everything in memory (dry runs, tests)."""
        self.path = path
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path or ":memory:")
        self.db.execute("PRAGMA journal_mode=WAL")
        # NORMAL with WAL: a committed row survives a process crash (only a power loss can
        # drop the last commits), at a fraction of FULL's fsync cost.
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS candidates (key TEXT PRIMARY KEY, "
                        "output TEXT NOT NULL, created REAL NOT NULL)")
        self.db.commit()
        self.hits = 0
        self.misses = 0
        self.writes = 0

    def get(self, key: str) -> str | None:
        row = self.db.execute("SELECT output FROM candidates WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return row[0]

    def put(self, key: str, output: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO candidates VALUES (?, ?, ?)",
                        (key, output, time.time()))
        self.db.commit()
        self.writes += 1

    def __len__(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM candidates").fetchone()[0]

    def stats(self) -> dict:
        return {"path": self.path, "hits": self.hits, "misses": self.misses,
                "writes": self.writes}

    def close(self) -> None:
        self.db.close()
