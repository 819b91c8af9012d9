"""Exact code obfuscation: rename the identifiers a code piece defines, deterministically.

A piece is a chunk of a source file (up to ~60 lines, often the middle of a function or a
class). Paraphrasing code with a small model breaks it; renaming is exact: only identifier
tokens change, and they change consistently, so the piece keeps its layout byte for byte and
(for Python, checked) its behaviour. Comments, docstrings and string literals are left to the
paraphraser.

    r = rename_identifiers(piece, seed=7)   # -> Renamed(text, mapping, language)

Python pieces (found by `ast.parse`, also after `textwrap.dedent` for indented bodies) are
renamed exactly and self-checked (`rename_python`); other languages go through pygments
and a conservative, language-agnostic rule (`rename_lexed`); new names are drawn
deterministically from (seed, old name) (`rename_common`).
"""
from __future__ import annotations

from .rename_common import PYTHON_NAMES, Renamed
from .rename_lexed import rename_lexed
from .rename_python import parse_piece, python_or_nothing, semicolon_lines

__all__ = ["Renamed", "parses", "rename_identifiers"]


def rename_identifiers(code: str, seed: int, language: str | None = None) -> Renamed:
    """Rename the identifiers `code` defines, deterministically for (`code`, `seed`).

    `language`: None to detect (Python first, then a pygments guess), "python", or any
    pygments lexer name/alias."""
    if language is not None and language.lower() in PYTHON_NAMES:
        return python_or_nothing(code, seed)
    if language is None:
        parsed = parse_piece(code)
        # C-like pieces such as `x = y;` parse as Python; a Python piece almost never ends
        # a line with `;`, so such a piece is left to the lexer guess.
        if parsed is not None and parsed[0].body and not semicolon_lines(parsed[1]):
            return python_or_nothing(code, seed)
    return rename_lexed(code, seed, language)


def parses(code: str, language: str) -> bool | None:
    """Whether `code` is syntactically valid: True/False for Python (`ast.parse`, also after
    dedenting, since pieces can be indented bodies), None where it cannot be checked."""
    if language.lower() not in PYTHON_NAMES:
        return None
    return parse_piece(code) is not None
