"""Which prompt a segment gets: code, a chat turn, or plain text.

Detection is a cheap per-segment heuristic, overridable with `--content-type`. Code is
recognised by the share of lines that look like code (ending in `;{}):`, starting with a keyword,
or indented blocks with symbols) and by symbol density; prose with a short inline snippet stays
text. A chat turn (assistant/user/... role of a conversation) that is not code gets the chat
prompt, which also asks to keep the conversational tone and code blocks.
"""
from __future__ import annotations

import re

_CHAT_ROLES = {"assistant", "user", "system", "tool"}
_CODE_START = re.compile(
    r"^\s*(def |class |import |from \S+ import|#include|#define|public |private |protected |"
    r"static |function\b|func |fn |let |const |var |return\b|if\s*\(|for\s*\(|while\s*\(|"
    r"package |using |namespace |template\s*<|@\w+|<\?php|<[a-zA-Z!/][^>]*>\s*$|[\w.]+\s*=\s*[^=])")
_CODE_END = re.compile(r"[;{}()\[\]:,]\s*$|^\s*[})\]]")
_SYMBOLS = set("{}[]()<>;=_#/*\\|&$@")


def code_score(text: str) -> float:
    """Fraction (0..1) of non-blank lines that look like code, blended with symbol density."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return 0.0
    codey = sum(1 for ln in lines if _CODE_START.match(ln) or _CODE_END.search(ln))
    symbols = sum(ch in _SYMBOLS for ch in text) / max(1, len(text.strip()))
    # Prose has ~1% of these symbols, code 5-15%; cap the symbol part at 1 for 10%.
    return 0.7 * codey / len(lines) + 0.3 * min(1.0, symbols / 0.10)


def is_code(text: str, threshold: float = 0.5) -> bool:
    return code_score(text) >= threshold


def segment_kind(text: str, role: str, override: str = "auto") -> str:
    """'code', 'chat' or 'text' for one segment; `override` (not 'auto') always wins."""
    if override != "auto":
        return override
    if is_code(text):
        return "code"
    if role in _CHAT_ROLES:
        return "chat"
    return "text"
