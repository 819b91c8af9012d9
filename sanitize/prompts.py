"""Paraphrase prompt templates: one per content kind (text, code, chat), overridable by a file.

A template is a Markdown file: the system message, a line `<!-- user -->`, then the user message
with a `{text}` placeholder where the segment goes (plain `str.replace`, so braces in code are
safe). The templates ship inside the wheel as `sanitize/prompts/` (pyproject force-include); in a
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
PLACEHOLDER = "{text}"


@dataclass(frozen=True)
class PromptTemplate:
    kind: str
    system: str
    user: str  # contains PLACEHOLDER
    source: str  # file it came from, for messages

    @property
    def sha256(self) -> str:
        return hashlib.sha256(f"{self.system}\0{self.user}".encode("utf-8")).hexdigest()

    def messages(self, text: str) -> list[dict]:
        """Chat messages for one segment; the text is data inside the user turn."""
        msgs = [{"role": "system", "content": self.system}] if self.system else []
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
        system, user = content.split(USER_MARKER, 1)
    else:  # a file without the marker is a single user message
        system, user = "", content
    system, user = system.strip(), user.strip()
    if PLACEHOLDER not in user:
        raise InputError(f"prompt template has no {PLACEHOLDER} placeholder in its user part",
                         source)
    return PromptTemplate(kind, system, user, source)


def load_template(kind: str, prompt_file: str | None = None) -> PromptTemplate:
    """The template for one content kind; `prompt_file` replaces all kinds with one file."""
    if kind not in KINDS:
        raise InputError(f"unknown content type {kind!r}; choose one of {', '.join(KINDS)}")
    path = Path(prompt_file) if prompt_file else prompts_dir() / f"{kind}.md"
    try:
        content = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("prompt file not found", str(path)) from None
    return parse_template(content, kind, str(path))


def load_templates(prompt_file: str | None = None) -> dict[str, PromptTemplate]:
    return {kind: load_template(kind, prompt_file) for kind in KINDS}
