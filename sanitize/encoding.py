"""Turn a record's Example into token ids plus the mask of tokens a trainer learns from.

Every stage that touches a model (warm-up, risk scoring, audit fine-tune, attacks) goes through
`encode`, so what we score is exactly what a trainer would train on, after the same truncation.

- Plain examples (text, string prompt/completion): segments are tokenized separately and
  concatenated (as TRL does), BOS first when the tokenizer adds one, EOS last and trainable.
- Chat examples: the whole conversation is rendered with the tokenizer's chat template. A
  trainable assistant turn spans from the end of the rendering of the turns before it *with the
  generation prompt* to the end of the rendering that includes it, so its end-of-turn token is
  trained too. Those character spans are mapped onto tokens with the tokenizer's offsets, which
  is immune to BPE merges across the boundary. A template whose renderings are not prefixes of
  each other cannot be masked safely, and we fail loudly instead of guessing.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import InputError, SanitizeError
from .records import Example, Record

# Used only when a tokenizer ships no chat template (tiny test tokenizers, base models):
# ChatML, the format of the embedded SmolLM2.
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    trainable: list[bool]  # per token: does the trainer compute loss on it?
    truncated: bool
    full_length: int  # tokens before truncation

    @property
    def n_trainable(self) -> int:
        return sum(self.trainable)


class MaskError(SanitizeError):
    """A record has no trainable token (after truncation) or a template cannot be masked."""


def _chat_dicts(example: Example) -> list[dict]:
    return [{"role": m.role, "content": m.text, **m.extra} for m in example.messages]


def _render(tokenizer, messages: list[dict], tools, add_generation_prompt: bool) -> str:
    template = getattr(tokenizer, "chat_template", None) or CHATML_TEMPLATE
    kwargs = {"tools": tools} if tools else {}
    return tokenizer.apply_chat_template(messages, tokenize=False, chat_template=template,
                                         add_generation_prompt=add_generation_prompt, **kwargs)


def _encode_chat(example: Example, tokenizer) -> tuple[list[int], list[bool]]:
    msgs = _chat_dicts(example)
    full = _render(tokenizer, msgs, example.tools, add_generation_prompt=False)
    spans = []
    for i, m in enumerate(example.messages):
        if not m.trainable:
            continue
        before = _render(tokenizer, msgs[:i], example.tools, add_generation_prompt=True) if i else ""
        upto = _render(tokenizer, msgs[: i + 1], example.tools, add_generation_prompt=False)
        if not (full.startswith(upto) and upto.startswith(before)):
            raise MaskError("the chat template's renderings are not prefixes of each other, so "
                            "assistant tokens cannot be masked reliably")
        spans.append((len(before), len(upto)))
    enc = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(enc["input_ids"])
    mask = [any(s < end and e > start for start, end in spans) and e > s
            for (s, e) in enc["offset_mapping"]]
    return ids, mask


def _encode_plain(example: Example, tokenizer) -> tuple[list[int], list[bool]]:
    ids: list[int] = []
    mask: list[bool] = []
    if getattr(tokenizer, "add_bos_token", False) and tokenizer.bos_token_id is not None:
        ids.append(tokenizer.bos_token_id)
        mask.append(False)
    for m in example.messages:
        toks = tokenizer(m.text, add_special_tokens=False)["input_ids"]
        ids += toks
        mask += [m.trainable] * len(toks)
    if tokenizer.eos_token_id is not None:  # the trainer learns where a text ends
        ids.append(tokenizer.eos_token_id)
        mask.append(example.messages[-1].trainable)
    return ids, mask


def encode(example: Example, tokenizer, max_length: int | None = None) -> Encoded:
    """Token ids and trainable mask, truncated on the right to `max_length` tokens."""
    ids, mask = (_encode_chat if example.chat else _encode_plain)(example, tokenizer)
    if not any(mask):
        raise MaskError("record has no trainable tokens")
    full_length = len(ids)
    truncated = max_length is not None and full_length > max_length
    if truncated:
        ids, mask = ids[:max_length], mask[:max_length]
        if not any(mask):
            raise MaskError(f"no trainable token is left within --max-length {max_length} "
                            f"(the record has {full_length} tokens); raise --max-length")
    return Encoded(ids, mask, truncated, full_length)


def encode_records(records: list[Record], tokenizer, max_length: int | None,
                   source_path: str = "<input>") -> list[Encoded]:
    """Encode every record; a record that cannot be masked is an input error at its line."""
    out = []
    for r in records:
        try:
            out.append(encode(r.example(), tokenizer, max_length))
        except MaskError as exc:
            raise InputError(f"record {r.id!r}: {exc}", source_path, r.line_no) from None
    return out
