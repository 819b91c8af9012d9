"""What every stage of the benchmark shares: where things are, logging, hashing, writing."""
from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = REPO.parent / "shared" / "data" / "mimir"
DEFAULT_OUT = REPO / "benchmarks" / "RESULTS.md"
# Per-domain results live in the repo (small JSON, no record text) so a later session or
# machine resumes where a run stopped; bulky files beside them (training sets, paraphrase
# cache) are gitignored.
DEFAULT_CACHE = REPO / "benchmarks" / "results"
# Gitignored: quick outputs never overwrite RESULTS.md.
QUICK_DIR = REPO / "benchmarks" / "cache" / "quick"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def indented_log(msg: str) -> None:
    """The library's own progress lines, nested under the benchmark's."""
    log("    " + msg)


def sha256_json(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def lines_sha256(lines) -> str:
    """The sha256 `sanitize.datafile.write_jsonl_lines` returns for the same lines: a training
    set's identity without writing it."""
    h = hashlib.sha256()
    for line in lines:
        h.update((line + "\n").encode("utf-8"))
    return h.hexdigest()


def source_hash() -> str:
    """Hash of the library source and prompts: a changed library never reuses stale results
    unannounced (the report names results measured with another source)."""
    h = hashlib.sha256()
    files = list((REPO / "sanitize").rglob("*.py")) + list((REPO / "prompts").glob("*.md"))
    for p in sorted(files):
        h.update(str(p.relative_to(REPO)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def write_json(path: Path, obj) -> None:
    """Atomically: a run killed mid-write never leaves a half-written cache entry."""
    from sanitize.datafile import write_json as atomic_json

    atomic_json(path, obj)


def read_cached(path: Path, key: str) -> dict | None:
    """The JSON at `path` if it was written for `key` (its `config_hash`), else None."""
    if not path.exists():
        return None
    cached = json.loads(path.read_text())
    return cached if cached.get("config_hash") == key else None


def hardware() -> dict:
    import torch

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    hw = {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
          "torch": torch.__version__, "python": platform.python_version(),
          "platform": platform.platform(), "gpu": None}
    if torch.cuda.is_available():
        hw["gpu"] = torch.cuda.get_device_name(0)
    return hw


def hardware_text(hw: dict) -> str:
    return (f"{hw['cpu']}, {hw['cores']} cores (torch threads: {hw['torch_threads']})"
            f"{', GPU ' + hw['gpu'] if hw['gpu'] else ', no GPU'}; torch {hw['torch']}, "
            f"Python {hw['python']}")
