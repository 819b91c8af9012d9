"""Fine-tuning record formats: detect a schema, expose editable text segments, rebuild records.

One `Record` type flows through every stage. A format adapter knows two things about a parsed
JSON object:
- `segments`: every string a paraphraser may rewrite, addressed by a JSON path, flagged
  `trainable` when a trainer learns from it (text, completion, assistant turns, Alpaca output);
- `example`: what a trainer sees, as an ordered list of `Message`s (role, text, trainable), and
  whether it is rendered through the chat template (`chat=True`) or concatenated as plain text.

Rebuilding never re-serialises an untouched record: `Record.raw` is written back byte-for-byte.
A changed record is a deep copy of the parsed object with new strings at the segment paths, so
every other field and the key order survive.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import InputError

Path = tuple  # JSON path: keys (str) and list indices (int)


@dataclass(frozen=True)
class Segment:
    path: Path
    text: str
    role: str  # "text", "prompt", "completion", "system", "user", "assistant", "tool", ...
    trainable: bool


@dataclass(frozen=True)
class Message:
    role: str
    text: str
    trainable: bool
    extra: dict = field(default_factory=dict)  # e.g. tool_calls, passed to the chat template


@dataclass(frozen=True)
class Example:
    """What a trainer sees. chat=False: messages are concatenated plain text (text or
    prompt/completion); chat=True: rendered through the tokenizer's chat template."""

    messages: tuple[Message, ...]
    chat: bool
    tools: Any = None


@dataclass
class Record:
    line_no: int
    raw: str  # the line exactly as read, without its newline
    data: dict
    fmt: str
    id: str
    id_is_synthetic: bool

    @property
    def format(self) -> Format:
        return FORMATS[self.fmt]

    def segments(self, trainable_only: bool = True) -> list[Segment]:
        segs = self.format.segments(self.data)
        return [s for s in segs if s.trainable or not trainable_only]

    def example(self) -> Example:
        return self.format.example(self.data)

    def trainable_text(self) -> str:
        """The text a trainer learns from, joined; used for hashing and duplicate detection."""
        return "\n".join(s.text for s in self.segments())

    def content_hash(self) -> str:
        return hashlib.sha256(self.raw.encode("utf-8")).hexdigest()

    def rebuilt(self, new_texts: dict[Path, str]) -> Record:
        """A copy of this record with new strings at the given segment paths."""
        if not new_texts:
            return self
        known = {s.path for s in self.segments(trainable_only=False)}
        # A JSON round trip is an exact copy of JSON data, and unlike copy.deepcopy it does not
        # hit Python's recursion limit on a deeply nested field that json.loads accepted.
        data = json.loads(json.dumps(self.data, ensure_ascii=False))
        for path, text in new_texts.items():
            if tuple(path) not in known:
                raise ValueError(f"{path!r} is not a text segment of record {self.id}")
            _set_path(data, tuple(path), text)
        raw = json.dumps(data, ensure_ascii=False)
        return Record(self.line_no, raw, data, self.fmt, self.id, self.id_is_synthetic)


def _set_path(obj: Any, path: Path, value: str) -> None:
    for key in path[:-1]:
        obj = obj[key]
    obj[path[-1]] = value


# ---------------------------------------------------------------------------------------------
# Formats


class FormatError(ValueError):
    """A record does not fit its format; make_record reports it as an InputError on its line."""


@dataclass(frozen=True)
class Format:
    name: str
    description: str
    matches: Callable[[dict], bool]
    segments: Callable[[dict], list[Segment]]
    example: Callable[[dict], Example]


def _need_str(data: dict, key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise FormatError(f"field {key!r} must be a string, got {type(value).__name__}")
    return value


# -- text ---------------------------------------------------------------------------------------


def _text_segments(d: dict) -> list[Segment]:
    return [Segment(("text",), _need_str(d, "text"), "text", True)]


def _text_example(d: dict) -> Example:
    return Example((Message("text", _need_str(d, "text"), True),), chat=False)


# -- chat messages (OpenAI / TRL) --------------------------------------------------------------

# Every role a chat file may use, mapped to the role the chat template sees. OpenAI and ShareGPT
# names both appear in the wild (converters mix them), so both formats accept all of them; any
# other role is a typo or a different schema, and a silently mis-roled turn would be scored (and
# trained) wrongly, so it is rejected with its line. "developer" is OpenAI's newer name for the
# system turn; "ipython" is Llama 3.1's name for a tool result.
_ROLE_ALIASES = {"human": "user", "gpt": "assistant", "bot": "assistant", "model": "assistant",
                 "system": "system", "developer": "system", "user": "user",
                 "assistant": "assistant", "tool": "tool", "function": "tool", "ipython": "tool",
                 "function_call": "assistant", "observation": "tool"}


def _short(value: Any, limit: int = 40) -> str:
    """repr() for an error message: one line (repr escapes newlines), never a whole field."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _message_parts(msg: dict, base: Path, content_key: str = "content") -> list[tuple[Path, str]]:
    """(path, text) of every text piece of one message: a string content, or OpenAI content
    parts [{"type": "text", "text": ...}]. None content (tool-call-only turns) has no text."""
    content = msg.get(content_key)
    if content is None:
        return []
    if isinstance(content, str):
        return [(base + (content_key,), content)]
    if isinstance(content, list):
        out = []
        for k, part in enumerate(content):
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                out.append((base + (content_key, k, "text"), part["text"]))
        return out
    raise FormatError(f"message content at {'/'.join(map(str, base))} must be a string or a list")


def _is_trainable_message(msg: dict, role: str) -> bool:
    # OpenAI's fine-tuning format: weight 0 excludes an assistant turn from the loss.
    return role == "assistant" and msg.get("weight", 1) != 0


def _check_role(msg: dict, where: str, role_key: str) -> str:
    """The template role of one message; raise on a missing or unknown role."""
    role = msg.get(role_key)
    if not isinstance(role, str):
        raise FormatError(f"{where} has no {role_key!r} string")
    if role not in _ROLE_ALIASES:
        raise FormatError(f"{where} has unknown {role_key} {_short(role)}; expected one of "
                         + ", ".join(_ROLE_ALIASES))
    return _ROLE_ALIASES[role]


def _check_tool_calls(msg: dict, where: str) -> bool:
    """Whether the message calls a tool; raise on a malformed call, which the chat template
    would otherwise choke on (or render as garbage) long after reading."""
    calls = msg.get("tool_calls")
    if calls is not None and not (isinstance(calls, list)
                                  and all(isinstance(c, dict) for c in calls)):
        raise FormatError(f"{where}: 'tool_calls' must be a list of objects")
    legacy = msg.get("function_call")  # OpenAI's pre-tools single call
    if legacy is not None and not isinstance(legacy, dict):
        raise FormatError(f"{where}: 'function_call' must be an object")
    return bool(calls) or legacy is not None


def _check_content(msg: dict, where: str, role: str, content_key: str, parts: bool) -> None:
    """A message's text must be a string (or, where `parts`, a list of OpenAI content parts).
    Only an assistant turn that calls a tool may have none: its content is null or absent."""
    content = msg.get(content_key)
    calls = _check_tool_calls(msg, where) if parts else False
    if isinstance(content, str):
        return
    if content is None:
        if role == "assistant" and calls:
            return
        raise FormatError(f"{where} has no {content_key!r} string"
                         + (" (nor tool_calls)" if role == "assistant" and parts else ""))
    if parts and isinstance(content, list):
        for k, part in enumerate(content):
            if not isinstance(part, dict):
                raise FormatError(f"{where}.{content_key}[{k}] must be an object")
            if ("text" in part or part.get("type") == "text") and not isinstance(
                    part.get("text"), str):
                raise FormatError(f"{where}.{content_key}[{k}] has no 'text' string")
        return
    kinds = "a string or a list of content parts" if parts else "a string"
    raise FormatError(f"{where}: {content_key!r} must be {kinds}, got {type(content).__name__}")


def _messages(d: dict, key: str, role_key: str = "role", content_key: str = "content",
              base: Path | None = None, parts: bool = True) -> list[tuple[Path, dict, str]]:
    """(path, message, template role) of every message of a list, each one validated, so a bad
    turn is reported with its line at read time rather than crashing a model stage later.
    `parts`: OpenAI-style messages (content parts, tool calls); ShareGPT has only strings."""
    msgs = d.get(key)
    if not isinstance(msgs, list) or not msgs:
        raise FormatError(f"field {key!r} must be a non-empty list of messages")
    out = []
    for i, msg in enumerate(msgs):
        where = f"{key}[{i}]"
        if not isinstance(msg, dict):
            raise FormatError(f"{where} must be an object")
        role = _check_role(msg, where, role_key)
        _check_content(msg, where, role, content_key, parts)
        out.append(((base or ()) + (key, i), msg, role))
    return out


def _chat_segments_from(entries, content_key="content", force_untrainable=False) -> list[Segment]:
    segs = []
    for path, msg, role in entries:
        trainable = _is_trainable_message(msg, role) and not force_untrainable
        for p, text in _message_parts(msg, path, content_key):
            segs.append(Segment(p, text, role, trainable))
    return segs


def _chat_messages_from(entries, content_key="content", force_untrainable=False) -> list[Message]:
    out = []
    for path, msg, role in entries:
        text = "".join(t for _, t in _message_parts(msg, path, content_key))
        extra = {k: msg[k] for k in ("tool_calls", "name", "tool_call_id") if k in msg}
        trainable = _is_trainable_message(msg, role) and not force_untrainable
        out.append(Message(role, text, trainable, extra))
    return out


def _messages_segments(d: dict) -> list[Segment]:
    return _chat_segments_from(_messages(d, "messages"))


def _messages_example(d: dict) -> Example:
    return Example(tuple(_chat_messages_from(_messages(d, "messages"))), chat=True,
                   tools=d.get("tools"))


# -- prompt / completion (string and conversational) -------------------------------------------


def _pc_is_conversational(d: dict) -> bool:
    return isinstance(d.get("prompt"), list) or isinstance(d.get("completion"), list)


def _pc_segments(d: dict) -> list[Segment]:
    if not _pc_is_conversational(d):
        return [Segment(("prompt",), _need_str(d, "prompt"), "prompt", False),
                Segment(("completion",), _need_str(d, "completion"), "completion", True)]
    prompt = _chat_segments_from(_messages(d, "prompt"), force_untrainable=True)
    completion = _chat_segments_from(_messages(d, "completion"))
    return prompt + completion


def _pc_example(d: dict) -> Example:
    if not _pc_is_conversational(d):
        return Example((Message("prompt", _need_str(d, "prompt"), False),
                        Message("completion", _need_str(d, "completion"), True)), chat=False)
    msgs = (_chat_messages_from(_messages(d, "prompt"), force_untrainable=True)
            + _chat_messages_from(_messages(d, "completion")))
    return Example(tuple(msgs), chat=True, tools=d.get("tools"))


# -- Alpaca --------------------------------------------------------------------------------------


def _alpaca_segments(d: dict) -> list[Segment]:
    segs = [Segment(("instruction",), _need_str(d, "instruction"), "user", False)]
    if isinstance(d.get("input"), str) and d["input"]:
        segs.append(Segment(("input",), d["input"], "user", False))
    segs.append(Segment(("output",), _need_str(d, "output"), "assistant", True))
    return segs


def _alpaca_example(d: dict) -> Example:
    # The instruction and optional input form one user turn, as common Alpaca-to-chat
    # conversions do; the output is the assistant turn the trainer learns from.
    user = _need_str(d, "instruction")
    if isinstance(d.get("input"), str) and d["input"]:
        user = f"{user}\n\n{d['input']}"
    msgs = []
    if isinstance(d.get("system"), str) and d["system"]:
        msgs.append(Message("system", d["system"], False))
    msgs += [Message("user", user, False), Message("assistant", _need_str(d, "output"), True)]
    return Example(tuple(msgs), chat=True)


# -- ShareGPT ------------------------------------------------------------------------------------


def _sharegpt_entries(d: dict):
    return _messages(d, "conversations", role_key="from", content_key="value", parts=False)


def _sharegpt_segments(d: dict) -> list[Segment]:
    segs = []
    if isinstance(d.get("system"), str) and d["system"]:
        segs.append(Segment(("system",), d["system"], "system", False))
    return segs + _chat_segments_from(_sharegpt_entries(d), content_key="value")


def _sharegpt_example(d: dict) -> Example:
    msgs = []
    if isinstance(d.get("system"), str) and d["system"]:
        msgs.append(Message("system", d["system"], False))
    msgs += _chat_messages_from(_sharegpt_entries(d), content_key="value")
    return Example(tuple(msgs), chat=True, tools=d.get("tools"))


FORMATS: dict[str, Format] = {
    f.name: f
    for f in [
        Format("messages", "chat: {'messages': [{'role', 'content'}, ...]} (OpenAI/TRL)",
               lambda d: "messages" in d, _messages_segments, _messages_example),
        Format("sharegpt", "ShareGPT: {'conversations': [{'from', 'value'}, ...]}",
               lambda d: "conversations" in d, _sharegpt_segments, _sharegpt_example),
        Format("prompt-completion", "{'prompt', 'completion'} (strings or message lists)",
               lambda d: "prompt" in d and "completion" in d, _pc_segments, _pc_example),
        Format("alpaca", "Alpaca: {'instruction', 'input', 'output'}",
               lambda d: "instruction" in d and "output" in d, _alpaca_segments, _alpaca_example),
        Format("text", "plain text: {'text'}", lambda d: "text" in d, _text_segments,
               _text_example),
    ]
}
FORMAT_NAMES = ["auto", *FORMATS]


def detect_format(data: dict) -> str | None:
    """The first format whose keys the object has (order matters: chat before text)."""
    for fmt in FORMATS.values():
        if fmt.matches(data):
            return fmt.name
    return None


def key_list(data: dict, limit: int = 10) -> str:
    """The sorted keys of an object for a one-line error message, a long list cut short."""
    keys = sorted(data)
    shown = ", ".join(_short(k) for k in keys[:limit])
    return f"[{shown}{', ...' if len(keys) > limit else ''}]"


def synthetic_id(line_no: int, raw: str) -> str:
    """Stable id for records without one: line number plus content hash (never written into
    the data, only into the manifest)."""
    return f"line{line_no}-{hashlib.sha256(raw.encode('utf-8')).hexdigest()[:10]}"


def make_record(line_no: int, raw: str, data: Any, fmt: str, path: str) -> Record:
    """Validate one parsed line against `fmt` and wrap it; raise InputError naming the line."""
    if not isinstance(data, dict):
        raise InputError(f"expected a JSON object, got {type(data).__name__}", path, line_no)
    if not FORMATS[fmt].matches(data):
        raise InputError(f"record does not match format {fmt!r}; its keys are {key_list(data)}",
                         path, line_no)
    try:
        segs = FORMATS[fmt].segments(data)
        FORMATS[fmt].example(data)
    except FormatError as exc:
        raise InputError(str(exc), path, line_no) from None
    if not any(s.trainable and s.text.strip() for s in segs):
        raise InputError("record has no trainable text (empty completion/assistant/output/text)",
                         path, line_no)
    rid = data.get("id")
    if isinstance(rid, (str, int)) and not isinstance(rid, bool) and str(rid):
        return Record(line_no, raw, data, fmt, str(rid), False)
    return Record(line_no, raw, data, fmt, synthetic_id(line_no, raw), True)
