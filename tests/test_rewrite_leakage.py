"""benchmarks/rewrite_leakage.py: the grouping and the per-group AUC (fast), and a quick run
end to end on the embedded models and real data (slow)."""
from __future__ import annotations

import importlib.util
import json
import sys

import pytest

from conftest import REPO


def _load():
    spec = importlib.util.spec_from_file_location(
        "rewrite_leakage", REPO / "benchmarks" / "rewrite_leakage.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["rewrite_leakage"] = mod
    spec.loader.exec_module(mod)
    return mod


def _row(overlap, similarity, verdict, failed=None):
    failed = ([] if verdict == "pass" else [verdict]) if failed is None else failed
    return {"id": "x", "rewritten": True, "overlap": overlap, "similarity": similarity,
            "common_span": 3, "default_gate": verdict, "failed_checks": failed}


def test_every_rewritten_member_falls_in_one_bin_of_each_grouping():
    rl = _load()
    rows = [_row(0.0, -0.2, "similarity"), _row(0.5, 0.6, "pass"), _row(0.69, 0.99, "overlap"),
            _row(0.9, 1.0, "overlap", ["overlap", "names"]), _row(1.0, 0.75, "pass"),
            {"id": "y", "rewritten": False}]
    groups = rl.groups(rows)
    by = {}
    for grouping, label, idx in groups:
        by.setdefault(grouping, {})[label] = idx
    assert by["all"] == {"every member": [0, 1, 2, 3, 4, 5], "rewritten": [0, 1, 2, 3, 4],
                         "not rewritten (kept as is)": [5]}
    met, missed = by["wording bounds"].values()  # overlap <= 0.7 and span <= 12
    assert met == [0, 1, 2] and missed == [3, 4]
    for grouping in ("overlap", "similarity", "wording bounds", "default gate"):
        members = sorted(i for idx in by[grouping].values() for i in idx)
        assert members == [0, 1, 2, 3, 4], grouping  # a partition of the rewritten members
    assert by["overlap"]["0.50-0.60"] == [1] and by["overlap"]["0.60-0.70"] == [2]
    assert by["overlap"]["0.90-1.00"] == [3, 4]  # 1.0 (a copy) is in the last bin
    assert by["similarity"]["below 0.60"] == [0] and by["similarity"]["0.75-0.85"] == [4]
    assert list(by["default gate"]) == ["pass", "overlap", "similarity"]  # pass first
    # Only records that one check alone fails: member 3 fails two.
    assert by["fails only"] == {"overlap": [2], "similarity": [0]}


def test_group_auc_compares_the_group_with_every_nonmember():
    rl = _load()
    # Members 0-1 score above every non-member, members 2-3 below every one.
    scores = {"labels": [1, 1, 1, 1, 0, 0, 0],
              "scores": {"reference": [9.0, 8.0, -9.0, -8.0, 0.0, 1.0, 2.0]}}
    assert rl.group_auc(scores, [0, 1], n_boot=0, seed=0)["reference"]["auc"] == 1.0
    assert rl.group_auc(scores, [2, 3], n_boot=0, seed=0)["reference"]["auc"] == 0.0
    assert rl.group_auc(scores, [0, 2], n_boot=0, seed=0)["reference"]["auc"] == 0.5


def test_the_open_gate_passes_any_candidate_that_is_not_a_refusal_or_echo():
    from sanitize.gate import evaluate

    rl = _load()

    class Far:  # orthogonal embeddings: similarity 0
        def encode(self, texts, **_):
            import numpy as np
            return np.array([[1.0, 0.0] if i % 2 == 0 else [0.0, 1.0]
                             for i in range(len(texts))])

    original = "The trial enrolled 120 patients and found no effect of the drug at 12 weeks."
    pairs = [(original, original), (original, "A cat sat."), (original, original * 5)]
    assert all(r.passed for r in evaluate(pairs, rl.open_gate(), Far()))
    refused = evaluate([(original, "I'm sorry, I can't help with that.")], rl.open_gate(), Far())
    assert not refused[0].passed and refused[0].reason == "refusal"


@pytest.mark.slow
def test_quick_run_accounts_for_every_member_and_resumes(shared_data, tmp_path):
    rl = _load()
    argv = ["--domain", "pubmed_abstracts", "--quick", "--members", "6", "--nonmembers", "6",
            "--validation", "4", "--max-length", "64", "--bootstrap", "20",
            "--cache-dir", str(tmp_path)]
    report = rl.main(argv)
    out = tmp_path / "rewrite-leakage"
    assert json.loads((out / "pubmed_abstracts.json").read_text())["groups"] == report["groups"]
    assert "| all | every member | 6 |" in (out / "pubmed_abstracts.md").read_text()
    rows = report["members_detail"]
    assert len(rows) == 6
    for r in rows:
        if r["rewritten"]:
            assert 0.0 <= r["overlap"] <= 1.0 and -1.0 <= r["similarity"] <= 1.0
            # Every failed check is listed; the gate's verdict is the first of them.
            assert r["default_gate"] == (r["failed_checks"] or ["pass"])[0]
    first = {g["group"]: g for g in report["groups"]}["every member"]
    for target in ("no-defense", "rewritten"):
        assert 0.0 <= first[target]["reference"]["auc"] <= 1.0
    assert report["perplexity"]["rewritten"] > 1
    # The two targets trained on different data.
    shas = {json.loads((out / f"pubmed_abstracts.{t}.scores.json").read_text())["train_sha256"]
            for t in ("no-defense", "rewritten")}
    assert len(shas) == 2 or not any(r["rewritten"] for r in rows)
    again = rl.main(argv)  # resumes: both targets' scores read back, the same groups
    assert again["groups"] == report["groups"]
