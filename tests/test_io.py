"""Reading (bad input, gzip, line numbers) and atomic writing."""
from __future__ import annotations

import gzip
import json
import os

import pytest

from sanitize.errors import InputError
from sanitize.datafile import atomic_writer, read_dataset, write_jsonl_lines

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
    # Chat turns are validated when read, not when a model stage trips over them.
    ("unknown role", b'{"messages": [{"role": "wizard", "content": "hi"}]}\n', 1,
     "messages[0] has unknown role 'wizard'"),
    ("role not a string", b'{"messages": [{"role": 1, "content": "hi"}]}\n', 1,
     "messages[0] has no 'role' string"),
    ("message not an object", b'{"messages": ["hi"]}\n', 1, "messages[0] must be an object"),
    ("message without content",
     b'{"messages": [{"role": "user", "content": "q"}, {"role": "assistant"}]}\n', 1,
     "messages[1] has no 'content' string"),
    ("null content, no tool call",
     b'{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": null}]}\n',
     1, "messages[1] has no 'content' string"),
    ("null user content", b'{"messages": [{"role": "user", "content": null}]}\n', 1,
     "messages[0] has no 'content' string"),
    ("content a number", b'{"messages": [{"role": "assistant", "content": 5}]}\n', 1,
     "'content' must be a string or a list of content parts, got int"),
    ("content part not an object", b'{"messages": [{"role": "assistant", "content": ["x"]}]}\n',
     1, "messages[0].content[0] must be an object"),
    ("text part without text",
     b'{"messages": [{"role": "assistant", "content": [{"type": "text"}]}]}\n', 1,
     "messages[0].content[0] has no 'text' string"),
    ("tool_calls not a list",
     b'{"messages": [{"role": "assistant", "content": null, "tool_calls": "f()"}]}\n', 1,
     "'tool_calls' must be a list of objects"),
    ("bad role on line 2",
     (b'{"messages": [{"role": "assistant", "content": "a"}]}\n'
      b'{"messages": [{"role": "assistant", "content": "a"}, '
      b'{"role": "Wizard", "content": "b"}]}\n'),
     2, "messages[1] has unknown role 'Wizard'"),
    ("sharegpt unknown from", b'{"conversations": [{"from": "wizard", "value": "hi"}]}\n', 1,
     "conversations[0] has unknown from 'wizard'"),
    ("sharegpt without value", b'{"conversations": [{"from": "gpt"}]}\n', 1,
     "conversations[0] has no 'value' string"),
    ("sharegpt value not a string", b'{"conversations": [{"from": "gpt", "value": ["a"]}]}\n',
     1, "conversations[0]: 'value' must be a string, got list"),
    ("prompt list bad role",
     (b'{"prompt": [{"role": "wizard", "content": "q"}], '
      b'"completion": [{"role": "assistant", "content": "a"}]}\n'), 1,
     "prompt[0] has unknown role 'wizard'"),
    ("completion list without content",
     b'{"prompt": [{"role": "user", "content": "q"}], "completion": [{"role": "assistant"}]}\n',
     1, "completion[0] has no 'content' string"),
    ("role with a newline", b'{"messages": [{"role": "a\\nb", "content": "q"}]}\n', 1,
     "unknown role 'a\\nb'"),
    # JSON that parses but that no later stage could handle.
    ("lone surrogate", b'{"text": "a\\ud800b"}\n', 1, "unpaired UTF-16 surrogate"),
    ("huge integer", b'{"text": "a", "n": ' + b"9" * 5000 + b"}\n", 1, "invalid JSON"),
    ("nested too deeply", b'{"text": "a", "n": ' + b"[" * 100000 + b"]" * 100000 + b"}\n", 1,
     "invalid JSON"),
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


@pytest.mark.parametrize("first", [b'{"foo": 1, "bar": 2}', b'[1, 2]', b'"text"', b'{"text": 5}'],
                         ids=["undetectable", "array", "string", "detectable but invalid"])
def test_skip_invalid_skips_a_bad_first_line(tmp_path, first):
    """Detection must not stop at (or commit to the format of) a first line it rejects."""
    path = tmp_path / "in.jsonl"
    path.write_bytes(first + b'\n{"prompt": "q", "completion": "a"}\n{"foo": 3}\n')
    ds = read_dataset(str(path), skip_invalid=True)
    assert ds.fmt == "prompt-completion"
    assert [r.line_no for r in ds.records] == [2]
    assert [r.line_no for r in ds.rejects] == [1, 3]
    assert all("\n" not in r.reason for r in ds.rejects)


def _gzip_lines(n: int = 3000) -> bytes:
    return gzip.compress(b"".join(b'{"id": %d, "text": "record number %d"}\n' % (i, i)
                                  for i in range(n)), mtime=0)


def _corrupt(data: bytes, at: int, count: int = 16) -> bytes:
    out = bytearray(data)
    for k in range(at, at + count):
        out[k] ^= 0x5A
    return bytes(out)


CORRUPT_GZIP = [
    # (name, gzip bytes) -- each has a valid gzip header, so it is read as gzip.
    ("invalid block type", _corrupt(_gzip_lines(), 10, 1)),  # BTYPE=11 in the first block
    ("flipped middle", _corrupt(_gzip_lines(), len(_gzip_lines()) // 2)),
    ("bad crc", _corrupt(_gzip_lines(), len(_gzip_lines()) - 8, 4)),
    ("trailing garbage", _gzip_lines(10) + b"garbage!"),
    ("truncated", _gzip_lines()[:-100]),
]


@pytest.mark.parametrize("skip_invalid", [False, True], ids=["strict", "skip-invalid"])
@pytest.mark.parametrize("name,data", CORRUPT_GZIP, ids=[c[0] for c in CORRUPT_GZIP])
def test_corrupt_gzip_is_one_line_input_error(tmp_path, name, data, skip_invalid):
    """Never a zlib/gzip traceback, and never a silently partial dataset, even with
    --skip-invalid: a damaged archive is a file error, not a handful of bad lines."""
    path = tmp_path / "in.jsonl.gz"
    path.write_bytes(data)
    with pytest.raises(InputError) as err:
        read_dataset(str(path), skip_invalid=skip_invalid)
    msg = str(err.value)
    assert msg.startswith(f"{path}:")  # a garbled line may be reported before the gzip check
    assert "\n" not in msg and err.value.exit_code == 2
    if skip_invalid or name != "flipped middle":
        assert msg.startswith(f"{path}: cannot read file: ")


def test_corrupt_gzip_via_cli_exits_2(tmp_path, capsys):
    from sanitize.cli import main

    src = tmp_path / "in.jsonl.gz"
    src.write_bytes(CORRUPT_GZIP[0][1])
    with pytest.raises(SystemExit) as exc:
        main(["score", str(src), str(tmp_path / "o.jsonl")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {src}: cannot read file: ") and "\n" not in err
    assert "Traceback" not in err


def test_crlf_round_trips_byte_for_byte(tmp_path):
    content = (b'{"text":"caf\\u00e9",   "meta": {"b": 1}}\r\n'
               b'{"text": "two\\r\\n", "id": 7}\r\n'
               b'{"text": "three"}\r\n')
    src, dest = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_bytes(content)
    ds = read_dataset(str(src))
    assert ds.newline == "\r\n"
    assert all(not r.raw.endswith(("\r", "\n")) for r in ds.records)
    write_jsonl_lines(dest, [r.raw for r in ds.records], newline=ds.newline)
    assert dest.read_bytes() == content


@pytest.mark.parametrize("content,newline", [
    (b'{"text": "a"}\n{"text": "b"}\r\n', "\n"),  # the first line decides
    (b'{"text": "a"}\r\n{"text": "b"}\n', "\r\n"),
    (b'{"text": "a"}', "\n"),  # no terminator at all
    (b'\r\n{"text": "a"}\n', "\r\n"),  # a blank first line still says CRLF
])
def test_newline_detected_from_first_line(tmp_path, content, newline):
    path = tmp_path / "in.jsonl"
    path.write_bytes(content)
    assert read_dataset(str(path)).newline == newline


def test_stray_cr_is_content_not_terminator(tmp_path):
    """Only one CRLF or LF is the terminator; a CR before it (JSON whitespace) stays in raw."""
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"text": "a"}\r\r\n')
    (rec,) = read_dataset(str(path)).records
    assert rec.raw == '{"text": "a"}\r'


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
    with pytest.raises(RuntimeError), atomic_writer(dest) as fh:
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
    assert gzip.decompress(dest.read_bytes()) == b'{"text": "x"}\n'
    assert read_dataset(str(dest)).records[0].data == {"text": "x"}


def test_stdin_and_stdout(monkeypatch, capsys):
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(GOOD.encode())))
    ds = read_dataset("-")
    assert [r.data["text"] for r in ds.records] == ["hello", "world"]
    write_jsonl_lines("-", [r.raw for r in ds.records])
    assert capsys.readouterr().out == GOOD
