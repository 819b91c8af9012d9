"""Reading (bad input, gzip, line numbers) and atomic writing."""
from __future__ import annotations

import gzip
import json
import os

import pytest

from sanitize.errors import InputError
from sanitize.io import atomic_writer, read_dataset, write_jsonl_lines

GOOD = '{"text": "hello"}\n{"text": "world"}\n'

BAD = [
    # (name, file bytes, expected line, message fragment)
    ("invalid json", b'{"text": "a"}\n{"text": \n', 2, "invalid JSON"),
    ("not an object", b'{"text": "a"}\n[1, 2]\n', 2, "expected a JSON object"),
    ("no trainable text", b'{"prompt": "q", "completion": ""}\n', 1, "no trainable text"),
    ("undetectable schema", b'{"foo": 1, "bar": 2}\n', 1, "cannot detect the record format"),
    ("invalid utf-8", b'{"text": "a"}\n{"text": "\xff\xfe"}\n', 2, "invalid UTF-8"),
    ("empty file", b"", None, "empty file"),
    ("only blank lines", b"\n\n", None, "empty file"),
    ("wrong field type", b'{"text": 5}\n', 1, "must be a string"),
    ("mixed schemas", b'{"text": "a"}\n{"prompt": "q", "completion": "c"}\n', 2,
     "does not match format 'text'"),
    ("duplicate id", b'{"id": 1, "text": "a"}\n{"id": 1, "text": "b"}\n', 2, "duplicate id"),
    ("bad messages", b'{"messages": "hi"}\n', 1, "non-empty list of messages"),
]


@pytest.mark.parametrize("name,content,line,fragment", BAD, ids=[b[0] for b in BAD])
def test_bad_input_names_file_and_line(tmp_path, name, content, line, fragment):
    path = tmp_path / "in.jsonl"
    path.write_bytes(content)
    with pytest.raises(InputError) as err:
        read_dataset(str(path))
    msg = str(err.value)
    assert fragment in msg
    assert msg.startswith(f"{path}:{line}: " if line else f"{path}: ")
    assert err.value.exit_code == 2
    assert "\n" not in msg


def test_skip_invalid_collects_rejects(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"text": "a"}\nnot json\n{"text": ""}\n[1]\n{"text": "b"}\n')
    ds = read_dataset(str(path), skip_invalid=True)
    assert [r.line_no for r in ds.records] == [1, 5]
    assert [r.line_no for r in ds.rejects] == [2, 3, 4]
    assert all(r.reason for r in ds.rejects)


def test_gzip_and_blank_lines_and_line_numbers(tmp_path):
    path = tmp_path / "in.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write('{"text": "a"}\n\n{"text": "b"}\n')
    ds = read_dataset(str(path))
    assert [r.line_no for r in ds.records] == [1, 3]
    assert ds.blank_lines == 1 and ds.fmt == "text"


def test_raw_lines_kept_byte_for_byte(tmp_path):
    line = '{"text":"caf\\u00e9",   "meta": {"b": 1, "a": 2}}'
    path = tmp_path / "in.jsonl"
    path.write_text(line + "\r\n")
    (rec,) = read_dataset(str(path)).records
    assert rec.raw == line


def test_format_override_and_unknown(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "t", "prompt": "p", "completion": "c"}\n')
    assert read_dataset(str(path)).fmt == "prompt-completion"
    assert read_dataset(str(path), fmt="text").fmt == "text"
    with pytest.raises(InputError, match="unknown format"):
        read_dataset(str(path), fmt="csv")


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_dataset(str(tmp_path / "nope.jsonl"))


def test_atomic_writer_leaves_nothing_on_error(tmp_path):
    dest = tmp_path / "out.jsonl"
    with pytest.raises(RuntimeError):
        with atomic_writer(dest) as fh:
            fh.write("partial\n")
            raise RuntimeError("crash")
    assert not dest.exists()
    assert os.listdir(tmp_path) == []


def test_atomic_writer_replaces_whole_file(tmp_path):
    dest = tmp_path / "out.jsonl"
    dest.write_text("old\n")
    digest = write_jsonl_lines(dest, ['{"a": 1}', '{"b": 2}'])
    assert dest.read_text() == '{"a": 1}\n{"b": 2}\n'
    assert len(digest) == 64 and os.listdir(tmp_path) == ["out.jsonl"]


def test_gzip_output_roundtrip(tmp_path):
    dest = tmp_path / "out.jsonl.gz"
    write_jsonl_lines(dest, [json.dumps({"text": "x"})])
    assert gzip.open(dest, "rt").read() == '{"text": "x"}\n'
    assert read_dataset(str(dest)).records[0].data == {"text": "x"}


def test_stdin_and_stdout(monkeypatch, capsys):
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(GOOD.encode())))
    ds = read_dataset("-")
    assert [r.data["text"] for r in ds.records] == ["hello", "world"]
    write_jsonl_lines("-", [r.raw for r in ds.records])
    assert capsys.readouterr().out == GOOD
