"""Reading JSONL with line numbers, atomic writing, and JSON documents (manifest, reports).

Inputs are never modified. Every output goes to a temporary file in the destination folder and is
renamed into place only when complete, so a crash or kill never leaves a half-written file under
the final name. `-` means stdin / stdout.
"""
from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator

from .errors import InputError
from .records import FORMATS, Record, check_unique_ids, detect_format, make_record


@dataclass
class Reject:
    line_no: int
    reason: str
    raw: str


@dataclass
class Dataset:
    """All valid records of one input file, in order, plus what was rejected and why."""

    path: str
    fmt: str
    records: list[Record]
    rejects: list[Reject] = field(default_factory=list)
    sha256: str = ""
    blank_lines: int = 0


def _open_binary(path: str) -> IO[bytes]:
    if path == "-":
        return sys.stdin.buffer
    p = Path(path)
    if not p.exists():
        raise InputError("no such file", path)
    if p.is_dir():
        raise InputError("is a directory, expected a JSONL file", path)
    with open(p, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":  # gzip, whatever the file is called
        return gzip.open(p, "rb")
    return open(p, "rb")


def iter_lines(path: str, digest: "hashlib._Hash | None" = None) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, raw bytes without newline); streams, never loads the whole file."""
    fh = _open_binary(path)
    try:
        for n, line in enumerate(fh, start=1):
            if digest is not None:
                digest.update(line)
            yield n, line.rstrip(b"\r\n")
    except (OSError, EOFError) as exc:  # e.g. a truncated .gz
        raise InputError(f"cannot read file: {exc}", path) from None
    finally:
        if fh is not sys.stdin.buffer:
            fh.close()


def read_dataset(path: str, fmt: str = "auto", skip_invalid: bool = False) -> Dataset:
    """Parse and validate a JSONL fine-tuning file.

    The format is detected once per file from the first valid object (`fmt="auto"`) and every
    record must then match it. Bad lines raise InputError naming file and line, unless
    `skip_invalid`, which collects them as rejects instead.
    """
    if fmt != "auto" and fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    digest = hashlib.sha256()
    records: list[Record] = []
    rejects: list[Reject] = []
    blank = 0
    seen_ids: dict[str, int] = {}

    def fail(n: int, reason: str, raw: str) -> None:
        if not skip_invalid:
            raise InputError(reason, path, n)
        rejects.append(Reject(n, reason, raw))

    for n, line in iter_lines(path, digest):
        try:
            raw = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            fail(n, f"invalid UTF-8 at byte {exc.start}", line.decode("utf-8", "replace"))
            continue
        if raw.startswith("\ufeff") and n == 1:  # tolerate a UTF-8 byte-order mark
            raw = raw[1:]
        if not raw.strip():
            blank += 1
            continue
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            fail(n, f"invalid JSON: {exc.msg} (column {exc.colno})", raw)
            continue
        if fmt == "auto" and isinstance(data, dict):
            detected = detect_format(data)
            if detected is None:
                raise InputError(
                    f"cannot detect the record format from keys {sorted(data)}; expected one of: "
                    + "; ".join(f.description for f in FORMATS.values())
                    + " (or pass --format)", path, n)
            fmt = detected
        try:
            rec = make_record(n, raw, data, fmt if fmt != "auto" else "text", path)
        except InputError as exc:
            fail(n, exc.reason, raw)
            continue
        if rec.id in seen_ids:
            fail(n, f"duplicate id {rec.id!r} (first seen on line {seen_ids[rec.id]})", raw)
            continue
        seen_ids[rec.id] = n
        records.append(rec)

    if not records:
        if rejects:
            raise InputError(f"no valid records ({len(rejects)} rejected)", path)
        raise InputError("empty file: no records", path)
    check_unique_ids(records, path)
    return Dataset(path, fmt, records, rejects, digest.hexdigest(), blank)


# ---------------------------------------------------------------------------------------------
# Writing


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """Write to a temp file beside `path`, fsync, then rename over it; on error remove the temp.

    A `.gz` suffix compresses. `-` writes to stdout (not atomic: a stream has no rename).
    """
    if str(path) == "-":
        stream = sys.stdout if "b" not in mode else sys.stdout.buffer
        yield stream
        stream.flush()
        return
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as raw_fh:
            if dest.suffix == ".gz":
                # mtime=0 keeps the compressed bytes reproducible run to run.
                inner: IO = gzip.GzipFile(filename="", mode="wb", fileobj=raw_fh, mtime=0)
            else:
                inner = raw_fh
            fh = inner if "b" in mode else io.TextIOWrapper(inner, encoding="utf-8", newline="\n")
            yield fh
            fh.flush()
            if fh is not inner:
                fh.detach()
            if inner is not raw_fh:
                inner.close()
            raw_fh.flush()
            os.fsync(raw_fh.fileno())
        # mkstemp creates 0600; give the output the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_jsonl_lines(path: str | os.PathLike, lines: list[str]) -> str:
    """Atomically write raw JSONL lines; returns the sha256 of the uncompressed bytes."""
    digest = hashlib.sha256()
    with atomic_writer(path) as fh:
        for line in lines:
            data = line + "\n"
            digest.update(data.encode("utf-8"))
            fh.write(data)
    return digest.hexdigest()


def write_json(path: str | os.PathLike, obj) -> None:
    with atomic_writer(path) as fh:
        json.dump(obj, fh, ensure_ascii=False, indent=2, sort_keys=False, default=str)
        fh.write("\n")


def sidecar(out_path: str, suffix: str) -> str:
    """`out.jsonl` -> `out.jsonl<suffix>` (e.g. `.manifest.json`); stdout output uses cwd."""
    if out_path == "-":
        return f"stdout{suffix}"
    return f"{out_path}{suffix}"
