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
import re
import sys
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterable

from .errors import InputError
from .records import (
    FORMATS,
    Record,
    detect_format,
    key_list,
    make_record,
)


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
    # The input's line terminator, so untouched records are written back byte-for-byte.
    newline: str = "\n"
    table: object = None  # tabular.Table for Parquet / HF-folder input (its schema is kept)


def hash_file(path: str | os.PathLike, digest=None):
    """`digest` (a new sha256 when None) updated with the file's bytes, read in 1 MiB blocks so
    a large model or table never sits in memory whole; returned for `.hexdigest()`."""
    digest = hashlib.sha256() if digest is None else digest
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest


def _open_binary(path: str) -> IO[bytes]:
    if path == "-":
        return sys.stdin.buffer
    p = Path(path)
    if not p.exists():
        raise InputError("no such file", path)
    if p.is_dir():
        raise InputError("is a folder, expected a JSONL or .parquet file or a save_to_disk "
                         "folder", path)
    try:
        with open(p, "rb") as fh:
            magic = fh.read(2)
        if magic == b"\x1f\x8b":  # gzip, whatever the file is called
            return gzip.open(p, "rb")
        return open(p, "rb")
    except OSError as exc:  # e.g. permission denied
        raise InputError(f"cannot open file: {exc.strerror or exc}", path) from None


def _iter_terminated(path: str, digest: hashlib._Hash | None = None
                     ) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, raw bytes including the newline, if any); streams the file."""
    fh = _open_binary(path)
    try:
        for n, line in enumerate(fh, start=1):
            if digest is not None:
                digest.update(line)
            yield n, line
    # A truncated .gz ends in EOFError; corrupt deflate data raises zlib.error, which is no
    # OSError; a bad header or CRC raises gzip.BadGzipFile (an OSError). All are one line.
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"cannot read file: {exc}", path) from None
    finally:
        if fh is not sys.stdin.buffer:
            fh.close()


def _split_terminator(line: bytes) -> tuple[bytes, bytes]:
    """The line without its terminator, and the terminator: exactly one CRLF or LF (a stray
    CR before it is content, kept so the record is written back as it was)."""
    if line.endswith(b"\r\n"):
        return line[:-2], b"\r\n"
    if line.endswith(b"\n"):
        return line[:-1], b"\n"
    return line, b""


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _parse_json(raw: str) -> tuple[object, str | None]:
    """(value, None), or (None, why the line is not usable JSON)."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc.msg} (column {exc.colno})"
    except RecursionError:
        return None, "invalid JSON: nested too deeply"
    except ValueError as exc:  # e.g. an integer longer than Python's int-conversion limit
        return None, f"invalid JSON: {str(exc).splitlines()[0]}"
    # json accepts an escaped lone surrogate ("\ud800"), which no UTF-8 writer can encode: a
    # rewritten record would crash the output after all the model work, so reject it now. The
    # regex only picks the lines worth the check (valid pairs, i.e. escaped emoji, pass).
    if _SURROGATE_ESCAPE.search(raw):
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return None, "invalid JSON: unpaired UTF-16 surrogate escape in a string"
    return data, None


def read_dataset(path: str, fmt: str = "auto", skip_invalid: bool = False,
                 rows: Iterable[dict] | None = None) -> Dataset:
    """Parse and validate a fine-tuning file: JSONL (optionally gzipped, `-` for stdin), or a
    Parquet file or Hugging Face `save_to_disk` folder (tabular.py: one row, one record).
    `rows`: records already in memory (dicts, row n as line n), validated the same way;
    `path` then only names them in errors and the manifest.

    The format is detected once per file from the first valid object (`fmt="auto"`) and every
    record must then match it. Bad lines raise InputError naming file and line, unless
    `skip_invalid`, which collects them as rejects instead; then every non-blank line ends up
    as exactly one record or one reject, the first line included.
    """
    from . import tabular

    if fmt != "auto" and fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    records: list[Record] = []
    rejects: list[Reject] = []
    seen_ids: dict[str, int] = {}

    def fail(n: int, reason: str, raw: str) -> None:
        if not skip_invalid:
            raise InputError(reason, path, n)
        rejects.append(Reject(n, reason, raw))

    def accept(n: int, raw: str, data) -> None:
        nonlocal fmt
        line_fmt = fmt
        if fmt == "auto":
            if not isinstance(data, dict):
                fail(n, f"expected a JSON object, got {type(data).__name__}", raw)
                return
            line_fmt = detect_format(data)
            if line_fmt is None:
                fail(n, f"cannot detect the record format from keys {key_list(data)}; expected "
                     "one of: " + "; ".join(f.description for f in FORMATS.values())
                     + " (or pass --format)", raw)
                return
        try:
            rec = make_record(n, raw, data, line_fmt, path)
        except InputError as exc:
            fail(n, exc.reason, raw)
            return
        if rec.id in seen_ids:
            fail(n, f"duplicate id {rec.id!r} (first seen on line {seen_ids[rec.id]})", raw)
            return
        # Auto-detection commits on the first line that makes a valid record, so a skipped
        # bad first line cannot force its format on the rest of the file.
        fmt = line_fmt
        seen_ids[rec.id] = n
        records.append(rec)

    if rows is not None:
        digest = hashlib.sha256()
        for n, row in enumerate(rows, start=1):
            try:
                raw = json.dumps(row, ensure_ascii=False)
            except (TypeError, ValueError) as exc:  # a value JSON cannot hold
                fail(n, f"not JSON-serializable: {exc}", repr(type(row)))
                continue
            digest.update(raw.encode("utf-8") + b"\n")
            accept(n, raw, row)
        table, sha, blank, newline = None, digest.hexdigest(), 0, "\n"
    elif kind := tabular.table_kind(path):
        table = tabular.read_table(path, kind)
        for n, row in enumerate(table.rows, start=1):
            accept(n, json.dumps(row, ensure_ascii=False), row)
        sha, blank, newline = table.sha256, 0, "\n"
    else:
        table, (sha, blank, newline) = None, _read_lines(path, fail, accept)
    if not records:
        if rejects:
            raise InputError(f"no valid records ({len(rejects)} rejected)", path)
        raise InputError("empty file: no records", path)
    return Dataset(path, fmt, records, rejects, sha, blank, newline, table)


def _read_lines(path: str, fail, accept) -> tuple[str, int, str]:
    """Feed every JSONL line to `accept(n, raw, data)` (or `fail`); returns the file's sha256,
    its blank lines and its line terminator."""
    digest = hashlib.sha256()
    blank = 0
    newline = ""
    for n, terminated in _iter_terminated(path, digest):
        line, terminator = _split_terminator(terminated)
        newline = newline or terminator.decode("ascii")  # the first line's decides
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
        data, bad_json = _parse_json(raw)
        if bad_json:
            fail(n, bad_json, raw)
            continue
        accept(n, raw, data)
    return digest.hexdigest(), blank, newline or "\n"


# ---------------------------------------------------------------------------------------------
# Writing


class Outputs:
    """Files that appear together or not at all.

    Each file is written to a temporary file beside its destination (created with `perms`:
    outputs derived from the user's records are no more readable than the input, see
    paths.private_mode). Nothing under a final name changes until `commit()`, which renames the
    files in the order they were written (so a manifest written last appears last) and restores
    the earlier files if a rename fails midway. Leaving the `with` block without committing (an
    exception anywhere) removes the temporary files: every earlier output stays as it was.
    `-` writes to stdout at once (a stream has no rename).
    """

    def __init__(self, perms: int | None = None):
        self.perms = perms
        self._steps: list[tuple[Path, str | None]] = []  # (destination, temp file or None=remove)

    def __enter__(self) -> "Outputs":
        return self

    def __exit__(self, *exc) -> None:
        self.discard()

    @contextlib.contextmanager
    def writer(self, path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
        """A file handle for one output; `.gz` compresses, `b` in mode gives bytes."""
        if str(path) == "-":
            stream = sys.stdout if "b" not in mode else sys.stdout.buffer
            yield stream
            stream.flush()
            return
        dest = Path(path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
        self._steps.append((dest, tmp))  # registered first, so discard() always finds it
        if self.perms is not None:
            os.fchmod(fd, self.perms)
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

    @contextlib.contextmanager
    def folder(self, path: str | os.PathLike) -> Iterator[str]:
        """A folder output (a `save_to_disk` dataset), staged and committed like a file; the
        files in it get `perms` too."""
        dest = Path(path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
        self._steps.append((dest, tmp))
        yield tmp
        if self.perms is not None:
            folder_perms = self.perms | ((self.perms & 0o444) >> 2)  # readable folders: +x
            for f in [Path(tmp), *Path(tmp).rglob("*")]:
                os.chmod(f, folder_perms if f.is_dir() else self.perms)

    def remove(self, path: str | os.PathLike) -> None:
        """Delete a stale earlier output at commit time (e.g. last run's rejected file)."""
        if os.path.lexists(path):
            self._steps.append((Path(path), None))

    def commit(self) -> None:
        # (destination, it existed before, a hard-link backup of it) for each step taken, so a
        # failed rename can put every earlier file back.
        taken: list[tuple[Path, bool, Path | None]] = []
        try:
            for dest, tmp in self._steps:
                existed, backup = os.path.lexists(dest), None
                if existed:
                    backup = dest.with_name(f".{dest.name}.{os.getpid()}.bak")
                    if dest.is_dir() and not dest.is_symlink():
                        os.rename(dest, backup)  # a folder moves aside (no hard links)
                    else:
                        try:
                            os.link(dest, backup, follow_symlinks=False)
                        except OSError:  # no hard links on this filesystem: nothing to restore
                            backup = None
                taken.append((dest, existed, backup))
                if tmp is None:
                    _delete(dest)
                else:
                    os.replace(tmp, dest)
        except BaseException:
            for dest, existed, backup in reversed(taken):
                if backup is not None:
                    if backup.is_dir() and os.path.lexists(dest):
                        _delete(dest)
                    os.replace(backup, dest)
                elif not existed:
                    _delete(dest)
            raise
        finally:
            for _dest, _existed, backup in taken:
                if backup is not None:
                    _delete(backup)
            self.discard()

    def discard(self) -> None:
        for _dest, tmp in self._steps:
            if tmp is not None:
                _delete(Path(tmp))
        self._steps = []


def _delete(path: Path) -> None:
    """Remove a file, link or folder if it is there."""
    import shutil

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, mode: str = "w", perms: int | None = None
                  ) -> Iterator[IO]:
    """One output written atomically: a crash or kill never leaves a half-written file under
    the final name. `perms`: permission bits (default: what the umask allows)."""
    with Outputs(perms) as outs:
        with outs.writer(path, mode) as fh:
            yield fh
        outs.commit()


def write_lines(fh: IO, lines: list[str], newline: str = "\n") -> str:
    """Raw JSONL lines, each ended by `newline` (the input's, so untouched records stay
    byte-for-byte); returns the sha256 of the uncompressed bytes."""
    digest = hashlib.sha256()
    for line in lines:
        data = line + newline
        digest.update(data.encode("utf-8"))
        fh.write(data)
    return digest.hexdigest()


def dump_json(fh: IO, obj) -> None:
    json.dump(obj, fh, ensure_ascii=False, indent=2, sort_keys=False, default=str)
    fh.write("\n")


def write_jsonl_lines(path: str | os.PathLike, lines: list[str], newline: str = "\n",
                      perms: int | None = None) -> str:
    """Atomically write raw JSONL lines (see write_lines); returns their sha256."""
    with atomic_writer(path, perms=perms) as fh:
        return write_lines(fh, lines, newline)


def write_json(path: str | os.PathLike, obj, perms: int | None = None) -> None:
    with atomic_writer(path, perms=perms) as fh:
        dump_json(fh, obj)


def sidecar(out_path: str, suffix: str, given: str | None = None) -> str | None:
    """The path the user gave, else `out.jsonl` -> `out.jsonl<suffix>` (e.g. `.manifest.json`);
    None for stdout output without a given path (SanitizeConfig requires one there)."""
    if given:
        return given
    return None if out_path == "-" else f"{out_path}{suffix}"
