"""--mask-facts: names, numbers and URLs go to the paraphraser as placeholders and come back."""
from __future__ import annotations

import json
import re

from sanitize.cache import Cache
from sanitize.config import GateConfig, ParaphraseConfig
from sanitize.fidelity import fidelity_reason
from sanitize.obfuscate import obfuscate
from sanitize.paraphrase.echo import EchoBackend
from sanitize.paraphrase.placeholders import INSTRUCTION, mask, placeholder_spans
from sanitize.prompts import load_templates
from sanitize.records import make_record

TEXT = ("BACKGROUND: Serum IgE was measured by ELISA in 267 patients (p<0.05) in 2017. "
        "The IgE rise was reported at https://example.org/study.")


def test_facts_become_numbered_placeholders_and_come_back():
    m = mask(TEXT)
    for value in ("IgE", "ELISA", "267", "0.05", "2017", "https://example.org/study"):
        assert value not in m.text and value in m.values
    # One value, one placeholder: both IgE's are X2.
    assert m.values.index("IgE") == 1 and m.text.count("X2 ") == 2
    assert m.restore(m.text) == TEXT
    assert [m.text[a:b] for a, b in placeholder_spans(m.text)][:3] == ["X1", "X2", "X3"]


def test_a_lost_or_invented_placeholder_fails_the_fact_checks():
    m = mask(TEXT)
    assert fidelity_reason(TEXT, m.restore(m.text)) == ""
    assert fidelity_reason(TEXT, m.restore(m.text.replace(" in X4 patients", " in patients")))
    invented = m.restore(m.text + " See X9.")
    assert "X9" in invented and fidelity_reason(TEXT, invented) == "numbers"


def test_a_piece_with_its_own_placeholder_shaped_word_is_sent_as_is():
    text = "The X1 Carbon laptop has 16 GB of RAM."
    m = mask(text)
    assert m.text == text and m.values == () and m.restore("anything X1") == "anything X1"
    assert mask("X11 forwarding uses 4 cores").values == ()
    # Only a whole word is shaped like a placeholder: these pieces are masked.
    for own in ("the MAX1 sensor", "the X1-based design"):
        assert mask(own + " uses 4 cores").values


def test_placeholders_are_put_back_only_as_whole_words():
    m = mask("The WHO report counts 340 adults.")
    assert m.text == "The X1 report counts X2 adults."
    assert m.restore("X2 adults, says the X1.") == "340 adults, says the WHO."
    assert m.restore("X12 and X1s") == "X12 and X1s"


class RecordingEcho(EchoBackend):
    """The reverse echo, keeping what it was asked; `lose` deletes one placeholder."""

    def __init__(self, lose: str | None = None):
        super().__init__("reverse")
        self.requests, self.lose = [], lose

    def generate(self, requests, on_result=None):
        self.requests += requests
        out = super().generate(requests)
        if self.lose:
            out = [o.replace(self.lose, "") for o in out]
        for i, o in enumerate(out):
            if on_result:
                on_result(i, o)
        return out


SENTENCE = ("The WHO trial enrolled 340 adults across 12 NHS clinics and followed them for "
            "18 months while the team tracked every change in blood pressure.")


def _run(backend, embedder, mask_facts=True):
    record = make_record(1, json.dumps({"text": SENTENCE}), {"text": SENTENCE}, "text", "t")
    (out,) = obfuscate(
        [record], backend, ParaphraseConfig(candidates=1, mask_facts=mask_facts),
        GateConfig(min_similarity=0.6), load_templates(), Cache(None), embedder)
    return out


def test_the_backend_sees_placeholders_and_the_gate_sees_the_facts(embedder):
    backend = RecordingEcho()
    out = _run(backend, embedder)
    (req,) = backend.requests
    for value in ("WHO", "340", "12", "NHS", "18"):
        assert value not in req.text
    assert INSTRUCTION in req.messages[0]["content"] and req.text in req.messages[-1]["content"]
    assert out.new_record is not None, [s.reason for s in out.segments]
    new = out.new_record.data["text"]
    assert not re.search(r"\bX\d", new) and all(v in new for v in ("WHO", "340", "NHS", "18 "))


def test_a_dropped_placeholder_fails_the_record(embedder):
    out = _run(RecordingEcho(lose="X2"), embedder)
    assert out.new_record is None
    assert out.segments[0].reason.endswith("numbers")


def test_without_the_option_the_request_is_the_piece(embedder):
    backend = RecordingEcho()
    _run(backend, embedder, mask_facts=False)
    (req,) = backend.requests
    assert req.text == SENTENCE and INSTRUCTION not in req.messages[0]["content"]


def test_the_cli_option_reaches_the_manifest_and_the_output_has_the_facts(tmp_path,
                                                                          tiny_model_dir):
    from test_pipeline import cli, sanitize_args

    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(json.dumps({"text": SENTENCE}) + "\n")
    p = cli(sanitize_args(src, out, tiny_model_dir, "--mask-facts"))
    _, stderr = p.communicate(timeout=300)
    assert p.returncode == 0, stderr
    manifest = json.loads(out.with_name("out.jsonl.manifest.json").read_text())
    assert manifest["config"]["paraphrase"]["mask_facts"] is True
    assert manifest["counts"]["obfuscated"] == 1
    new = json.loads(out.read_text())["text"]
    assert new != SENTENCE and not re.search(r"\bX\d", new) and "NHS" in new and "340" in new
