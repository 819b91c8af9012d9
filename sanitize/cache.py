"""A content-addressed SQLite cache of paraphrase candidates: kill -9 loses nothing finished.

The key is the sha256 of everything that determines a candidate: the segment text, backend,
model, prompt template hash, generation parameters, seed and candidate index. A changed prompt,
model or temperature therefore never reuses a stale candidate. The value is the
backend's raw output (before cleaning, so a better cleaner applies on rerun).

WAL mode plus one commit per result: a process killed at any point leaves every committed row
readable, and concurrent readers (a second run, a test polling progress) never block writers.

The cache can hold original text. Keys are hashes, but a value is whatever the backend
answered: a candidate that copied its source, or a server that echoed the prompt, stores the
record's own words. So the cache is treated like the input itself: created with the input's
permissions or stricter (SQLite gives its -wal/-shm files the database's mode), never written
into OUT or the manifest, and documented as private (README). Delete it once the run is done
and no resume is needed.

It also keeps the key of `--score random` (`Cache.secret`): whoever holds the cache can tell
which records a random selection took, which is one more reason to keep it private.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import time
from pathlib import Path

from .errors import InputError, SanitizeError


def cache_key(text: str, backend: str, model: str, prompt_sha256: str, params: dict,
              seed: int, candidate: int) -> str:
    payload = json.dumps({"text_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
                          "backend": backend, "model": model, "prompt": prompt_sha256,
                          "params": params, "seed": seed, "candidate": candidate},
                         sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class Cache:
    def __init__(self, path: str | None, perms: int = 0o600):
        """`path=None` keeps everything in memory (dry runs, tests). A new cache file gets
        `perms` (see paths.private_mode); an existing one keeps its own."""
        self.path = path
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            try:
                os.close(os.open(path, os.O_CREAT | os.O_RDWR, perms))  # no-op if it exists
            except OSError as exc:
                raise SanitizeError(f"{path}: cannot open the paraphrase cache: "
                                    f"{exc.strerror}") from None
        try:
            self.db = sqlite3.connect(path or ":memory:")
            self.db.execute("PRAGMA journal_mode=WAL")
            # NORMAL with WAL: a committed row survives a process crash (only a power loss can
            # drop the last commits), at a fraction of FULL's fsync cost.
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("CREATE TABLE IF NOT EXISTS candidates (key TEXT PRIMARY KEY, "
                            "output TEXT NOT NULL, created REAL NOT NULL)")
            self.db.execute("CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, "
                            "value BLOB NOT NULL)")
            self.db.commit()
        except sqlite3.DatabaseError as exc:
            raise InputError(f"cannot use as the paraphrase cache: {exc} (choose another "
                             "--cache path, or delete this file if it is an old cache)",
                             path) from None
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

    def secret(self, name: str) -> bytes:
        """32 random bytes made on first use and kept in this cache, so a resumed run gets the
        same ones and nobody without the cache can recompute what they decided (`--score
        random`). Concurrent first uses agree: the first insert wins."""
        self.db.execute("INSERT OR IGNORE INTO secrets VALUES (?, ?)",
                        (name, secrets.token_bytes(32)))
        self.db.commit()
        return self.db.execute("SELECT value FROM secrets WHERE name = ?", (name,)).fetchone()[0]

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
