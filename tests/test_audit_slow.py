"""The audit on the real embedded model and real text (../shared/data/mimir): an undefended
fine-tune is detected, and dataset mode writes every output. Marked slow (minutes on CPU)."""
import gzip
import json
import random
import re

import pytest

from pathlib import Path

from sanitize.cli import main

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"  # as in conftest

pytestmark = pytest.mark.slow

N = 40  # members and non-members each
CHARS = 360  # short records keep the two fine-tunes and the attacks within CI time
# The attacks that need no extra forward passes beyond the text itself; the others run in
# test_model_mode_runs_every_attack (on fewer records) so the whole file stays within minutes.
CHEAP = "loss,zlib,mink,minkpp,reference,ensemble"


def _short(text: str) -> str:
    """The first ~CHARS characters, cut at a word boundary."""
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= CHARS else text[:CHARS].rsplit(" ", 1)[0]


@pytest.fixture(scope="module")
def records():
    """Members, non-members and spare records: short, disjoint PubMed abstracts."""
    from sanitize.errors import MissingModelError
    from sanitize.models import embedded_gguf

    try:
        embedded_gguf()  # located, never imported: the package's own deps are not installed
    except MissingModelError as exc:
        pytest.skip(str(exc))
    path = SHARED_DATA / "mimir" / "pubmed_abstracts.jsonl.gz"
    if not path.exists():
        pytest.skip(f"real evaluation data not found at {path} (see README)")
    rows = [json.loads(line) for line in gzip.open(path, "rt", encoding="utf-8")]
    random.Random(0).shuffle(rows)
    recs = [{"id": r["id"], "text": _short(r["text"])} for r in rows[: 3 * N]]
    return recs[:N], recs[N:2 * N], recs[2 * N:]


@pytest.fixture(scope="module")
def audit_run(records, tmp_path_factory):
    """One dataset-mode audit: IN = 40 PubMed abstracts, OUT = IN with every other record
    replaced by a different abstract (a stand-in for a real protection), 40 non-members."""
    members, nonmembers, spare = records
    protected = [dict(m, text=spare[i]["text"]) if i % 2 else m for i, m in enumerate(members)]
    d = tmp_path_factory.mktemp("slow-audit")
    for name, data in [("in", members), ("out", protected), ("hold", nonmembers)]:
        (d / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in data))
    out = d / "audit"
    args = ["audit", "--original", str(d / "in.jsonl"), "--protected", str(d / "out.jsonl"),
            "--nonmembers", str(d / "hold.jsonl"), "--out-dir", str(out), "--epochs", "2",
            "--max-length", "96", "--batch-size", "8", "--seed", "0", "--device", "cpu",
            "--attacks", CHEAP, "--bootstrap", "200"]
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 0
    return out, members


def test_undefended_finetune_is_detected(audit_run):
    out, _ = audit_run
    report = json.loads((out / "report.json").read_text())
    original = report["models"][0]
    aucs = {k: v["auc"]["value"] for k, v in original["attacks"].items()}
    print("undefended AUCs:", {k: round(v, 3) for k, v in aucs.items()})
    print("protected AUCs:", {k: round(v["auc"]["value"], 3)
                              for k, v in report["models"][1]["attacks"].items()})
    print(report["headline"])
    assert max(aucs.values()) > 0.75, aucs
    # The base-calibrated attack is the strongest cheap one on fine-tuned models: its whole
    # 95% CI must be above chance.
    assert original["attacks"]["reference"]["auc"]["ci95"][0] > 0.5, aucs


def test_dataset_mode_writes_every_output(audit_run):
    out, members = audit_run
    report = json.loads((out / "report.json").read_text())
    assert set(report["models"][1]["attacks"]) == set(CHEAP.split(","))
    assert report["changed_by_protection"] == N // 2
    for name in ("report.json", "report.md", "report.html", "member_scores.csv"):
        assert (out / name).stat().st_size > 0
    assert "data:image/png;base64," in (out / "report.html").read_text()
    blob = "".join((out / n).read_text() for n in ("report.json", "report.md", "report.html",
                                                   "member_scores.csv"))
    for m in members[:10]:
        assert m["text"][:60] not in blob


def test_model_mode_runs_every_attack_on_the_real_model(records, tmp_path, capsys):
    """Every attack (lowercase, neighbours and SPV-MIA's generation + reference fine-tune too)
    runs on the real tokenizer and model; the untouched base model plays the audited model."""
    members, nonmembers, _ = records
    d = tmp_path
    args = ["audit", "--model", "embedded", "--reference", "embedded", "--members",
            str(d / "m12.jsonl"), "--nonmembers", str(d / "n12.jsonl"), "--out-dir",
            str(tmp_path / "model"), "--json", "--max-length", "64", "--device", "cpu",
            "--neighbours", "2", "--spv-new-tokens", "16",
            "--spv-epochs", "1", "--bootstrap", "50"]
    for name, rows in [("m12", members[:12]),
                       ("n12", nonmembers[:12])]:
        (d / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(SystemExit) as exc:
        main(args)
    stdout, err = capsys.readouterr()
    assert exc.value.code == 0, err
    attacks = json.loads(stdout)["models"][0]["attacks"]
    assert set(attacks) == {"loss", "zlib", "lowercase", "mink", "minkpp", "reference",
                            "neighbourhood", "spv", "ensemble"}
    # The model is its own reference: the reference attack must be exactly at chance.
    assert attacks["reference"]["auc"]["value"] == pytest.approx(0.5)
    assert all(0 <= a["auc"]["value"] <= 1 for a in attacks.values())
