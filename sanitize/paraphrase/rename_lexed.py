"""Conservative renaming of non-Python pieces through a pygments lexer (see `rename_lexed`).

When the lexer guess is weak, or the piece is Python that does not parse, nothing is done.
"""
from __future__ import annotations

import re

from .rename_common import PYTHON_NAMES, WORD_RE, Renamed, assign_names

# pygments' own confidence in its guess. Below it, guesses of pieces are mostly wrong; above
# it they still often are (on mimir/github: Java guessed as Python at 1.0, PHP as Perl6 and
# Tcl as Objective-C at 0.8), which is why the rules below assume nothing about the language.
_MIN_GUESS_SCORE = 0.5
_DECL = frozenset({"var", "let", "const", "val", "my", "local", "auto", "int", "float",
                   "double", "char", "long", "short", "bool", "boolean", "unsigned", "signed",
                   "byte", "string"})
_FUNC = frozenset({"fn", "func", "function", "def", "fun", "sub", "proc"})
_MODIFIERS = frozenset({"mut"})  # `let mut x`
_KEEP_LEXED = frozenset({"this", "self", "super", "$this", "_", "it", "arguments"})
# languages where `f(x = 1)` is an assignment, never a named argument
_NO_EQ_KWARGS = frozenset({"c", "cpp", "c++", "objective-c", "objc", "java", "javascript", "js",
                           "typescript", "ts", "go", "rust", "php", "csharp", "c#", "perl",
                           "bash", "sh", "lua", "ruby", "swift", "dart", "arduino", "cuda"})
_IDENT = re.compile(r"^[$@%]?[^\W\d]\w*$")
_MEMBER = frozenset({".", "->", "::", "?.", "!."})
# a `{` after these opens an object literal / destructuring pattern / initializer, not code
_OBJECT_BEFORE = frozenset({"=", "(", ",", ":", "[", "?", "return", "const", "let", "var",
                            "yield", "in", "of", "&&", "||", "??"})
# a `{` in a statement with these opens a body whose declarations are members
_TYPE_KW = frozenset({"class", "struct", "union", "interface", "enum", "record", "object",
                      "impl", "trait", "namespace", "new", "extends", "implements", "module"})


def _lexer(code: str, language: str | None):
    """(lexer, alias) or None when there is none or the guess is weak."""
    from pygments.lexers import get_lexer_by_name, guess_lexer
    from pygments.lexers.special import TextLexer
    from pygments.util import ClassNotFound

    opts = {"stripnl": False, "ensurenl": False, "tabsize": 0}
    try:
        if language is not None:
            lexer = get_lexer_by_name(language, **opts)
        else:
            lexer = guess_lexer(code, **opts)
            if isinstance(lexer, TextLexer) or type(lexer).analyse_text(code) < _MIN_GUESS_SCORE:
                return None
    except ClassNotFound:
        return None
    alias = lexer.aliases[0] if lexer.aliases else lexer.name
    return lexer, alias


def rename_lexed(code: str, seed: int, language: str | None) -> Renamed:
    """The conservative, language-agnostic rule. A name is renamed only if
    - it is declared in the piece: right after a declaration keyword (`let x`, `int x`,
      `let mut x`) inside a code block `{...}` that the piece opens (not at the piece's top
      level, which may be file-level API, and not in a class/struct body, where it is a
      member), or a parameter in the list right after a function keyword
      (`function f(a, b = 1)`: a name between `(`/`,` and `,`/`)`/`=`); and its first
      occurrence is that declaration (else it comes from the rest of the file);
    - no occurrence is called (`x(`), a namespace (`x::`), a key, label or named argument
      (`{x: `, `(x: `, `(x = ` where that can be a named argument), an object-literal or
      destructuring entry (`{x, y}`), next to a string token (interpolation), a function's
      own name (`function x`), or inside a class/struct body;
    - its word appears in no other token but comments: not in a string, a macro, a keyword,
      a function/class/attribute/builtin token, and not with another sigil (`x` vs `$x`).
    Member accesses (`o.x`, `p->x`, `N::x`) are other names: left as they are. The lexer
    must produce no error token (a wrong or confused lexer). When unsure: nothing."""
    from pygments.token import Comment, Error, Name, String

    try:
        found = _lexer(code, language)
    except Exception:  # noqa: BLE001 - a lexer bug must not stop the pipeline
        return Renamed(code, {}, "")
    if found is None:
        return Renamed(code, {}, "")
    lexer, alias = found
    from pygments.lexers.python import Python2Lexer, PythonConsoleLexer, PythonLexer

    if isinstance(lexer, (PythonLexer, Python2Lexer, PythonConsoleLexer)) or alias in PYTHON_NAMES:
        return Renamed(code, {}, "")  # Python that does not parse: never guess around ast
    try:
        toks = list(lexer.get_tokens_unprocessed(code))
    except Exception:  # noqa: BLE001
        return Renamed(code, {}, "")
    if "".join(v for _, _, v in toks) != code or any(t in Error for _, t, _ in toks):
        return Renamed(code, {}, "")

    cand_types = (Name, Name.Variable, Name.Other)

    def is_cand(t, v: str) -> bool:
        return t in cand_types and bool(_IDENT.match(v))

    def core(v: str) -> str:
        return v.lstrip("$@%")

    blocked: set[str] = set()  # cores never renamed
    for _, t, v in toks:
        plain_comment = t in Comment and t not in Comment.Preproc and t not in Comment.PreprocFile
        if not plain_comment and not is_cand(t, v):
            blocked.update(WORD_RE.findall(v))  # strings, macros, keywords, API names

    sig = [i for i, (_, t, v) in enumerate(toks) if v.strip() and t not in Comment]
    named_args = not ({alias, *lexer.aliases} & _NO_EQ_KWARGS)
    first: dict[str, str] = {}  # full token -> "decl" or "use", from its first occurrence
    forms: dict[str, set[str]] = {}  # core -> full tokens seen (`x`, `$x`)
    rename_at: dict[str, list[int]] = {}  # full token -> offsets to rewrite
    stack: list[str] = []  # open brackets: "(", "[", or a brace kind "type"/"block"/"object"
    type_statement = False  # a type keyword since the last `;`, `{`, `}`
    pending_params = False  # a function keyword, waiting for its `(`
    param_depth: int | None = None  # len(stack) inside that parameter list
    for k, i in enumerate(sig):
        offset, t, v = toks[i]
        prev = toks[sig[k - 1]][2] if k else ""
        prev2 = toks[sig[k - 2]][2] if k > 1 else ""
        # a declaration keyword is a keyword/type token, never a name (`string match` in
        # Tcl), on the same line (Go's `cw int` + newline + `num int` is no `int num`)
        prev_kw = k > 0 and not is_cand(*toks[sig[k - 1]][1:]) and "\n" not in code[
            toks[sig[k - 1]][0]:offset]
        prev2_kw = k > 1 and not is_cand(*toks[sig[k - 2]][1:]) and "\n" not in code[
            toks[sig[k - 2]][0]:offset]
        nxt = toks[sig[k + 1]][2] if k + 1 < len(sig) else ""
        if v in _TYPE_KW:  # whatever the token type: a wrong lexer may call `struct` a name
            type_statement = True
        if not is_cand(t, v):
            if t in String:  # `${x}` ends with a "}" that closes no block
                continue
            if v in _FUNC:
                pending_params = True
            if v in ("(", "["):
                if v == "(" and pending_params and param_depth is None:
                    param_depth, pending_params = len(stack) + 1, False
                stack.append(v)
            elif v == "{":
                # after a name (`message Foo {`, `throws IOException {`): maybe a type body
                prev_name = k > 0 and toks[sig[k - 1]][1] in Name
                kind = ("type" if type_statement or prev_name
                        else "object" if prev in _OBJECT_BEFORE else "block")
                stack.append(kind)
                type_statement = pending_params = False
            elif v in (")", "]", "}"):
                if stack:
                    stack.pop()
                if param_depth is not None and len(stack) < param_depth:
                    param_depth = None
                if v == "}":
                    type_statement = False
            elif v == ";":
                type_statement = pending_params = False
            continue
        c = core(v)
        forms.setdefault(c, set()).add(v)
        braces = [b for b in stack if b not in ("(", "[")]
        brace = braces[-1] if braces else None
        if c in _KEEP_LEXED or v in _KEEP_LEXED or (stack and stack[-1] == "type"):
            blocked.add(c)  # conventions, or members of a class/struct body
            continue
        if prev in _MEMBER:
            continue  # another name: the member of something, left as it is
        if any(m in prev for m in ("\\", "::", "->")) or (prev.endswith(".") and prev != ".."):
            blocked.add(c)  # punctuation merged with an access operator: unsure
            continue
        if (i > 0 and toks[i - 1][1] in String) or (i + 1 < len(toks) and toks[i + 1][1] in String):
            blocked.add(c)  # interpolation: `${x}`, `#{x}`
            continue
        if prev in _FUNC or pending_params or nxt.startswith(("(", "::")):
            blocked.add(c)  # a function's own name, a call, a namespace: API names
            continue
        if nxt == ":" and prev in ("{", ",", "(", ";", "}", ""):
            blocked.add(c)  # a key, a label, a named argument
            continue
        if brace == "object" and prev in ("{", ",") and nxt in (",", "}", "=", ":"):
            blocked.add(c)  # object literal / destructuring entry: the name is also a key
            continue
        in_params = param_depth is not None and len(stack) == param_depth
        is_param = in_params and prev in ("(", ",") and nxt in (",", ")", "=")
        if named_args and not is_param and prev in ("(", ",") and nxt == "=":
            blocked.add(c)  # may be a named argument
            continue
        is_decl = brace == "block" and (
            (prev_kw and prev in _DECL)
            or (prev_kw and prev in _MODIFIERS and prev2_kw and prev2 in _DECL))
        first.setdefault(v, "decl" if (is_decl or is_param) else "use")
        rename_at.setdefault(v, []).append(offset)

    chosen = [v for v, how in first.items()
              if how == "decl" and core(v) not in blocked and len(forms[core(v)]) == 1]
    if not chosen:
        return Renamed(code, {}, alias)
    mapping = assign_names(chosen, seed, code)
    out, last = [], 0
    for offset, old in sorted((o, v) for v in chosen for o in rename_at[v]):
        out += [code[last:offset], mapping[old]]
        last = offset + len(old)
    out.append(code[last:])
    return Renamed("".join(out), mapping, alias)
