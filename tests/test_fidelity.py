"""Fidelity checks (numbers, negation, names, code) on hand-built pairs and on real text; fast,
no models."""
from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from sanitize.fidelity import facts, fidelity_reason

MIMIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mimir"

FREEZE = ("Yes, members can freeze their membership for up to three months by calling the "
          "front desk.")


# --- negation ---------------------------------------------------------------------------------
def test_yes_becomes_no_fails_negation():
    flipped = ("No, members can't freeze their membership for up to three months by calling the "
               "front desk.")
    assert fidelity_reason(FREEZE, flipped) == "negation"


def test_faithful_paraphrase_of_freeze_passes():
    cand = ("Yes. Members are allowed to put their membership on hold for as long as 3 months "
            "if they phone the front desk.")
    assert fidelity_reason(FREEZE, cand) == ""


@pytest.mark.parametrize("orig,cand,reason", [
    ("The drug reduced pain.", "The drug did not reduce pain.", "negation"),
    ("The drug did not reduce pain.", "The drug failed to reduce pain.", ""),
    ("Patients never relapsed.", "Patients did not relapse at any point.", ""),
    ("No patients died.", "All patients survived.", "negation"),  # no cue left: a yield cost
    ("Neither dose was effective.", "Neither dose worked.", ""),
    ("Neither A nor B worked.", "A and B both failed to work.", ""),  # one cue each side
    ("No, you can't.", "You cannot do that.", ""),  # a dropped answer is not a flip
    ("It works not only on Linux but also on Mac.", "It works on both Linux and Mac.", ""),
    ("No-one replied.", "Nobody replied.", ""),  # "No-one" is no answer
    ("i dont think it works", "I do not think it works.", ""),  # chat spelling
    ("i dont think it works", "I think it works.", "negation"),
])
def test_negation_cases(orig, cand, reason):
    assert fidelity_reason(orig, cand) == reason


# --- numbers ----------------------------------------------------------------------------------
BASE = "In 2019, 1,000 adults took 5 mg daily for three weeks; 95% CI 1.2-3.4, p < 0.05."


@pytest.mark.parametrize("cand,reason", [
    # faithful: order changed, separators and written-out numbers normalised
    ("For three weeks in 2019, 1000 adults took 5 mg a day (p < 0.05; 95% CI 1.2-3.4).", ""),
    ("In 2019, one thousand adults took 5mg each day for 3 weeks; p<.05, 95% CI 1.2 to 3.4.",
     ""),
    # dropped: the p-value is gone
    ("In 2019, 1,000 adults took 5 mg daily for three weeks; 95% CI 1.2-3.4.", "numbers"),
    # changed: 5 mg -> 10 mg
    ("In 2019, 1,000 adults took 10 mg daily for three weeks; 95% CI 1.2-3.4, p < 0.05.",
     "numbers"),
    # changed: 95% -> 90%
    ("In 2019, 1,000 adults took 5 mg daily for three weeks; 90% CI 1.2-3.4, p < 0.05.",
     "numbers"),
    # added: a hallucinated age
    ("In 2019, 1,000 adults aged 40 took 5 mg daily for three weeks; 95% CI 1.2-3.4, p < 0.05.",
     "numbers"),
])
def test_number_cases(cand, reason):
    assert fidelity_reason(BASE, cand) == reason


@pytest.mark.parametrize("orig,cand", [
    ("It cost 1,000 dollars.", "It cost 1000 dollars."),
    ("It cost 1000 dollars.", "It cost 1,000 dollars."),
    ("There were three arms.", "There were 3 arms."),
    ("There were 3 arms.", "There were three arms."),
    ("Response rose by 95%.", "The response went up 95 percent."),
    ("Significance was set at 0.05.", "The significance level was 0.05."),
    ("Version 1.2.3 fixed it.", "The fix shipped in version 1.2.3."),
    ("One option is a CSS outline.", "A CSS outline is an option."),  # "one" as an article
    ("1 patient withdrew.", "One patient withdrew."),
    ("Twenty-one sites joined.", "21 sites joined."),
])
def test_number_equivalences_pass(orig, cand):
    assert fidelity_reason(orig, cand) == ""


@pytest.mark.parametrize("orig,cand", [
    ("Significance was set at 0.05.", "Significance was set at 0.01."),
    ("There were three arms.", "There were 4 arms."),
    ("1 patient withdrew.", "Patients withdrew."),
])
def test_number_changes_fail(orig, cand):
    assert fidelity_reason(orig, cand) == "numbers"


def test_numbers_fail_before_negation_and_names():
    orig = "The NIH did not fund 3 trials."
    cand = "Microsoft funded 4 trials."
    assert fidelity_reason(orig, cand) == "numbers"
    assert fidelity_reason(orig, cand.replace("4", "3")) == "negation"


# --- names ------------------------------------------------------------------------------------
GRANT = ("The study was funded by the NIH and run at Johns Hopkins; data are at "
         "https://example.org/trial/data and questions go to lead@example.org.")


@pytest.mark.parametrize("cand,reason", [
    (("Johns Hopkins ran the study with NIH funding; write to lead@example.org with questions "
      "and find the data at https://example.org/trial/data."), ""),
    # dropped acronym
    (("Johns Hopkins ran the study with federal funding; write to lead@example.org with "
      "questions and find the data at https://example.org/trial/data."), "names"),
    # invented organisation
    (("Johns Hopkins ran the study with NIH and Microsoft funding; write to lead@example.org "
      "with questions and find the data at https://example.org/trial/data."), "names"),
    # URL changed
    (("Johns Hopkins ran the study with NIH funding; write to lead@example.org with questions "
      "and find the data at https://example.org/trials/data."), "names"),
    # e-mail changed
    (("Johns Hopkins ran the study with NIH funding; write to info@example.org with questions "
      "and find the data at https://example.org/trial/data."), "names"),
])
def test_name_cases(cand, reason):
    assert fidelity_reason(GRANT, cand) == reason


def test_sentence_initial_words_are_not_names():
    orig = "Patients improved quickly. However, Doctors noted side effects."
    # "Patients" and "However" start sentences: lower-casing or dropping them is fine; the
    # mid-sentence "Doctors" is read as a name and must stay.
    kept = "Doctors noted side effects, however patients improved fast."
    assert fidelity_reason(orig, kept) == ""
    renamed = "However, patients improved fast and physicians saw side effects."
    assert fidelity_reason(orig, renamed) == "names"
    # A capitalised word the original had in lower case is no invented name.
    assert fidelity_reason("We used the internet.", "The Internet was used.") == ""


def test_sentence_initial_name_may_move_mid_sentence():
    assert fidelity_reason("Eclipse crashed on start. Restart it.",
                           "Restart it: on start, Eclipse crashed.") == ""


def test_headline_capitals_are_not_names():
    orig = "Effects of Vitamin D on Bone Health in Older Adults.\nWe studied 40 adults."
    cand = "How vitamin D affects bone health in older adults.\nWe looked at 40 adults."
    assert fidelity_reason(orig, cand) == ""


def test_handles_tags_and_paths_are_verbatim():
    orig = "Ask @maria_k about #release-notes; the config is in /etc/app/config.yaml."
    assert fidelity_reason(orig, "The config lives in /etc/app/config.yaml; ask @maria_k "
                                 "about #release-notes.") == ""
    assert fidelity_reason(orig, "The config lives in /etc/app/settings.yaml; ask @maria_k "
                                 "about #release-notes.") == "names"


def test_facts_report():
    f = facts(FREEZE)
    assert f["numbers"] == ["3"] and f["negations"] == 0 and f["answers"] == {"yes": 1}
    assert facts(GRANT)["names"] == sorted({"NIH", "Johns", "Hopkins",
                                            "https://example.org/trial/data", "lead@example.org"})


# --- code -------------------------------------------------------------------------------------
PY = '''"""Billing helpers."""
RATE = 0.2


def compute_total(items, tax=RATE):
    """Sum the prices and add tax."""
    # add up every price
    subtotal = sum(i.price for i in items)
    return _round(subtotal * (1 + tax), "EUR")


def _round(value, currency):
    return f"{currency}: {value:.2f}"


class Invoice:
    pass
'''


@pytest.mark.parametrize("cand,reason", [
    (PY.replace("compute_total", "calc_sum"), "code-names"),
    (PY.replace("class Invoice", "class Bill"), "code-names"),
    (PY.replace("_round", "_format_amount"), ""),  # private
    (PY.replace("subtotal", "running"), ""),  # local
    (PY.replace('"EUR"', '"USD"'), "code-strings"),
    (PY.replace('f"{currency}: ', 'f"{currency} = '), "code-strings"),
    (PY.replace('"EUR"', "'EUR'"), ""),  # same value, other quotes
    (PY.replace("# add up every price", "# total of the item prices")
       .replace("Sum the prices and add tax.", "Return the taxed sum."), ""),  # comments, docs
])
def test_python_code_cases(cand, reason):
    assert fidelity_reason(PY, cand, kind="code") == reason


def test_renamed_def_is_caught_even_if_the_old_name_is_still_called():
    cand = PY.replace("def compute_total", "def total") + "\nx = compute_total([])\n"
    assert fidelity_reason(PY, cand, kind="code") == "code-names"


def test_indented_chunks_parse_after_dedent():
    # A chunk of a file is often an indented body. In a function body, defs are local and may
    # be renamed; in what may be a class body, defs are methods and must stay.
    body = "    def helper(x):\n        return x * 2\n    return helper(total), 'done'\n"
    assert fidelity_reason(body, body.replace("helper", "twice"), kind="code") == ""
    assert fidelity_reason(body, body.replace("'done'", "'ok'"), kind="code") == "code-strings"
    methods = ("    def compute(self, x):\n        return x\n\n"
               "    def _hidden(self):\n        pass\n")
    renamed = methods.replace("compute", "calc")
    assert fidelity_reason(methods, renamed, kind="code") == "code-names"
    assert fidelity_reason(methods, methods.replace("_hidden", "_h"), kind="code") == ""


JS = '''// Format a greeting for the user
function greetUser(name) {
  const msg = "Hello, " + name; // don't change this
  return msg + '!';
}
'''


@pytest.mark.parametrize("cand,reason", [
    (JS.replace("greetUser", "greet"), "code-names"),
    (JS.replace("msg", "text"), ""),
    (JS.replace("don't change this", "keep as is").replace("Format a", "Build the"), ""),
    (JS.replace("Hello, ", "Hi, "), "code-strings"),
])
def test_other_code_cases(cand, reason):
    assert fidelity_reason(JS, cand, kind="code") == reason


def test_code_kind_skips_text_checks_and_text_kind_skips_code_checks():
    # Code rewrites may drop or add numbers in comments; prose has no def names.
    assert fidelity_reason(PY, PY.replace("# add up every price", "# add up 2 prices"),
                           kind="code") == ""
    assert facts(PY, kind="code") == {"code_names": ["Invoice", "compute_total"],
                                      "code_strings": [".2f", ": ", "EUR"]}


# --- real data: no false failures on faithful transformations ---------------------------------
_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")


def _reverse_sentences(text: str) -> str:
    """The text's sentences in reverse order: every fact kept, only the order changed. A piece
    that did not end a sentence (a title or code line) is followed by a line break, as it was."""
    pieces = [p.strip() for p in _SPLIT.split(text) if p.strip()]
    return "".join(p + (" " if p[-1] in ".!?" else "\n") for p in reversed(pieces)).strip()


def _load(name: str, n: int = 100) -> list[str]:
    path = MIMIR / name
    if not path.is_file():
        pytest.skip(f"real evaluation data not found at {path} (see README)")
    out = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            out.append(rec["text"] if "text" in rec else rec["messages"][1]["content"])
            if len(out) == n:
                break
    return out


@pytest.mark.parametrize("name", ["pubmed_abstracts.jsonl.gz", "stackexchange_chat.jsonl.gz"])
def test_real_data_identity_and_reordering_pass(name):
    texts = _load(name)
    kind = "chat" if name.startswith("stackexchange") else "text"
    assert all(fidelity_reason(t, t, kind) == "" for t in texts)
    reasons = Counter(fidelity_reason(t, _reverse_sentences(t), kind) for t in texts)
    failures = {r: c for r, c in reasons.items() if r}
    rate = sum(failures.values()) / len(texts)
    print(f"\n{name}: {len(texts)} texts, sentence-reversal false-failure rate {rate:.1%}, "
          f"reasons {failures or 'none'}")
    assert rate <= 0.02, failures


def test_fact_spans_cover_numbers_names_and_verbatim_spans():
    from sanitize.fidelity import fact_spans

    text = "Antibodies to Brucella were found in 1,024 of 2017 samples (see https://x.org/a)."
    got = [text[a:b] for a, b in fact_spans(text)]
    assert got == ["Brucella", "1,024", "2017", "https://x.org/a"]
    assert fact_spans("nothing to keep here") == []
