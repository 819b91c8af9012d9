"""Paraphrase throughput: local batched vs one prompt at a time, and the openai backend against
`transformers serve` with concurrency 1 vs 8. Prints segments/s and generated tokens/s.

    python benchmarks/bench_paraphrase.py               # ~5 min on 2 CPU cores
    python benchmarks/bench_paraphrase.py --n 8 --skip-serve

Inputs: the first sentences of real PubMed abstracts from ../shared/data/mimir (skips with a
message when absent). Every configuration gets the same requests and the same token budget.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from sanitize.paraphrase.base import GenParams, Request  # noqa: E402
from sanitize.prompts import load_template  # noqa: E402


def segments(n: int) -> list[str]:
    path = REPO.parent / "shared" / "data" / "mimir" / "pubmed_abstracts.jsonl.gz"
    if not path.exists():
        sys.exit(f"skipped: {path} not found (see ../shared/data/README.md)")
    out = []
    with gzip.open(path, "rt") as fh:
        for line in fh:
            body = json.loads(line)["text"].split("\n", 1)[-1]
            sentences = re.split(r"(?<=[.!?])\s+", body)
            out.append(" ".join(sentences[:2]))  # ~40-60 words: one chunk
            if len(out) == n:
                return out
    return out


def measure(name: str, backend, reqs: list[Request]) -> dict:
    before = backend.usage()["generated_tokens"]
    started = time.perf_counter()
    backend.generate(reqs)
    secs = time.perf_counter() - started
    tokens = backend.usage()["generated_tokens"] - before
    row = {"config": name, "segments": len(reqs), "seconds": round(secs, 1),
           "segments_per_s": round(len(reqs) / secs, 3), "tokens_per_s": round(tokens / secs, 1),
           "generated_tokens": tokens}
    print(f"{name:28s} {row['seconds']:7.1f} s {row['segments_per_s']:8.3f} seg/s "
          f"{row['tokens_per_s']:8.1f} tok/s ({tokens} tokens)", flush=True)
    return row


def serve(folder: str):
    exe = shutil.which("transformers")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([exe, "serve", folder, "--port", str(port), "--device", "cpu"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return proc, f"http://127.0.0.1:{port}/v1"
        except OSError:
            time.sleep(1)
    proc.kill()
    sys.exit("transformers serve did not start within 180 s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=16, help="segments per configuration")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--skip-serve", action="store_true")
    ap.add_argument("--json", help="also write the rows to this file")
    args = ap.parse_args()

    from sanitize.models import load_lm, resolve_lm_source
    from sanitize.paraphrase.local import LocalBackend
    from sanitize.paraphrase.openai_backend import OpenAIBackend

    template = load_template("text")
    reqs = [Request(tuple(template.messages(t)), t, 0, args.max_new_tokens)
            for t in segments(args.n)]
    params = GenParams(0.7, 0.95)
    lm = load_lm(None, device="cpu")
    rows = []
    print(f"{args.n} segments, max {args.max_new_tokens} new tokens, T=0.7", flush=True)
    rows.append(measure(f"local batch {args.batch_size}",
                        LocalBackend(lm, params, batch_size=args.batch_size), reqs))
    rows.append(measure("local one at a time", LocalBackend(lm, params, batch_size=1), reqs))
    if not args.skip_serve:
        del lm
        proc, base = serve(resolve_lm_source(None))
        try:
            folder = resolve_lm_source(None)
            OpenAIBackend(base, folder, params, retries=1).generate(reqs[:1])  # warm the server
            for conc in (1, 8):
                b = OpenAIBackend(base, folder, params, concurrency=conc, timeout=600, retries=1)
                rows.append(measure(f"openai/transformers serve c={conc}", b, reqs))
        finally:
            proc.kill()
            proc.wait()
    speedup = rows[0]["segments_per_s"] / rows[1]["segments_per_s"]
    print(f"local batching speed-up: {speedup:.2f}x", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "speedup": speedup}, indent=2))


if __name__ == "__main__":
    main()
