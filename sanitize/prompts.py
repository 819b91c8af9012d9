"""Paraphrase prompt templates: one per content kind (text, code, chat), overridable by a file.

A template is a Markdown file: the system message, a line `<!-- user -->`, then the user message
with a `{text}` placeholder where the segment goes (plain `str.replace`, so braces in code are
safe). Before `<!-- user -->` it may hold worked examples, each a `<!-- example user -->` part
and an `<!-- example assistant -->` part: they become earlier chat turns, which shows a small
model the expected answer (the rewrite alone, no chatter) better than instructions do. The templates ship inside the wheel as `sanitize/prompts/` (pyproject force-include); in a
source checkout they are read from the repository's top-level `prompts/`.

Every template is hashed; the hash goes into cache keys and the manifest, so editing a prompt
never reuses paraphrases made with the old one.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

KINDS = ("text", "code", "chat")
USER_MARKER = "<!-- user -->"
EXAMPLE_USER = "<!-- example user -->"
EXAMPLE_ASSISTANT = "<!-- example assistant -->"
PLACEHOLDER = "{text}"


@dataclass(frozen=True)
class PromptTemplate:
    kind: str
    system: str
    user: str  # contains PLACEHOLDER
    source: str  # file it came from, for messages
    examples: tuple[tuple[str, str], ...] = ()  # (user turn, assistant turn) shown first

    @property
    def sha256(self) -> str:
        parts = [self.system, self.user] + [t for pair in self.examples for t in pair]
        return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()

    def messages(self, text: str) -> list[dict]:
        """Chat messages for one segment; the text is data inside the last user turn."""
        msgs = [{"role": "system", "content": self.system}] if self.system else []
        for user, assistant in self.examples:
            msgs += [{"role": "user", "content": user},
                     {"role": "assistant", "content": assistant}]
        return msgs + [{"role": "user", "content": self.user.replace(PLACEHOLDER, text)}]


def prompts_dir() -> Path:
    """`sanitize/prompts/` in an installed wheel, else `<repo>/prompts/` in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "prompts", here.parent / "prompts"):
        if (candidate / "text.md").is_file():
            return candidate
    raise InputError(f"prompt templates not found in {here / 'prompts'} or {here.parent / 'prompts'}")


def parse_template(content: str, kind: str, source: str) -> PromptTemplate:
    if USER_MARKER in content:
        head, user = content.split(USER_MARKER, 1)
    else:  # a file without the marker is a single user message
        head, user = "", content
    system, *shots = head.split(EXAMPLE_USER)
    examples = []
    for shot in shots:
        if EXAMPLE_ASSISTANT not in shot:
            raise InputError(f"prompt template: an {EXAMPLE_USER} part has no "
                             f"{EXAMPLE_ASSISTANT} part", source)
        ex_user, ex_assistant = shot.split(EXAMPLE_ASSISTANT, 1)
        examples.append((ex_user.strip(), ex_assistant.strip()))
    system, user = system.strip(), user.strip()
    if PLACEHOLDER not in user:
        raise InputError(f"prompt template has no {PLACEHOLDER} placeholder in its user part",
                         source)
    return PromptTemplate(kind, system, user, source, tuple(examples))


def load_template(kind: str, prompt_file: str | None = None,
                  prompt_dir: str | None = None) -> PromptTemplate:
    """The template for one content kind; `prompt_file` replaces all kinds with one file,
    `prompt_dir` is a folder of `text.md`, `code.md` and `chat.md` instead of the shipped one."""
    if kind not in KINDS:
        raise InputError(f"unknown content type {kind!r}; choose one of {', '.join(KINDS)}")
    folder = Path(prompt_dir) if prompt_dir else prompts_dir()
    path = Path(prompt_file) if prompt_file else folder / f"{kind}.md"
    try:
        content = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("prompt file not found", str(path)) from None
    return parse_template(content, kind, str(path))


def load_templates(prompt_file: str | None = None,
                   prompt_dir: str | None = None) -> dict[str, PromptTemplate]:
    return {kind: load_template(kind, prompt_file, prompt_dir) for kind in KINDS}
