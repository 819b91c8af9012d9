"""Strip what a chat model wraps around a rewrite: chatter, quotes, fences, our own delimiters.

The embedded 135M model often answers "Sure! Here is the rewritten text:" and ends with "I hope
this helps!". That chatter is not the record's content and would be trained on, so it
is removed before the gate sees the candidate. Only wrappers the original did not have are
removed: a record that itself starts with a quote or a fence keeps it.
"""
from __future__ import annotations

import re

_LEAD = re.compile(
    r"^\s*(?:(?:sure|certainly|of course|okay|ok|absolutely)[!,.]?\s*)?"
    r"(?:here(?:'s| is| are)\s+(?:the|a|an|your|my)?\s*(?:re-?written|paraphrased|revised|"
    r"reworded|new|modified|updated)?\s*(?:version|text|code|message|paraphrase|rewrite|turn|"
    r"response)?[^\n:]{0,60}:\s*\n?|(?:re-?written|paraphrased|revised|reworded)\s+"
    r"(?:text|code|version|message)\s*:\s*\n?)",
    re.I)
_LEAD_ACK = re.compile(r"^\s*(?:sure|certainly|of course|absolutely)[!.,]\s*\n", re.I)
_TRAIL = re.compile(
    r"\n?[^\n]*\b(?:i hope (?:this|that|it) helps|let me know if|feel free to|hope this helps|"
    r"this (?:version|rewrite|paraphrase) (?:keeps|maintains|preserves))[^\n]*\s*$", re.I)
_FENCED = re.compile(r"^\s*```[\w+-]*\n(.*?)\n```\s*$", re.S)
_TAGS = re.compile(r"^\s*<(text|code|message)>\s*(.*?)\s*</\1>\s*$", re.S)
_QUOTES = [('"', '"'), ("\u201c", "\u201d"), ("'", "'")]


def clean(candidate: str, original: str) -> str:
    text = candidate.strip("\n")
    for _ in range(2):  # chatter can sit outside a fence and again inside it
        if not _LEAD.match(original):
            text = _LEAD.sub("", text, count=1)
            text = _LEAD_ACK.sub("", text, count=1)
        if not _TRAIL.search(original):
            text = _TRAIL.sub("", text)
        m = _FENCED.match(text)
        if m and not _FENCED.match(original.strip()):
            text = m.group(1)
        m = _TAGS.match(text)
        if m:
            text = m.group(2)
        stripped, orig = text.strip(), original.strip()
        for open_q, close_q in _QUOTES:
            if (len(stripped) > 1 and stripped.startswith(open_q) and stripped.endswith(close_q)
                    and not (orig.startswith(open_q) and orig.endswith(close_q))):
                text = stripped[len(open_q):-len(close_q)]
                break
    # Keep the original's leading indentation style; drop only blank lines the model added.
    return text.strip("\n").rstrip() if original == original.rstrip() else text.strip("\n")
