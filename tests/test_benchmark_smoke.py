"""Smoke test of the privacy/utility benchmark: `--quick` at the smallest sizes, end to end on the
embedded models and real data (../shared/data), into tmp_path. It checks that the harness runs
and writes every output with finite numbers, not what the numbers are."""
from __future__ import annotations

import importlib.util
import json
import math
import sys

import pytest

from conftest import REPO


def _load_benchmark():
    spec = importlib.util.spec_from_file_location(
        "privacy_utility", REPO / "benchmarks" / "privacy_utility.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["privacy_utility"] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def _setting(kind, auc, ppl, **extra):
    """`reference` at `auc`, `loss` halfway between it and chance (never the stronger one)."""
    return {"kind": kind, "perplexity": ppl,
            "attacks": {"loss": {"auc": 0.5 + (auc - 0.5) / 2}, "reference": {"auc": auc}},
            **extra}


def test_target_verdict_and_best_soft_follow_the_numbers():
    bench = _load_benchmark()
    res = {"no-defense": _setting("none", 0.95, 20.0),
           "soft-0.3": _setting("soft", 0.70, 20.5),
           "soft-0.5": _setting("soft", 0.54, 21.9),  # within 0.05 of 0.5, +9.5% perplexity
           "soft-1.0": _setting("soft", 0.50, 25.0)}  # private but +25% perplexity
    assert bench.best_soft(res) == "soft-0.5"
    verdict = bench.target_verdict({"settings": res})
    assert verdict["reached"] is True and verdict["settings"] == ["soft-0.5"]
    res["soft-0.5"] = _setting("soft", 0.60, 21.9)
    verdict = bench.target_verdict({"settings": res})
    assert verdict["reached"] is False and verdict["closest"] == "soft-0.5"
    assert verdict["auc_excess"] == pytest.approx(0.05)
    # An AUC below 0.5 leaks too (flip the sign): 0.38 beats 0.60 and fails the target.
    res["soft-0.5"]["attacks"]["loss"]["auc"] = 0.38
    assert bench.strongest(bench.attacks_of(res["soft-0.5"])) == "loss"
    assert bench.target_verdict({"settings": res})["auc_excess"] == pytest.approx(0.07)
    # The full suite's attacks count: a stronger ensemble AUC decides the strongest attack.
    res["soft-0.5"]["full"] = {"attacks": {"ensemble": {"auc": 0.9}}}
    assert bench.strongest(bench.attacks_of(res["soft-0.5"])) == "ensemble"
    # ...but the best SOFT setting stays the one the cheap attacks chose, so the full suite is
    # not bought again for soft-0.3 just because soft-0.5 got the stronger attacks.
    assert bench.best_soft(res) == "soft-0.5"
    # The verdict ranks settings on the cheap attacks too, so soft-0.3 (never given the full
    # suite) does not look closer for having been attacked less; the closest one is reported
    # with everything measured on it.
    verdict = bench.target_verdict({"settings": res})
    assert verdict["closest"] == "soft-0.5"
    assert verdict["auc_excess"] == pytest.approx(0.35)
    assert "0.900 with the full suite" in verdict["text"]
    # Removing members cannot buy a hit: the members left in training are judged too.
    left = {"in training": {"reference": {"auc": 0.9}}}
    res["soft-0.5"] = _setting("soft", 0.52, 20.5, by_protection={"groups": left})
    verdict = bench.target_verdict({"settings": res})
    assert verdict["reached"] is False and verdict["closest"] == "soft-0.5"
    assert "on the members it left in training 0.900" in verdict["text"]
    left["in training"]["reference"]["auc"] = 0.53
    assert bench.target_verdict({"settings": res})["settings"] == ["soft-0.5"]
    del res["soft-0.5"]
    # A hit judged on the cheap attacks alone says so.
    res["soft-0.3"] = _setting("soft", 0.52, 20.5)
    verdict = bench.target_verdict({"settings": res})
    assert verdict["settings"] == ["soft-0.3"] and "cheap attacks only" in verdict["text"]


def test_committed_results_render_to_the_committed_markdown(tmp_path):
    """RESULTS.md is generated from RESULTS.json; `--render` (no model, no data) redoes it with
    the current code, so a change to the report or the verdicts shows up here."""
    bench = _load_benchmark()
    bench.main(["--render", str(REPO / "benchmarks" / "RESULTS.json"),
                "--out", str(tmp_path / "RESULTS.md")])
    assert ((tmp_path / "RESULTS.md").read_text()
            == (REPO / "benchmarks" / "RESULTS.md").read_text())


def test_members_left_in_training_get_their_own_row():
    """A setting that removed members reports the attack on the members it left in training
    beside its whole-set AUC; the full suite's figures where it ran, like the main table."""
    from benchmarks.privacy.report import _left_in_training_rows

    left = {"loss": {"auc": 0.58, "auc_ci95": [0.5, 0.66], "tpr_1pct": 0.02},
            "reference": {"auc": 0.81, "auc_ci95": [0.74, 0.88], "tpr_1pct": 0.3}}
    bp = {"members": {"unchanged": 40, "rewritten": 10, "removed": 150},
          "groups": {"in training": left, "removed": left}}
    res = {"no-defense": _setting("none", 0.9, 20.0),
           "random-0.8": _setting("random", 0.62, 22.0, by_protection=bp)}
    assert _left_in_training_rows(res) == [
        "| random-0.8 | 150 | 50 | reference | 0.810 [0.74, 0.88] | 0.300 | 0.620 |"]
    res["random-0.8"]["full"] = {"attacks": {"spv": {"auc": 0.63}}, "by_protection": bp}
    assert _left_in_training_rows(res)[0].startswith("| random-0.8* | 150 | 50 |")
    assert _left_in_training_rows(res)[0].endswith("| 0.630 |")


def test_plot_labels_of_close_settings_do_not_cover_each_other():
    """Random draws land on nearly one point; each label must stay readable."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from benchmarks.privacy.report import _annotate

    fig, ax = plt.subplots()
    ax.set_xlim(21, 23)
    ax.set_ylim(0.4, 1.0)
    points = [(f"random-0.5+seed{i}", 21.75 + 0.01 * i, 0.74 + 0.005 * i) for i in range(5)]
    placed = []
    _annotate(ax, points, placed)
    assert len(ax.texts) == len(points) == len(placed)
    assert not any(a.overlaps(b) for i, a in enumerate(placed) for b in placed[i + 1:])
    plt.close(fig)


def test_benchmark_is_a_small_package_on_the_library():
    bench = _load_benchmark()
    from sanitize.auditing.report import TITLES

    # One table of attack titles: the audit report's, shortened for narrow tables.
    assert set(bench.TITLES) == set(TITLES)
    assert all(TITLES[k].startswith(v) for k, v in bench.TITLES.items())
    files = [REPO / "benchmarks" / "privacy_utility.py",
             *sorted((REPO / "benchmarks" / "privacy").glob("*.py"))]
    for path in files:
        assert len(path.read_text().splitlines()) <= 400, path.name


def test_setting_names_parse():
    bench = _load_benchmark()
    assert bench.parse_setting("soft-0.3").ratio == 0.3
    assert bench.parse_setting("random-0.5").kind == "random"
    with pytest.raises(SystemExit):
        bench.parse_setting("soft-2")
    with pytest.raises(SystemExit):  # the benchmark's random selection is random-R
        bench.parse_setting("soft-0.5+random")


def test_full_suite_options_are_checked_before_anything_runs():
    bench = _load_benchmark()

    def args(*extra):
        return bench.resolve(bench.build_parser().parse_args(
            ["--settings", "no-defense,soft-0.5,random-0.5", *extra]))

    a = args("--full-suite-for", "random-0.5", "--full-suite-attacks", "ensemble,loss,reference")
    assert a.full_suite_for == ["random-0.5"]
    assert a.full_suite_attacks == ["loss", "reference", "ensemble"]  # the ensemble reads last
    with pytest.raises(SystemExit, match="soft-1.0"):
        args("--full-suite-for", "soft-1.0")  # not among --settings
    with pytest.raises(SystemExit, match="contradict"):
        args("--full-suite-for", "random-0.5", "--no-full-suite")
    with pytest.raises(SystemExit, match="unknown attack"):
        args("--full-suite-attacks", "loss,oracle")


def test_setting_options_vary_one_thing():
    bench = _load_benchmark()
    s = bench.parse_setting("soft-0.5+loss-drop+partial")
    assert (s.name, s.kind, s.ratio, s.score, s.on_fail) == (
        "soft-0.5+loss-drop+partial", "soft", 0.5, "loss-drop", "partial")
    assert bench.parse_setting("soft-0.5").score is None  # the run's score
    r = bench.parse_setting("random-0.5+seed2")
    assert (r.kind, r.ratio, r.on_fail) == ("random", 0.5, None)
    for bad in ("soft-0.5+nope", "random-0.5+loss-drop", "no-defense+keep", "random-0.5+seedx"):
        with pytest.raises(SystemExit, match="unknown"):
            bench.parse_setting(bad)


def test_paraphraser_options_name_a_model_never_a_path(tmp_path, monkeypatch):
    bench = _load_benchmark()
    from privacy import paraphrasers

    from sanitize.config import ParaphraseConfig

    s = bench.parse_setting("soft-0.5+qwen0.5b+block4+keep")
    assert (s.paraphraser, s.on_fail) == (("qwen0.5b", "block4"), "keep")
    assert bench.parse_setting("random-0.5+block4+seed1").paraphraser == ("block4",)
    with pytest.raises(SystemExit, match="unknown"):
        bench.parse_setting("no-defense+block4")
    # Decoding options apply as they are; the model resolves to its file only at use, and only
    # when the file is the pinned one.
    base = ParaphraseConfig()
    assert paraphrasers.with_options(base, ("block4",)).block_ngrams == 4
    assert paraphrasers.with_options(base, ()) == base
    paraphrasers.larger_model_path.cache_clear()
    monkeypatch.delenv("LARGER_GGUF", raising=False)
    with pytest.raises(SystemExit, match="LARGER_GGUF"):
        paraphrasers.with_options(base, ("qwen0.5b",))
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"not the pinned file")
    monkeypatch.setenv("LARGER_GGUF", str(fake))
    with pytest.raises(SystemExit, match="not the pinned"):
        paraphrasers.with_options(base, ("qwen0.5b",))
    paraphrasers.larger_model_path.cache_clear()


def test_setting_score_option_reranks_the_same_losses():
    """+loss-drop re-ranks the warm-up's own losses: no second warm-up, and random draws
    differ by name."""
    bench = _load_benchmark()
    from privacy.settings import decisions

    from sanitize.scoring import Risk

    def risk(i, before, after):
        return Risk(id=str(i), line_no=i + 1, tokens=10, truncated=False, loss_before=before,
                    loss_after=after, risk=-after, group=None)

    # Record 0 is fitted best (lowest loss after) but learned least; record 1 learned most;
    # record 3 is the base model's least predictable.
    risks = [risk(0, 1.1, 1.0), risk(1, 5.0, 2.0), risk(2, 3.0, 2.9), risk(3, 6.0, 3.5)]
    by_loss = decisions(bench.parse_setting("soft-0.25"), risks, "s")
    by_drop = decisions(bench.parse_setting("soft-0.25+loss-drop"), risks, "s")
    by_base = decisions(bench.parse_setting("soft-0.25+base-loss"), risks, "s")
    assert [d.selected for d in by_loss] == [True, False, False, False]
    assert [d.selected for d in by_drop] == [False, True, False, False]
    assert [d.selected for d in by_base] == [False, False, False, True]
    draws = {tuple(d.selected for d in decisions(
        bench.parse_setting(f"random-0.5+seed{k}"), risks, f"0:dom:random-0.5+seed{k}"))
        for k in range(6)}
    assert len(draws) > 1


@pytest.mark.slow
def test_quick_benchmark_writes_finite_results(shared_data, tmp_path, monkeypatch):
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
        groups = res["member_groups"]
        assert len(groups) == 8 and groups.count("removed") == res["dropped"], name
        # Where members were removed, the attacks on those left in training are recorded.
        assert (res["by_protection"] is None) == (res["dropped"] == 0), name
        assert res["paraphrased"] + res["dropped"] <= res["selected"] or name == "dedup-only"
    soft = dom["settings"]["soft-0.5"]
    assert soft["selected"] == 4 and soft["paraphrased"] + soft["dropped"] == 4
    assert dom["target"]["reached"] in (True, False)
    text = md.read_text()
    for name in bench.QUICK_SETTINGS:
        assert f"| {name}" in text
    assert "Quick mode" in text and data["command"] in text

    # A rerun resumes from the per-setting cache: nothing is retrained or re-attacked.
    again = bench.main(["--quick", "--domains", "pubmed_abstracts", "--members", "8",
                        "--nonmembers", "8", "--validation", "4", "--max-length", "64",
                        "--bootstrap", "20", "--out", str(out),
                        "--cache-dir", str(tmp_path / "cache")])
    first = report["domains"][0]["settings"]
    for name, res in again["domains"][0]["settings"].items():
        assert res["attacks"] == first[name]["attacks"], name
        assert res["times"] == first[name]["times"], name  # read back, not remeasured

    # A later full suite retrains each target from the training file the cheap attacks' target
    # trained on: it must not need the warm-up scores or the paraphraser (a GPU machine may
    # hold only the base model), so building a protected set here is an error.
    def no_rebuild(*args, **kwargs):
        raise AssertionError("the full suite rebuilt a protected training set")

    monkeypatch.setattr(sys.modules["privacy.run"], "protected_set", no_rebuild)
    # --full-suite-for picks the settings, a random selection included.
    full = bench.main(["--quick", "--full-suite-for", "no-defense,soft-0.5,random-0.5",
                       "--domains", "pubmed_abstracts", "--members", "8", "--nonmembers", "8",
                       "--validation", "4", "--max-length", "64", "--bootstrap", "20",
                       "--out", str(out), "--cache-dir", str(tmp_path / "cache")])
    settings = full["domains"][0]["settings"]
    assert "full" not in settings["dedup-only"]
    for name in ("no-defense", "soft-0.5", "random-0.5"):
        res = settings[name]
        if res.get("shared_with"):  # its twin's target got the suite
            continue
        assert set(res["full"]["attacks"]) == set(bench.FULL_ATTACKS), name
        assert res["full"]["measured_by"]["hardware"], name
        assert res["attacks"] == first[name]["attacks"], name  # the cheap figures stay
