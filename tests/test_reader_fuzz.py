"""Property tests for the reader: whatever a JSONL file holds, `read_dataset` returns a Dataset
or raises one single-line InputError naming the file (never another exception), and a Dataset
accounts for every line exactly once: a record, a reject or a blank line.

Derandomized, so CI sees the same examples every run; no models are involved.
"""
from __future__ import annotations

import gzip
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sanitize.errors import InputError
from sanitize.datafile import read_dataset, write_jsonl_lines
from sanitize.records import FORMATS

SETTINGS = settings(max_examples=200, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
FMTS = ["auto", *FORMATS]

# The keys and role names the formats look at, so random objects actually hit every format
# (and its validation) instead of all being "cannot detect the record format".
KEYS = ["text", "prompt", "completion", "messages", "conversations", "instruction", "input",
        "output", "system", "id", "role", "content", "from", "value", "tool_calls", "weight",
        "type", "tools"]
ROLES = ["user", "assistant", "system", "developer", "tool", "function", "human", "gpt",
         "function_call", "observation", "wizard", ""]

scalars = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
           | st.sampled_from(ROLES))
json_values = st.recursive(
    scalars,
    lambda kids: st.lists(kids, max_size=4)
    | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), kids, max_size=5),
    max_leaves=16)

# Mostly well-formed pieces, sometimes anything: the interesting bugs sit near valid input, and
# one_of picks its branches about evenly, so repeating a branch weights it.
good_text = st.text(min_size=1, max_size=12)
texts = st.one_of(good_text, good_text, good_text, st.text(max_size=2), json_values)
good_role = st.sampled_from(["user", "assistant", "assistant"])
roles = st.one_of(good_role, good_role, good_role, good_role, st.sampled_from(ROLES), json_values)
tool_calls = st.lists(st.fixed_dictionaries({"type": st.just("function")}), max_size=2)
content = st.one_of(texts, texts, texts, st.none(), st.lists(st.fixed_dictionaries(
    {"type": st.just("text")}, optional={"text": texts}), max_size=2))
openai_extras = {"tool_calls": tool_calls | json_values, "weight": st.sampled_from([0, 1])}
openai_message = st.one_of(
    st.fixed_dictionaries({"role": roles, "content": content}, optional=openai_extras),
    st.fixed_dictionaries({"role": roles, "content": content}),
    st.fixed_dictionaries({"role": roles}, optional={"content": content, **openai_extras}))
sharegpt_message = st.one_of(st.fixed_dictionaries({"from": roles, "value": texts}),
                             st.fixed_dictionaries({"from": roles}, optional={"value": texts}))


@st.composite
def _chat(draw, msg, role_key, text_key):
    """Usually a valid conversation (legitimate roles, an assistant turn with text) with at most
    one arbitrary message spliced in; sometimes any list or value at all."""
    kind = draw(st.integers(0, 3))
    if kind == 3:
        return draw(st.lists(msg | json_values, max_size=3) | json_values)
    legit = st.sampled_from(["system", "user", "assistant", "tool", "human", "gpt", "developer",
                             "function_call", "observation"])
    turns = draw(st.lists(st.fixed_dictionaries({role_key: legit, text_key: good_text}),
                          max_size=3))
    turns.append({role_key: draw(st.sampled_from(["assistant", "gpt"])), text_key: "answer"})
    if kind == 1:  # one more message, possibly a broken one, anywhere
        turns.insert(draw(st.integers(0, len(turns))), draw(msg))
    return turns


openai_chat = _chat(openai_message, "role", "content")
sharegpt_chat = _chat(sharegpt_message, "from", "value")


records = st.one_of(
    st.fixed_dictionaries({"text": texts}, optional={"id": st.integers(0, 3) | texts}),
    st.fixed_dictionaries({"prompt": texts, "completion": texts}),
    st.fixed_dictionaries({"prompt": openai_chat, "completion": openai_chat}),
    st.fixed_dictionaries({"messages": openai_chat}, optional={"tools": json_values}),
    st.fixed_dictionaries({"conversations": sharegpt_chat}, optional={"system": texts}),
    st.fixed_dictionaries({"instruction": texts, "output": texts}, optional={"input": texts}),
    json_values,
)


def _dump(value, ascii_only: bool) -> str:
    return json.dumps(value, ensure_ascii=ascii_only)


# One JSONL line: JSON (mostly record-shaped), blank, or junk text without a newline in it.
lines = st.one_of(
    st.builds(_dump, records, st.booleans()),
    st.builds(_dump, json_values, st.booleans()),
    st.sampled_from(["", "   ", "\t", "\r", "\ufeff"]),
    st.text(max_size=20).map(lambda s: s.replace("\n", " ")),
)


@st.composite
def jsonl_files(draw) -> bytes:
    body = draw(st.lists(lines, max_size=8))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = newline.join(body) + (newline if body and draw(st.booleans()) else "")
    return text.encode("utf-8", "surrogatepass")


def _decompressed(data: bytes) -> bytes:
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def _file_lines(data: bytes) -> list[bytes]:
    """The lines a reader sees, without terminators (the reader strips one CRLF or LF)."""
    *ended, last = data.split(b"\n")  # every part but the last had a newline after it
    return [p[:-1] if p.endswith(b"\r") else p for p in ended] + ([last] if last else [])


def check_read(path, data: bytes, fmt: str, skip_invalid: bool):
    """The properties every read must have; returns the Dataset, or None after an InputError."""
    path.write_bytes(data)
    try:
        ds = read_dataset(str(path), fmt=fmt, skip_invalid=skip_invalid)
    except InputError as exc:
        msg = str(exc)
        assert msg.startswith(f"{path}:"), msg
        assert len(msg.splitlines()) == 1, msg
        assert exc.exit_code == 2
        return None
    plain = _decompressed(data)
    file_lines = _file_lines(plain)
    assert len(ds.records) + len(ds.rejects) + ds.blank_lines == len(file_lines)
    numbers = [r.line_no for r in ds.records] + [r.line_no for r in ds.rejects]
    assert len(set(numbers)) == len(numbers)
    assert all(1 <= n <= len(file_lines) for n in numbers)
    assert skip_invalid or not ds.rejects
    assert ds.records and ds.fmt in FORMATS
    assert all(r.fmt == ds.fmt for r in ds.records)
    assert ds.newline in ("\n", "\r\n")
    for r in ds.records:  # raw is the input line exactly (a line-1 BOM aside)
        line = file_lines[r.line_no - 1].decode("utf-8")
        assert r.raw == (line[1:] if r.line_no == 1 and line.startswith("\ufeff") else line)
    return ds


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz") / "in.jsonl"


@pytest.mark.parametrize("skip_invalid", [False, True], ids=["strict", "skip-invalid"])
@SETTINGS
@given(data=st.binary(max_size=300), fmt=st.sampled_from(FMTS))
def test_random_bytes(work, skip_invalid, data, fmt):
    check_read(work, data, fmt, skip_invalid)


@pytest.mark.parametrize("skip_invalid", [False, True], ids=["strict", "skip-invalid"])
@SETTINGS
@given(data=jsonl_files(), fmt=st.sampled_from(FMTS))
def test_random_json_lines(work, skip_invalid, data, fmt):
    ds = check_read(work, data, fmt, skip_invalid)
    plain_lines = data.split(b"\n")
    uniform = data.endswith(b"\n") and len({ln.endswith(b"\r") for ln in plain_lines[:-1]}) == 1
    if ds is not None and uniform and not ds.rejects and not ds.blank_lines \
            and not data.startswith(b"\xef\xbb\xbf"):
        # Nothing dropped and one terminator: writing the records back gives the input.
        out = work.with_name("out.jsonl")
        write_jsonl_lines(out, [r.raw for r in ds.records], newline=ds.newline)
        assert out.read_bytes() == data


@pytest.mark.parametrize("skip_invalid", [False, True], ids=["strict", "skip-invalid"])
@SETTINGS
@given(data=jsonl_files(), at=st.integers(min_value=0), flip=st.integers(1, 255),
       damage=st.booleans())
def test_random_gzip(work, skip_invalid, data, at, flip, damage):
    """Compressed input, intact or with one byte flipped anywhere (header, deflate data, CRC)."""
    packed = bytearray(gzip.compress(data, mtime=0))
    if damage:
        packed[at % len(packed)] ^= flip
    # A returned Dataset means the flip was harmless (mtime, OS byte): check_read decompresses
    # the same bytes with gzip itself, which would fail on real damage.
    check_read(work.with_name("in.jsonl.gz"), bytes(packed), "auto", skip_invalid)
