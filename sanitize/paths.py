"""Where a command may write, checked before any expensive stage.

Every command lists its inputs and its outputs (sidecars included); `check_outputs` refuses, with
one line and exit 2, any output that is one of the inputs (by path, `..`, symlink or hard link),
two outputs that are the same file, and an output that is a directory. An output folder that
cannot be written is an environment problem (exit 1). Inputs are never modified: this is the one
place that makes it so, so every command calls it.
"""
from __future__ import annotations

import os
from itertools import combinations
from pathlib import Path

from .errors import InputError, SanitizeError

STDIO = "-"


def _given(paths: dict[str, str | os.PathLike | None]) -> dict[str, str]:
    return {label: str(p) for label, p in paths.items() if p is not None and str(p) != STDIO}


def same_file(a: str, b: str) -> bool:
    """True when writing `a` would replace `b`: equal after resolving `..` and symlinks, or two
    names (hard links) of one existing file."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist yet
        return False


def _writable_folder(path: str) -> Path:
    """The folder an output will be created in: its nearest existing ancestor must be a
    writable directory (missing folders below it are created on write)."""
    folder = Path(os.path.abspath(path)).parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise InputError(f"cannot create a folder under {folder}: it is a file", path)
    return folder


def check_outputs(inputs: dict[str, str | os.PathLike | None],
                  outputs: dict[str, str | os.PathLike | None],
                  folders: tuple[str, ...] = ()) -> None:
    """Refuse a run whose outputs would overwrite an input, each other, or a directory.

    `inputs` / `outputs`: a label for messages (e.g. "IN", "--cache") -> path; None and `-`
    (stdin/stdout) are skipped. `folders`: labels of outputs that are dataset folders; such an
    output may replace an earlier dataset folder, never any other folder or a file."""
    from .tabular import is_hf_folder

    ins, outs = _given(inputs), _given(outputs)
    for out_label, out in outs.items():
        for in_label, inp in ins.items():
            if same_file(out, inp):
                raise InputError(f"{out_label} would overwrite the input {in_label} ({inp}); "
                                 "inputs are never modified: choose another output path", out)
    for (a, pa), (b, pb) in combinations(outs.items(), 2):
        if same_file(pa, pb):
            raise InputError(f"{a} and {b} are the same file; give them different paths", pa)
    for label, out in outs.items():
        if label in folders:
            if Path(out).exists() and not is_hf_folder(out):
                raise InputError(f"{label} exists and is not a save_to_disk dataset folder; "
                                 "it would be replaced: choose another path", out)
        elif Path(out).is_dir():
            raise InputError(f"{label} is a directory, expected a file path", out)
        folder = _writable_folder(out)
        if not os.access(folder, os.W_OK | os.X_OK):
            raise SanitizeError(f"{out}: cannot write {label}: folder {folder} is not writable")


def private_mode(*like: str | os.PathLike | None) -> int:
    """Permission bits for files that hold (or derive from) the user's records: what the umask
    allows, and never more than any of the given input files allow (a 0600 input gives 0600
    outputs). Standard streams and missing paths add no limit."""
    umask = os.umask(0)
    os.umask(umask)
    mode = 0o666 & ~umask
    for p in like:
        if p is None or str(p) == STDIO:
            continue
        try:
            mode &= os.stat(p).st_mode & 0o777
        except OSError:
            continue
    return mode
