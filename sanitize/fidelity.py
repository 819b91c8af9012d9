"""Does a candidate rewrite keep the original's facts? Cheap, deterministic, no models.

Embedding similarity (MiniLM) measures topic, not truth: "Yes, members can freeze their
membership" and "No, members can't freeze their membership" embed almost the same. These checks
look at what a faithful paraphrase must carry over unchanged, and at what it must not add:

- numbers: the multiset of normalised numbers ("1,000" == "1000", "three" == "3", ".05" ==
  "0.05", "1.5 million" == "1500000") is the same on both sides: nothing dropped, nothing added.
- negation: the parity (odd/even) of negation cues is the same, and no sentence-initial answer
  flips from "Yes" to "No" or back.
- names: proper nouns, acronyms, camelCase names, @handles, #tags, URLs, e-mail addresses and
  file paths of the original survive; the candidate adds none the original did not have.
- code (kind == "code"): public top-level names and string literals survive unchanged
  ("code-names", "code-strings"); comments and docstrings may change freely.

Each rule is tuned for the general case, weighing a false failure (it costs yield: the record
keeps its original text or is retried) against a false pass (it costs meaning). Where a rule
cannot tell, the comment next to it names the blind spot it accepts.

Privacy note: the names rule keeps identifying content (people, places, organisations) that
the privacy side would rather see changed. This module protects meaning only; replacing names
with consistent surrogates is a separate, later step. So the rule here is "names survive".
"""
from __future__ import annotations

import ast
import re
import textwrap
import warnings
from collections import Counter
from functools import lru_cache

from .paraphrase.rename_python import looks_like_function_body

# --------------------------------------------------------------------------------------------
# Spans compared verbatim: URLs, e-mail addresses, file paths, @handles, #tags. They are taken
# out ("masked") before the number, negation and name checks, so the digits of a URL are not
# numbers and the words of a path are not names: a changed URL is a "names" failure.
# --------------------------------------------------------------------------------------------
_EXTS = (r"py|js|ts|jsx|tsx|java|c|h|cc|cpp|hpp|cs|go|rs|rb|php|swift|kt|scala|html?|css|json|"
         r"ya?ml|toml|xml|csv|tsv|txt|md|rst|sh|bat|ps1|sql|ini|cfg|conf|log|pdf|docx?|xlsx?|"
         r"png|jpe?g|gif|svg|zip|gz|tar|tgz|exe|dll|so|jar|ipynb")
# Each pattern may only start where a run of its characters starts (the negative
# lookbehinds), so a long run that turns out not to match is scanned once, not once per
# character: the whole search stays linear in the text's length (Python 3.10 has no possessive
# quantifiers to say the same).
_SPECIAL = re.compile(
    r"(?:https?|ftp)://[^\s<>\"'`]+|\bwww\.[^\s<>\"'`]+"  # URLs
    r"|(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # e-mail addresses (before @handles)
    r"|(?<![\w/.~])(?:~|\.{1,2})?/[\w.-]+(?:/[\w.-]+)*"  # /abs, ./rel, ~/home paths
    r"|\b[A-Za-z]:\\[^\s\\]+(?:\\[^\s\\]+)*"  # C:\windows\paths
    r"|(?<![\w./-])[\w.-]+(?:/[\w.-]+)+\.(?:" + _EXTS + r")\b"  # relative/path.ext
    r"|(?<![\w./-])[\w-]+(?:\.[\w-]+)*\.(?:" + _EXTS + r")\b"  # bare file.ext
    r"|(?<![\w@])@[A-Za-z_]\w*"  # @handles (also @Decorators in code: compared verbatim)
    r"|(?<![\w#&])#[A-Za-z_][\w-]*",  # #tags
    re.IGNORECASE)
# Sentence punctuation that ends a URL or path in running text is not part of it.
_TRAILING = ".,;:!?'\")]}"

# Sentence boundaries: . ! ? : (optionally followed by a closing quote or bracket) and space,
# or a line break. A colon counts so that "Answer: No." and "Note: The ..." start afresh.
_BOUNDARY = re.compile(r"(?:(?<=[.!?:])|(?<=[.!?:][\"'”’)\]]))\s+|(?<![^\S\n])[^\S\n]*\n\s*")
_LETTERS = re.compile(r"[^\W\d_]+")  # letter runs: "HPV16" -> "HPV", "COVID-19" -> "COVID"
_WORDS = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")  # words with contractions: "can't"


def _special_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each verbatim span of `text`, without the sentence punctuation after it."""
    out = []
    for m in _SPECIAL.finditer(text):
        span = m.group()
        while span and span[-1] in _TRAILING and not (span[-1] == ")" and "(" in span):
            span = span[:-1]
        out.append((m.start(), m.start() + len(span)))
    return out


@lru_cache(maxsize=64)
def _prepare(text: str) -> tuple[str, tuple[str, ...]]:
    """(text with the verbatim spans blanked out, the verbatim spans in order)."""
    specials, pieces, last = [], [], 0
    for start, end in _special_spans(text):
        specials.append(text[start:end])
        pieces.append(text[last:start])
        pieces.append(" " * (end - start))
        last = end
    pieces.append(text[last:])
    return "".join(pieces), tuple(specials)


def _segments(text: str) -> list[str]:
    """Sentence-like pieces of `text` (see _BOUNDARY), without empty ones."""
    return [s for s in _BOUNDARY.split(text) if s.strip()]


# --------------------------------------------------------------------------------------------
# 1. numbers
# --------------------------------------------------------------------------------------------
# A digit run may follow letters ("HPV16", "5mg", "COVID-19"): rewrites move such numbers in
# and out of words ("HPV-16", "5 mg"), and reading them the same way on both sides keeps those
# rewrites passing. The regex takes a whole run of digit groups joined by single dots and
# commas ("1,000.5", "1,2", "1.2.3"); _split_run decides what the commas mean: a group of
# exactly three digits after a comma continues a thousands number ("1,000"), any other comma
# separates two numbers ("1,2"). Dotted numbers are decimals or versions ("1.2.3").
# The sign is ignored: a hyphen before a digit is far more often a range or a name ("132-162",
# "COVID-19") than a minus, so a flipped sign is a known blind spot.
_DIGITS = re.compile(
    r"(?:(?<![0-9])[0-9]+(?:[.,][0-9]+)*"
    r"|(?<![\w.])\.[0-9]+(?:[.,][0-9]+)*)"  # ".05", as in "p<.05"
    r"(?:\s+(?P<scale>hundred|thousand|million|billion|trillion)\b)?", re.IGNORECASE)
_UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
          "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
          "eighteen", "nineteen"]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_WORD_VALUE = {w: i for i, w in enumerate(_UNITS)} | {w: 20 + 10 * i for i, w in enumerate(_TENS)}
# Written-out numbers up to ninety-nine, so "three" == "3" and "twenty-one" == "21". Ordinal
# words ("first", "second") are not read as numbers: "First, we ..." and "a second" are far
# more often discourse or time than a count, and dropping them would fail many rewrites.
_WORD_NUMBER = re.compile(
    r"\b(?:(?P<tens>" + "|".join(_TENS) + r")(?:(?:-|\s+)(?P<unit>" + "|".join(_UNITS[1:10])
    + r"))?|(?P<small>" + "|".join(_UNITS) + r"))\b"
    r"(?:\s+(?P<scale>hundred|thousand|million|billion|trillion)\b)?", re.IGNORECASE)
_SCALE = {"hundred": 10**2, "thousand": 10**3, "million": 10**6, "billion": 10**9,
          "trillion": 10**12}
# A bare "one" is optional, on both sides: it is also a pronoun ("no one", "one of the", "one
# should") and an article ("One option is ..." -> "An option is ..."), and rewrites drop or add
# it freely. It may still stand for a "1" of the other side ("1 patient" == "one patient").
# Known blind spot: "one patient died" -> "patients died" passes.
_ONE = "one"


def _split_run(run: str) -> list[str]:
    """The numbers of a run of digit groups: "1,000.5" -> ["1000.5"], "1,2" -> ["1", "2"],
    "10,000,20" -> ["10000", "20"]."""
    out: list[str] = []
    growing = False  # out[-1] is a thousands number that may take further groups
    for group in run.split(","):
        prev = out[-1] if out else None
        if (prev is not None and "." not in prev and len(group.split(".", 1)[0]) == 3
                and (growing or len(prev) <= 3)):
            out[-1], growing = prev + group, True
        else:
            out.append(group)
            growing = False
    return out


def _strip_zeros(digits: str) -> str:
    return digits.lstrip("0") or "0"


def _normalise_number(num: str, scale: str | None) -> str:
    if num.startswith("."):
        num = "0" + num
    parts = num.split(".")
    if len(parts) > 2:  # a version or a dotted date: compare component by component
        return ".".join(_strip_zeros(p) for p in parts)
    whole, frac = parts[0], parts[1] if len(parts) == 2 else ""
    if scale:  # "1.5 million" -> "1500000", by moving the decimal point (exact, no floats)
        k = len(str(_SCALE[scale.lower()])) - 1
        whole, frac = whole + frac[:k].ljust(k, "0"), frac[k:]
        frac = frac.rstrip("0")
    # Leading zeros of the integer part go ("05" == "5"); the decimals stay as written, since
    # "3.10" and "3.1" differ as versions and an LLM copies decimals as they are.
    return _strip_zeros(whole) + ("." + frac if frac else "")


def _count_numbers(text: str) -> tuple[Counter, int]:
    """(multiset of the normalised numbers in `text`, how many bare "one"s it has besides)."""
    masked = _prepare(text)[0]
    found: Counter = Counter()
    for m in _DIGITS.finditer(masked):
        run = m.group()
        if m.group("scale"):
            run = run[:m.start("scale") - m.start()].strip()
        nums = _split_run(run)
        for i, num in enumerate(nums):  # a scale word belongs to the last number of the run
            found[_normalise_number(num, m.group("scale") if i == len(nums) - 1 else None)] += 1
    ones = 0
    for m in _WORD_NUMBER.finditer(masked.lower()):
        if m.group("small") == _ONE and not m.group("scale"):
            ones += 1
            continue
        if m.group("tens"):
            value = _WORD_VALUE[m.group("tens")] + (_WORD_VALUE[m.group("unit")]
                                                    if m.group("unit") else 0)
        else:
            value = _WORD_VALUE[m.group("small")]
        if m.group("scale"):
            value *= _SCALE[m.group("scale")]
        found[str(value)] += 1
    return found, ones


def numbers(text: str) -> Counter:
    """Multiset of the normalised numbers in `text` (digits and written-out words; a bare
    "one" is listed as "1", though the check treats it as optional)."""
    found, ones = _count_numbers(text)
    found["1"] += ones
    return +found


def numbers_reason(original: str, candidate: str) -> str:
    # Order is ignored (a paraphrase reorders clauses), multiplicity is not: a number that
    # appears twice in the original is two facts. Nothing may be dropped or added: a new
    # number is a hallucinated fact. Known yield cost: "1 million" vs "1,000,000" is handled,
    # but "a hundred" vs "100" or "first" vs "1st" is not.
    (orig, orig_ones), (cand, cand_ones) = _count_numbers(original), _count_numbers(candidate)
    ones_o, ones_c = orig.pop("1", 0), cand.pop("1", 0)
    if orig != cand:
        return "numbers"
    # The "1"s must agree once each side has used some of its optional "one"s: the ranges
    # [digits, digits + bare ones] of the two sides must overlap.
    if ones_o > ones_c + cand_ones or ones_c > ones_o + orig_ones:
        return "numbers"
    return ""


# --------------------------------------------------------------------------------------------
# 2. negation
# --------------------------------------------------------------------------------------------
_NEGATORS = {"not", "no", "never", "none", "nobody", "nothing", "neither", "nowhere", "cannot",
             "without", "unable", "lacks", "lacked", "lacking"}
# Chat often drops the apostrophe ("dont", "cant"); those spellings count like "n't".
_BARE_NT = {"dont", "doesnt", "didnt", "cant", "wont", "isnt", "arent", "wasnt", "werent",
            "couldnt", "shouldnt", "wouldnt", "hasnt", "havent", "hadnt", "aint", "mustnt",
            "neednt"}
_YES = {"yes", "yeah", "yep", "yup"}
_NO = {"no", "nope", "nah"}
# "not only X but Y", "not just", "not merely" add rather than negate; "whether or not" is
# neutral. Rewrites drop these freely ("both X and Y"), so they are not cues.
_NOT_NEGATING_AFTER_NOT = {"only", "just", "merely"}


def _answer(segment_words: list[tuple[str, int]], segment: str) -> str:
    """'yes' / 'no' when the segment opens with an answer word followed by punctuation ("No,",
    "Yes."); a sentence-initial "No patients ..." is a determiner, not an answer; "No. 5" is a
    number sign."""
    if not segment_words:
        return ""
    word, end = segment_words[0]
    rest = segment[end:]
    if word in _NO and re.match(r"\.\s*\d", rest):
        return ""
    if not re.match(r"\s*(?:[,.!;:—–]|-(?![^\W\d_])|$)", rest):  # "No-one" is no answer
        return ""
    return "yes" if word in _YES else "no" if word in _NO else ""


def _negation_scan(text: str) -> tuple[int, Counter]:
    """(number of negation cues, Counter of sentence-initial 'yes'/'no' answers)."""
    cues, answers = 0, Counter()
    neither = nor = 0
    for segment in _segments(_prepare(text)[0].lower()):
        words = [(m.group().replace("’", "'"), m.end()) for m in _WORDS.finditer(segment)]
        answer = _answer(words, segment)
        if answer:
            answers[answer] += 1
        for i, (w, _) in enumerate(words):
            nxt = words[i + 1][0] if i + 1 < len(words) else ""
            if i == 0 and answer:
                continue  # an answer word is counted as an answer, not as a cue
            if w == "not" and (nxt in _NOT_NEGATING_AFTER_NOT
                               or (i >= 2 and words[i - 2][0] == "whether"
                                   and words[i - 1][0] == "or")):
                continue
            if w == "neither":
                neither += 1
            elif w == "nor":
                nor += 1
            elif (w in _NEGATORS or w in _BARE_NT or w.endswith("n't")
                  or (w in {"fail", "fails", "failed", "failing"} and nxt == "to")
                  or (w == "lack" and nxt == "of")):
                cues += 1
    # "neither A nor B" is one negation, not two (two would make it look positive by parity);
    # a "nor" beyond the "neither"s ("A didn't, nor did B") is a cue of its own.
    return cues + neither + max(0, nor - neither), answers


def negations(text: str) -> int:
    return _negation_scan(text)[0]


def negation_reason(original: str, candidate: str) -> str:
    # Parity of the cue count is a cheap proxy for polarity: turning a positive statement
    # negative (or back) adds or removes one cue; rewording a negative ("does not" -> "never")
    # keeps the count. Known blind spots: a flip in one clause together with an added or
    # removed cue elsewhere passes (a false pass); a faithful rewrite that changes the number
    # of cues fails (a yield cost): double negatives resolved ("not uncommon" -> "common"),
    # implicit negatives ("lacks" -> "is missing", "A didn't, nor did B" -> "neither A nor B").
    # Affixes (un-, non-, -less) and words like "hardly" are not cues. Answers ("Yes,", "No.")
    # are not counted as cues, so dropping "No," before "you can't" passes; what fails is a
    # flip: a "Yes" answer lost while a "No" appears, or the other way round.
    n_orig, a_orig = _negation_scan(original)
    n_cand, a_cand = _negation_scan(candidate)
    if n_orig % 2 != n_cand % 2:
        return "negation"
    if ((a_cand["no"] > a_orig["no"] and a_cand["yes"] < a_orig["yes"])
            or (a_cand["yes"] > a_orig["yes"] and a_cand["no"] < a_orig["no"])):
        return "negation"
    return ""


# --------------------------------------------------------------------------------------------
# 3. names
# --------------------------------------------------------------------------------------------
def _title_case(segment: str) -> bool:
    """A headline ("Effects of Vitamin D on Bone Health in Older Adults"): its capitals mark
    the style, not names. Three or more words of 4+ letters, at least 60% capitalised."""
    long_words = [w for w in _LETTERS.findall(segment) if len(w) >= 4]
    capitalised = sum(w[0].isupper() for w in long_words)
    return len(long_words) >= 3 and capitalised >= 0.6 * len(long_words)


def _quoted_start(segment: str, start: int) -> bool:
    """A capitalised word that opens a quotation ('He said "The ...') starts a sentence."""
    if start == 0:
        return True
    prev = segment[start - 1]
    return prev in "\"“‘" or (prev == "'" and (start < 2 or segment[start - 2].isspace()))


def names(text: str) -> set[str]:
    """Name-like tokens of `text` and its verbatim spans (URLs, e-mails, paths, handles, tags).

    A letter run is a name when it is an acronym (2+ letters, all upper case: "NIH", "COVID",
    "HPV" of "HPV16"), has a capital inside ("iPhone", "McDonald", "setText"), or is capitalised
    at a position that is neither the start of a sentence or line nor inside a headline. So a
    sentence-initial "The" is ignored, while a sentence-initial "Eclipse" counts once "Eclipse"
    also occurs mid-sentence. "I" is never a name."""
    masked, specials = _prepare(text)
    found = set(specials)
    for segment in _segments(masked):
        headline = _title_case(segment)
        for i, m in enumerate(_LETTERS.finditer(segment)):
            w = m.group()
            if w == "I" or not any(ch.isupper() for ch in w):
                continue
            acronym_or_camel = (len(w) >= 2 and w.isupper()) or any(ch.isupper() for ch in w[1:])
            mid_sentence = (w[0].isupper() and i > 0 and not headline
                            and not _quoted_start(segment, m.start()))
            if acronym_or_camel or mid_sentence:
                found.add(w)
    return found


def names_reason(original: str, candidate: str) -> str:
    # Every name of the original must occur in the candidate (case-sensitive, anywhere: a name
    # may move to the start of a sentence); a verbatim span must occur exactly. A name of the
    # candidate must occur in the original, compared without case: a capitalised word the
    # original had in lower case ("the internet" -> "the Internet") is no new fact, but a
    # person, place or product the original never mentioned is an invented one.
    # Known yield cost: a rewrite that lower-cases a name-like word ("Type 2 diabetes" ->
    # "type 2 diabetes", "VERY" -> "very") or expands an acronym fails.
    orig_words, cand_words = set(_LETTERS.findall(original)), set(_LETTERS.findall(candidate))
    orig_spans, cand_spans = set(_prepare(original)[1]), set(_prepare(candidate)[1])
    orig_lower = {w.lower() for w in orig_words}
    for name in names(original):
        if name in orig_spans:  # verbatim: as a span of the candidate, or inside one
            if name not in cand_spans and name not in candidate:
                return "names"
        elif name not in cand_words:
            return "names"
    for name in names(candidate):
        if name in cand_spans:
            if name not in orig_spans and name not in original:
                return "names"
        elif name.lower() not in orig_lower:
            return "names"
    return ""


# --------------------------------------------------------------------------------------------
# 4. code: public names and string literals
# --------------------------------------------------------------------------------------------
# Outside Python (or for a chunk that does not parse) a scanner finds string literals and
# comments together, left to right, so that a quote inside a comment ("// don't") is not read
# as a string and a "//" inside a string is not read as a comment. "#" starts a comment only at
# a line start or after white space (shell, Python, Ruby), not in "a#b". Triple-quoted strings
# are skipped: outside a parser they cannot be told apart from docstrings, which may change.
_CODE_TOKENS = re.compile(
    r"(?P<triple>\"\"\"[\s\S]*?\"\"\"|'''[\s\S]*?''')"
    r"|(?P<str>\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`)"
    r"|(?P<comment>//[^\n]*|/\*[\s\S]*?\*/|<!--[\s\S]*?-->|(?:(?<=\s)|^)#[^\n]*)", re.MULTILINE)
# Declarations whose name is part of the interface: the identifier right after a keyword
# (function, class, def, fn, func, struct, interface, enum, trait; Go receivers skipped), and
# the member name of a `public` declaration after its modifiers and type.
_DECLARED = re.compile(
    r"\b(?:function\*?|class|def|fn|struct|interface|enum|trait)\s+([A-Za-z_$][\w$]*)"
    r"|\bfunc\s+(?:\([^)]*\)\s*)?([A-Za-z_]\w*)"
    r"|\bpublic\s+(?:(?:static|final|abstract|async|synchronized|virtual|override|readonly|"
    r"const|sealed|extern|unsafe|partial|native|default)\s+)*(?:[\w<>\[\],.?]+\s+)?"
    r"([A-Za-z_$][\w$]*)\s*[({=;]")


@lru_cache(maxsize=16)
def _parse(code: str) -> ast.Module | None:
    """The Python tree of `code`, as is or dedented (a chunk of a file is often an indented
    body); None when neither parses. A dedented tree is marked `indented = True`."""
    for text in (code, textwrap.dedent(code)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # invalid escapes etc. in the analysed code
                tree = ast.parse(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        tree.indented = text != code  # type: ignore[attr-defined]
        return tree
    return None


# An indented chunk that visibly is a function body has local defs (renamable); any other
# indented chunk may be a class body, whose defs are methods: the same rule as the renamer's.
_function_body = looks_like_function_body


def _scan(code: str) -> tuple[str, list[str]]:
    """(code with comments, strings and triple-quoted strings blanked, the string literals'
    contents, quotes stripped, empty ones left out)."""
    strings, pieces, last = [], [], 0
    for m in _CODE_TOKENS.finditer(code):
        if m.group("str") and len(m.group()) > 2:
            strings.append(m.group()[1:-1])
        pieces.append(code[last:m.start()])
        pieces.append(" ")
        last = m.end()
    pieces.append(code[last:])
    return "".join(pieces), strings


def _docstring_ids(tree: ast.Module) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                ids.add(id(body[0].value))
    return ids


def _top_level_defs(tree: ast.Module) -> set[str]:
    return {n.name for n in tree.body
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def _ast_strings(tree: ast.Module, docstrings: bool) -> set[str]:
    skip = set() if docstrings else _docstring_ids(tree)
    return {n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value
            and id(n) not in skip}


def code_names(code: str) -> set[str]:
    """Public names of `code`: top-level def/class names without a leading underscore (Python,
    by `ast`; none for an indented function body, whose defs are local), else identifiers
    declared after function/class/def/fn/func/public."""
    tree = _parse(code)
    if tree is not None:
        if getattr(tree, "indented", False) and _function_body(tree):
            return set()
        return {n for n in _top_level_defs(tree) if not n.startswith("_")}
    bare = _scan(code)[0]
    return {n for m in _DECLARED.finditer(bare) for n in m.groups()
            if n and not n.startswith("_")}


def code_strings(code: str) -> set[str]:
    """String literals of `code`, docstrings left out (Python: their values, by `ast`; other
    code: the text between the quotes)."""
    tree = _parse(code)
    if tree is not None:
        return _ast_strings(tree, docstrings=False)
    return set(_scan(code)[1])


def code_names_reason(original: str, candidate: str) -> str:
    # Public names are the interface other code calls: renaming one breaks callers, so each
    # must survive. Private (_x) and local names may change, that is what a code rewrite does.
    # When both sides parse as Python, a name must still be defined at the top level of the
    # candidate (a call left behind under the old name does not count); otherwise it must occur
    # as a whole word outside comments and strings.
    orig_tree, cand_tree = _parse(original), _parse(candidate)
    wanted = code_names(original)
    if orig_tree is not None and cand_tree is not None:
        return "" if wanted <= _top_level_defs(cand_tree) else "code-names"
    bare = _scan(candidate)[0]
    for name in wanted:
        if not re.search(r"(?<![\w$])" + re.escape(name) + r"(?![\w$])", bare):
            return "code-names"
    return ""


def code_strings_reason(original: str, candidate: str) -> str:
    # String literals are data (messages, keys, SQL, paths): a changed one changes behaviour.
    # Each must survive character for character. Python values are compared when both sides
    # parse ('a' == "a"), and a candidate's docstrings count as places a string may be in;
    # otherwise the raw text between the quotes is compared.
    orig_tree, cand_tree = _parse(original), _parse(candidate)
    if orig_tree is not None and cand_tree is not None:
        have = _ast_strings(cand_tree, docstrings=True)
        wanted = _ast_strings(orig_tree, docstrings=False)
    else:
        have, wanted = set(_scan(candidate)[1]), set(_scan(original)[1])
    return "" if wanted <= have else "code-strings"


# --------------------------------------------------------------------------------------------
# entry points
# --------------------------------------------------------------------------------------------
_TEXT_CHECKS = (numbers_reason, negation_reason, names_reason)
_CODE_CHECKS = (code_names_reason, code_strings_reason)


def failed_fact_checks(original: str, candidate: str, kind: str = "text"):
    """The fact checks the candidate fails, lazily and in order (the first costs only the
    checks before it): "numbers", "negation", "names" (kind "text", "chat" or anything but
    "code"), or "code-names", "code-strings" (kind "code")."""
    for check in (_CODE_CHECKS if kind == "code" else _TEXT_CHECKS):
        reason = check(original, candidate)
        if reason:
            yield reason


def fidelity_reason(original: str, candidate: str, kind: str = "text") -> str:
    """"" when the candidate keeps the original's facts, else the first failed check of
    `failed_fact_checks`."""
    return next(failed_fact_checks(original, candidate, kind), "")


def fact_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of what the checks above require a rewrite to keep as it is: verbatim
    spans (URLs, paths, handles...), numbers written in digits, and every occurrence of a name.
    For decoding that must not copy the wording but may copy these (paraphrase/decoding.py)."""
    spans = _special_spans(text)
    spans += [m.span() for m in _DIGITS.finditer(text)]  # the numbers check's own pattern
    for name in names(text):
        spans += [m.span() for m in re.finditer(r"(?<!\w)" + re.escape(name) + r"(?!\w)", text)]
    return sorted(set(spans))


def facts(text: str, kind: str = "text") -> dict:
    """What the checks compare, for reports: numbers (sorted, with repeats), negation cue
    count, answers, names (sorted); for kind "code", public names and string literals."""
    if kind == "code":
        return {"code_names": sorted(code_names(text)), "code_strings": sorted(code_strings(text))}
    cues, answers = _negation_scan(text)
    return {"numbers": sorted(numbers(text).elements()), "negations": cues,
            "answers": dict(answers), "names": sorted(names(text))}
