"""The data: per domain, a fixed-seed split into members, non-members and validation texts,
each record fitted whole to the training window."""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from .common import DATA_DIR

DOMAINS = {"pubmed_abstracts": "text", "github": "code", "stackexchange_chat": "chat"}
# Training window per domain (tokens), unless --max-length is given. 128 keeps the CPU run
# within hours; chats need 256 because their (untrained) questions alone often fill 128.
WINDOWS = {"pubmed_abstracts": 128, "github": 128, "stackexchange_chat": 256}
ROLES = ("members", "nonmembers", "validation")
MIN_TRAINABLE_TOKENS = 8


@dataclass
class Split:
    """One domain's three disjoint roles, each a `sanitize.datafile.Dataset` read through the
    library's own validation (`read_dataset(rows=...)`), as `sanitize.protect` would read them."""

    domain: str
    kind: str
    fmt: str
    members: object  # Dataset
    nonmembers: object
    validation: object
    pool: int  # records eligible before the split

    def ids(self) -> dict:
        """Ids and content hashes of every record per role: what the split hash covers."""
        return {role: [(r.id, r.content_hash()) for r in getattr(self, role).records]
                for role in ROLES}


def data_path(domain: str):
    return DATA_DIR / f"{domain}.jsonl.gz"


def fit_to_window(record, tokenizer, max_length: int, code: bool):
    """The record, whole, within `max_length` tokens; or None.

    A record that fits is kept as is. One that does not has its last segment (the abstract, the
    source file, the chat's final answer) cut at the last line break (code) or word break that
    fits, provided that segment is trainable and at least MIN_TRAINABLE_TOKENS of it remain.
    Why: the trainer and the attacks only see the first `max_length` tokens while SOFT rewrites
    the whole record; the first tokens of a paraphrased long record can cover other content
    than the original's first tokens, which would make a defense look better than it is, and
    paraphrasing text nobody trains on only costs time."""
    from sanitize.encoding import MaskError, encode

    def fitted(r):
        try:
            e = encode(r.example(), tokenizer, max_length)
        except MaskError:
            return None
        return e if e.n_trainable >= MIN_TRAINABLE_TOKENS else None

    enc = fitted(record)
    if enc is None or not enc.truncated:
        return None if enc is None else record
    last = record.segments(trainable_only=False)[-1]
    if not last.trainable:
        return None
    offsets = tokenizer(last.text, add_special_tokens=False,
                        return_offsets_mapping=True)["offset_mapping"]
    # enc.n_trainable of the segment's tokens are inside the window; leave room for the
    # template's closing tokens, more on each retry (tokenization at a cut can shift by a few).
    for slack in (2, 4, 8, 16):
        keep = min(enc.n_trainable, len(offsets)) - slack
        if keep < MIN_TRAINABLE_TOKENS:
            return None
        cut = last.text[:offsets[keep - 1][1]]
        brk = cut.rfind("\n") if code else max(cut.rfind(" "), cut.rfind("\n"))
        cut = (cut[:brk] if brk > len(cut) // 2 else cut).rstrip()
        short = record.rebuilt({last.path: cut})
        e = fitted(short)
        if e is not None and not e.truncated:
            return short
    return None


def make_split(domain: str, n_mem: int, n_non: int, n_val: int, seed: int,
               max_chars: int | None, tokenizer, max_length: int) -> Split:
    """Fixed-seed shuffle, then members / non-members / validation, each record fitted to the
    training window (`fit_to_window`) and disjoint by trainable text (exact duplicates of a
    text never sit on both sides of the membership line)."""
    from sanitize.datafile import Dataset, read_dataset

    ds = read_dataset(str(data_path(domain)))
    pool = [r for r in ds.records if max_chars is None or len(r.trainable_text()) <= max_chars]
    order = list(range(len(pool)))
    random.Random(seed).shuffle(order)
    # Fitted lazily in shuffled order: only as many records are tokenized as the split needs
    # (fitting is deterministic, so the split stays fixed for a seed).
    need = n_mem + n_non + n_val
    picked, seen = [], set()
    for i in order:
        r = fit_to_window(pool[i], tokenizer, max_length, DOMAINS[domain] == "code")
        if r is None:
            continue
        h = hashlib.sha256(r.trainable_text().encode()).hexdigest()
        if h in seen:
            continue
        seen.add(h)
        picked.append(r)
        if len(picked) == need:
            break
    if len(picked) < need:
        raise SystemExit(f"error: {domain}: {need} records requested, only {len(picked)} "
                         "fit in the window (lower --members/--nonmembers/--validation, raise "
                         "--max-chars or --max-length)")
    parts = {"members": picked[:n_mem], "nonmembers": picked[n_mem:n_mem + n_non],
             "validation": picked[n_mem + n_non:]}
    # Each role as its own dataset, read from the records' JSON: the same bytes as the file's
    # lines (or the cut record's), so record hashes, training files and the caches keyed by
    # them do not depend on how the records reached the library.
    # (read_dataset refuses no records, as it refuses an empty file; a caller that needs no
    # non-members or validation texts, e.g. paraphrase_yield.py, gets an empty dataset.)
    roles = {role: read_dataset(f"<{domain} {role}>", ds.fmt, rows=[r.data for r in recs])
             if recs else Dataset(f"<{domain} {role}>", ds.fmt, [])
             for role, recs in parts.items()}
    for role, recs in parts.items():
        if [r.raw for r in roles[role].records] != [r.raw for r in recs]:
            raise SystemExit(f"error: {domain}: {role} changed when read back as JSON rows")
    return Split(domain, DOMAINS[domain], ds.fmt, roles["members"], roles["nonmembers"],
                 roles["validation"], len(pool))
