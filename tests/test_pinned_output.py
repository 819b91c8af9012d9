"""One example run's outputs, pinned byte for byte: refactors must not change what a user gets.

The bundled example through the whole pipeline with a tiny model built here (scoring and the
warm-up), the embedded MiniLM (duplicates and the gate) and the echo paraphraser. Pinned: OUT
and the rejected file byte for byte, and the manifest's per-record entries and counts (its
run-level fields hold times, versions and temporary paths). The entries are pinned without their
float fields (risk, similarity, overlap): those differ in the last digits between CPUs (an AMD
EPYC and an Intel Xeon gave different risks from the same tiny model), while every decision
must not. A change that is meant to alter
the output updates these hashes in the same commit and says why.
"""
from __future__ import annotations

import hashlib
import json
import shutil

from conftest import REPO

PINNED = {
    "out": "6a0b53f96a6631e739dfb381fd9b56a700cbb2a5ec44137f67b16e1dedd2e4ce",
    "rejected": "fc631e00ace8bcb3e9de873e2a878ef82211ee452d41df6ce09f29e77cb5a3b6",
    "records": "4de7c5b0b41960023b9a4f514dd2dd301221351e3502a2f7f6c53f30238b7139",
    "counts": {"unchanged": 10, "obfuscated": 5, "partial": 0, "dropped": 5,
               "kept-original": 0, "rejected-invalid": 0, "other-shard": 0},
}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _without_floats(value):
    """`value` with every float field left out, at any depth."""
    if isinstance(value, dict):
        return {k: _without_floats(v) for k, v in value.items() if not isinstance(v, float)}
    if isinstance(value, list):
        return [_without_floats(v) for v in value if not isinstance(v, float)]
    return value


def test_example_run_output_is_pinned(tmp_path, tiny):
    from sanitize.config import (GateConfig, ParaphraseConfig, SanitizeConfig, ScoreConfig,
                                 TrainConfig)
    from sanitize.pipeline import run

    src = tmp_path / "in.jsonl"
    shutil.copy(REPO / "examples" / "support_chats.jsonl", src)
    cfg = SanitizeConfig(
        input=str(src), output=str(tmp_path / "out.jsonl"),
        # `loss`, not the default random draw, whose key is made anew in every new cache.
        score=ScoreConfig(score="loss", train=TrainConfig(batch_size=4, max_length=512)),
        paraphrase=ParaphraseConfig(backend="echo", candidates=2),
        gate=GateConfig(min_similarity=0.8, on_fail="partial"))
    manifest = run(cfg, lm=tiny).manifest
    got = {
        "out": _sha((tmp_path / "out.jsonl").read_bytes()),
        "rejected": _sha((tmp_path / "out.jsonl.rejected.jsonl").read_bytes())
        if (tmp_path / "out.jsonl.rejected.jsonl").exists() else None,
        "records": _sha(json.dumps(_without_floats(manifest["records"]),
                                   sort_keys=True).encode()),
        "counts": manifest["counts"],
    }
    print(json.dumps(got, indent=1))
    assert got == PINNED
