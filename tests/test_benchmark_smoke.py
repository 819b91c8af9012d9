"""Smoke test of the privacy/utility benchmark: `--quick` at the smallest sizes, end to end on the
embedded models and real data (../shared/data), into tmp_path. It checks that the harness runs
and writes every output with finite numbers, not what the numbers are."""
from __future__ import annotations

import importlib.util
import json
import math

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow


def _load_benchmark():
    spec = importlib.util.spec_from_file_location(
        "privacy_utility", REPO / "benchmarks" / "privacy_utility.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_quick_benchmark_writes_finite_results(shared_data, tmp_path):
    bench = _load_benchmark()
    out = tmp_path / "out"
    report = bench.main(["--quick", "--domains", "pubmed_abstracts", "--members", "8",
                         "--nonmembers", "8", "--validation", "4", "--max-length", "64",
                         "--bootstrap", "20", "--out", str(out),
                         "--cache-dir", str(tmp_path / "cache")])

    md, js, png = out / "RESULTS.md", out / "RESULTS.json", out / "privacy_utility.png"
    assert md.is_file() and js.is_file() and png.is_file()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(js.read_text())
    assert data["quick"] is True and data["hardware"]["torch"]
    assert [d["domain"] for d in data["domains"]] == ["pubmed_abstracts"]
    dom = data["domains"][0]
    assert set(dom["settings"]) == set(bench.QUICK_SETTINGS)
    for name, res in dom["settings"].items():
        assert math.isfinite(res["perplexity"]) and res["perplexity"] > 1, name
        assert set(res["attacks"]) == set(bench.CHEAP_ATTACKS), name
        for attack, m in res["attacks"].items():
            assert 0.0 <= m["auc"] <= 1.0, (name, attack)
            # 8 non-members cannot show a 1% FPR: reported as not measurable, never guessed.
            assert m["tpr_1pct"] is None and "not measurable" in m["tpr_1pct_note"]
        # Every member is accounted for: trained on (as is or paraphrased) or dropped.
        assert res["train_records"] + res["dropped"] == res["members"] == 8, name
        assert res["paraphrased"] + res["dropped"] <= res["selected"] or name == "dedup-only"
    soft = dom["settings"]["soft-0.5"]
    assert soft["selected"] == 4 and soft["paraphrased"] + soft["dropped"] == 4
    assert dom["target"]["reached"] in (True, False)
    text = md.read_text()
    for name in bench.QUICK_SETTINGS:
        assert f"| {name}" in text
    assert "Quick mode" in text and data["command"] in text

    # Rerunning resumes from the per-setting cache: no setting is recomputed.
    again = bench.main(["--quick", "--domains", "pubmed_abstracts", "--members", "8",
                        "--nonmembers", "8", "--validation", "4", "--max-length", "64",
                        "--bootstrap", "20", "--out", str(out),
                        "--cache-dir", str(tmp_path / "cache")])
    first = report["domains"][0]["settings"]
    second = again["domains"][0]["settings"]
    assert {k: v["attacks"] for k, v in first.items()} == {
        k: v["attacks"] for k, v in second.items()}
    assert again["domains"][0]["seconds"] < report["domains"][0]["seconds"]
