"""Format detection, trainable segments and rebuilds, for every schema (table-driven)."""
from __future__ import annotations

import json

import pytest

from sanitize.encoding import encode
from sanitize.records import FORMATS, detect_format, make_record

CASES = [
    # (name, record, expected format, [(path, role, trainable)], chat?)
    ("text", {"text": "Hello world."}, "text", [(("text",), "text", True)], False),
    ("prompt-completion", {"prompt": "Q: 2+2?", "completion": " 4"}, "prompt-completion",
     [(("prompt",), "prompt", False), (("completion",), "completion", True)], False),
    ("prompt-completion conversational",
     {"prompt": [{"role": "user", "content": "Hi"}],
      "completion": [{"role": "assistant", "content": "Hello!"}]}, "prompt-completion",
     [(("prompt", 0, "content"), "user", False),
      (("completion", 0, "content"), "assistant", True)], True),
    ("messages", {"messages": [{"role": "system", "content": "Be brief."},
                               {"role": "user", "content": "Hi"},
                               {"role": "assistant", "content": "Hello!"}]}, "messages",
     [(("messages", 0, "content"), "system", False), (("messages", 1, "content"), "user", False),
      (("messages", 2, "content"), "assistant", True)], True),
    ("messages weight 0 and content parts",
     {"messages": [{"role": "user", "content": "Hi"},
                   {"role": "assistant", "content": "Old answer", "weight": 0},
                   {"role": "user", "content": [{"type": "text", "text": "Again"}]},
                   {"role": "assistant", "content": [{"type": "text", "text": "New answer"}]}]},
     "messages",
     [(("messages", 0, "content"), "user", False), (("messages", 1, "content"), "assistant", False),
      (("messages", 2, "content", 0, "text"), "user", False),
      (("messages", 3, "content", 0, "text"), "assistant", True)], True),
    ("messages with tool calls",
     {"messages": [{"role": "user", "content": "Weather in Oslo?"},
                   {"role": "assistant", "content": None, "tool_calls": [
                       {"type": "function", "function": {"name": "w", "arguments": "{}"}}]},
                   {"role": "tool", "content": "5C", "tool_call_id": "1"},
                   {"role": "assistant", "content": "It is 5C in Oslo."}],
      "tools": [{"type": "function", "function": {"name": "w", "parameters": {}}}]},
     "messages",
     [(("messages", 0, "content"), "user", False), (("messages", 2, "content"), "tool", False),
      (("messages", 3, "content"), "assistant", True)], True),
    ("alpaca", {"instruction": "Translate", "input": "bonjour", "output": "hello"}, "alpaca",
     [(("instruction",), "user", False), (("input",), "user", False),
      (("output",), "assistant", True)], True),
    ("alpaca without input", {"instruction": "Say hi", "input": "", "output": "hi"}, "alpaca",
     [(("instruction",), "user", False), (("output",), "assistant", True)], True),
    ("sharegpt", {"conversations": [{"from": "human", "value": "Hi"},
                                    {"from": "gpt", "value": "Hello"}]}, "sharegpt",
     [(("conversations", 0, "value"), "user", False),
      (("conversations", 1, "value"), "assistant", True)], True),
]


@pytest.mark.parametrize("name,data,fmt,segments,chat", CASES, ids=[c[0] for c in CASES])
def test_detect_segments_and_example(name, data, fmt, segments, chat):
    assert detect_format(data) == fmt
    raw = json.dumps(data)
    rec = make_record(1, raw, data, fmt, "in.jsonl")
    got = [(s.path, s.role, s.trainable) for s in rec.segments(trainable_only=False)]
    assert got == segments
    assert rec.example().chat is chat
    assert [s.trainable for s in rec.segments()] == [True] * sum(t for *_, t in segments)


@pytest.mark.parametrize("name,data,fmt,segments,chat", CASES, ids=[c[0] for c in CASES])
def test_rebuild_changes_only_trainable_spans(name, data, fmt, segments, chat):
    raw = json.dumps(data, indent=None, separators=(", ", ": "))
    rec = make_record(3, raw, data, fmt, "in.jsonl")
    assert rec.rebuilt({}).raw == raw  # untouched: byte-for-byte
    new = {s.path: f"NEW {i}" for i, s in enumerate(rec.segments())}
    out = rec.rebuilt(new)
    assert list(json.loads(out.raw)) == list(data)  # key order kept
    for seg in out.segments(trainable_only=False):
        if seg.trainable:
            assert seg.text == new[seg.path]
        else:  # everything else is unchanged
            assert seg.text == next(s.text for s in rec.segments(False) if s.path == seg.path)
    assert out.id == rec.id and out.line_no == rec.line_no
    assert rec.data == data  # the original record is not mutated


@pytest.mark.parametrize("name,data,fmt,segments,chat", CASES, ids=[c[0] for c in CASES])
def test_masks_cover_exactly_the_trainable_text(name, data, fmt, segments, chat, tiny):
    """Byte tokenizer: one token per UTF-8 byte, so the trainable token count is checkable."""
    rec = make_record(1, json.dumps(data), data, fmt, "in.jsonl")
    enc = encode(rec.example(), tiny.tokenizer)
    trained = tiny.tokenizer.decode([t for t, m in zip(enc.input_ids, enc.trainable) if m])
    texts = [m.text for m in rec.example().messages if m.trainable]
    if chat:  # each assistant turn plus its end-of-turn token and the template's newline
        assert trained == "".join(t + "<|im_end|>\n" for t in texts)
    else:  # the completion/text plus EOS
        assert trained == "".join(texts) + "<|im_end|>"
    assert enc.n_trainable == sum(len(t.encode()) for t in texts) + (2 if chat else 1) * len(texts)


def test_rebuild_rejects_unknown_path():
    data = {"text": "x"}
    rec = make_record(1, json.dumps(data), data, "text", "f")
    with pytest.raises(ValueError):
        rec.rebuilt({("id",): "y"})


def test_ids_kept_or_synthesised_stably():
    data = {"id": 42, "text": "x"}
    assert make_record(1, json.dumps(data), data, "text", "f").id == "42"
    data = {"text": "x"}
    a = make_record(7, json.dumps(data), data, "text", "f")
    b = make_record(7, json.dumps(data), data, "text", "f")
    assert a.id == b.id and a.id.startswith("line7-") and a.id_is_synthetic
    assert "id" not in a.data  # never injected into the data


def test_every_format_is_detectable():
    assert set(FORMATS) == {"text", "prompt-completion", "messages", "alpaca", "sharegpt"}


LEGIT_CHATS = [
    # (name, record, [template role per message]) -- every role name found in real files.
    ("openai roles", {"messages": [
        {"role": "developer", "content": "Be brief."}, {"role": "system", "content": "S"},
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "w"}}]},
        {"role": "tool", "content": "5C", "tool_call_id": "1"},
        {"role": "assistant", "content": None, "function_call": {"name": "w", "arguments": "{}"}},
        {"role": "function", "name": "w", "content": "5C"},
        {"role": "ipython", "content": "5C"},
        {"role": "assistant", "content": [{"type": "image_url", "image_url": {"url": "u"}},
                                          {"type": "text", "text": "It is 5C."}]}]},
     ["system", "system", "user", "assistant", "tool", "assistant", "tool", "tool",
      "assistant"]),
    ("sharegpt roles", {"conversations": [
        {"from": "system", "value": "S"}, {"from": "human", "value": "Q"},
        {"from": "function_call", "value": "{\"name\": \"w\"}"},
        {"from": "observation", "value": "5C"}, {"from": "gpt", "value": "It is 5C."},
        {"from": "user", "value": "Thanks"}, {"from": "assistant", "value": ""},
        {"from": "bot", "value": "Bye"}, {"from": "model", "value": "!"},
        {"from": "tool", "value": "x"}]},
     ["system", "user", "assistant", "tool", "assistant", "user", "assistant", "assistant",
      "assistant", "tool"]),
]


@pytest.mark.parametrize("name,data,roles", LEGIT_CHATS, ids=[c[0] for c in LEGIT_CHATS])
def test_every_legitimate_chat_role_is_accepted(name, data, roles):
    rec = make_record(1, json.dumps(data), data, detect_format(data), "in.jsonl")
    ex = rec.example()
    assert [m.role for m in ex.messages] == roles
    calls = [m.extra for m in ex.messages if "tool_calls" in m.extra]
    assert len(calls) == ("messages" in data)  # tool calls reach the chat template


def test_rebuild_survives_deep_nesting():
    """A deeply nested side field that json.loads accepts must not break a rewrite."""
    data = {"text": "x", "meta": json.loads("[" * 900 + "]" * 900)}
    rec = make_record(1, json.dumps(data), data, "text", "f")
    assert json.loads(rec.rebuilt({("text",): "y"}).raw)["text"] == "y"
