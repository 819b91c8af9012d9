"""Exact renaming of Python pieces (`ast` for scopes, `tokenize` for spans).

A piece that parses (`ast.parse`, also after `textwrap.dedent` for indented bodies) is
handled exactly: `ast` gives the scopes and which names the piece defines, `tokenize` gives
the NAME tokens, and only those tokens' spans are rewritten. Renamed: parameters, locals and
nested functions/classes of the functions in the piece, private (`_x`) module-level names,
and the top-level locals of an indented piece that is visibly a function body (it returns,
yields, awaits or uses `self`). Never renamed: builtins, imported names, names the piece
only uses (they belong to the rest of the file), attributes, call-site keywords (and
parameters used as one), keyword-only parameters (callers can only name them), dunders,
`self`/`cls`/`_`, class-level names (they are attributes: methods, fields), public
module-level names (the module's API), names that appear as a whole string literal
(`__all__`, `getattr(o, "x")`, `__slots__`) or inside an f-string, and every name of a
scope that calls `locals()`/`vars()`/`eval`/`exec`/`globals()`/`dir()`. A name is renamed
everywhere or nowhere: if one of its occurrences fails a rule, none is renamed. The result
is checked before it is returned: it must parse, and its AST with the mapping undone must
equal the original AST (so only identifiers changed, exactly as the mapping says).
Known gaps, kept on purpose: names reached through strings that are not a whole identifier
(`getattr(o, "get_" + k)`, `"{x}".format(**locals())` is caught, `**{"x": 1}` is not),
string annotations, `__name__`/`__qualname__` of renamed nested functions, and callers
outside the piece that pass a renamed parameter by keyword.
"""
from __future__ import annotations

import ast
import bisect
import io
import itertools
import textwrap
import tokenize
import warnings

from .rename_common import RESERVED, Renamed, assign_names


def _replace_spans(text: str, edits: list[tuple[int, int, str, str]]) -> str | None:
    """Replace (line, col, old, new) spans; None if a span does not hold `old`."""
    lines = io.StringIO(text).readlines()  # split on "\n" only, like tokenize
    by_line: dict[int, list[tuple[int, str, str]]] = {}
    for row, col, old, new in edits:
        by_line.setdefault(row, []).append((col, old, new))
    for row, spans in by_line.items():
        line = lines[row - 1]
        for col, old, new in sorted(spans, reverse=True):
            if line[col:col + len(old)] != old:
                return None
            line = line[:col] + new + line[col + len(old):]
        lines[row - 1] = line
    return "".join(lines)



def parse_piece(code: str) -> tuple[ast.Module, str, bool] | None:
    """(tree, parsed text, indented) for the piece as is or dedented; None if neither parses."""
    for text in (code, textwrap.dedent(code)):
        try:
            with warnings.catch_warnings():  # "invalid escape sequence" and the like
                warnings.simplefilter("ignore")
                return ast.parse(text), text, text is not code
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
    return None


def semicolon_lines(text: str) -> bool:
    try:
        toks = [t for t in tokenize.generate_tokens(io.StringIO(text).readline)
                if t.type not in (tokenize.COMMENT, tokenize.NL)]
    except (tokenize.TokenError, SyntaxError):
        return False
    return any(a.type == tokenize.OP and a.string == ";" and b.type == tokenize.NEWLINE
               for a, b in itertools.pairwise(toks))


def python_or_nothing(code: str, seed: int) -> Renamed:
    try:
        return _rename_python(code, seed)
    except (_Unsafe, RecursionError):  # the walk recurses: a 1000-term `a + b + ...` ends here
        return Renamed(code, {}, "")


class _Unsafe(Exception):
    """The piece cannot be renamed safely (does not parse, tokens do not line up, or the
    self-check failed): the caller returns it unchanged."""


_INTROSPECTIVE = frozenset({"locals", "vars", "globals", "eval", "exec", "dir"})
_NEVER = frozenset({"self", "cls", "_"})


class _Scope:
    """One Python scope. kind: "module" (a top-level piece), "body" (an indented piece that
    is a function body), "opaque" (an indented piece that may be a class body or a module
    block: its names are never renamed), "class", "function", "comp" (comprehension)."""

    def __init__(self, kind: str, parent: _Scope | None):
        self.kind, self.parent = kind, parent
        self.bound: set[str] = set()
        self.params: set[str] = set()
        self.globals: set[str] = set()
        self.nonlocals: set[str] = set()
        self.first: dict[str, str] = {}  # name -> kind of its first occurrence, in run order
        self.introspective = False


class _Tokens:
    """The NAME tokens of the parsed text, to turn ast positions into exact token spans."""

    def __init__(self, text: str):
        self.lines = io.StringIO(text).readlines()
        try:
            toks = list(tokenize.generate_tokens(io.StringIO(text).readline))
        except (tokenize.TokenError, SyntaxError) as e:
            raise _Unsafe(str(e)) from None
        self.names = [(t.start, t.string) for t in toks if t.type == tokenize.NAME]
        self.starts = [p for p, _ in self.names]
        self.at = dict(self.names)

    def char_col(self, row: int, byte_col: int) -> int:
        # ast columns are UTF-8 byte offsets, tokenize columns are characters
        line = self.lines[row - 1] if 0 < row <= len(self.lines) else ""
        if line.isascii():
            return byte_col
        try:
            return len(line.encode("utf-8")[:byte_col].decode("utf-8"))
        except UnicodeDecodeError:
            return -1

    def exact(self, row: int, byte_col: int, name: str) -> tuple[int, int] | None:
        pos = (row, self.char_col(row, byte_col))
        return pos if self.at.get(pos) == name else None

    def after(self, node: ast.AST, word: str, name: str, end: tuple[int, int] | None = None):
        """The NAME `name` right after the first NAME `word` at or after `node`'s start."""
        i = bisect.bisect_left(self.starts, (node.lineno, self.char_col(node.lineno, node.col_offset)))
        for j in range(i, len(self.names) - 1):
            pos, s = self.names[j]
            if end is not None and pos >= end:
                return None
            if s == word:
                nxt_pos, nxt = self.names[j + 1]
                return nxt_pos if nxt == name else None
        return None

    def within(self, node: ast.AST, names: list[str]) -> list[tuple[str, tuple[int, int] | None]]:
        start = (node.lineno, self.char_col(node.lineno, node.col_offset))
        end = (node.end_lineno, self.char_col(node.end_lineno, node.end_col_offset))
        found = [(s, p) for p, s in self.names[bisect.bisect_left(self.starts, start):]
                 if p < end and s in names]
        out = []
        for n in names:  # `global a, b`: each listed name once, else it is not located
            hits = [p for s, p in found if s == n]
            out.append((n, hits[0] if len(hits) == 1 else None))
        return out


def looks_like_function_body(tree: ast.Module) -> bool:
    """An indented piece whose own statements return, yield, await, use `nonlocal` or read
    `self`/`cls` can only be (part of) a function body; anything else may be a class body,
    where assignments and defs are attributes."""
    stack: list[ast.AST] = list(tree.body)
    while stack:
        n = stack.pop()
        if isinstance(n, (ast.Return, ast.Yield, ast.YieldFrom, ast.Await, ast.Nonlocal)):
            return True
        if isinstance(n, ast.Name) and n.id in ("self", "cls") and isinstance(n.ctx, ast.Load):
            return True
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue  # their own scopes
        stack.extend(ast.iter_child_nodes(n))
    return False


class _Collector:
    """Walks the tree in execution order, recording scopes, bindings and every located
    occurrence of every name (a name with an occurrence that cannot be located exactly is
    blocked: it is renamed everywhere or nowhere)."""

    def __init__(self, tokens: _Tokens, top_kind: str):
        self.tokens = tokens
        self.top = _Scope(top_kind, None)
        self.occurrences: list[tuple[str, _Scope, tuple[int, int] | None]] = []
        self.blocked: set[str] = set()
        self.call_keywords: set[str] = set()

    def occur(self, name: str, scope: _Scope, pos, kind: str) -> None:
        if kind in ("store", "def", "param", "aug", "del"):
            scope.bound.add(name)
        if kind == "param":
            scope.params.add(name)
        scope.first.setdefault(name, kind)
        self.occurrences.append((name, scope, pos))

    def block_subtree(self, node: ast.AST) -> None:
        for n in ast.walk(node):
            for attr in ("id", "arg", "name", "rest", "asname"):
                v = getattr(n, attr, None)
                if isinstance(v, str):
                    self.blocked.add(v)
            if isinstance(n, (ast.Global, ast.Nonlocal)):
                self.blocked.update(n.names)

    def visit(self, node: ast.AST, scope: _Scope) -> None:
        method = getattr(self, "visit_" + type(node).__name__, None)
        if method is not None:
            method(node, scope)
        else:
            self.generic(node, scope)

    def generic(self, node: ast.AST, scope: _Scope) -> None:
        # a construct with an identifier this walker does not locate (match captures,
        # 3.12 type parameters and `type` aliases, ...): never rename that identifier
        for attr in ("name", "rest", "asname", "arg"):
            v = getattr(node, attr, None)
            if isinstance(v, str):
                self.blocked.add(v)
        for child in ast.iter_child_nodes(node):
            self.visit(child, scope)

    def visits(self, nodes, scope: _Scope) -> None:
        for n in nodes:
            if n is not None:
                self.visit(n, scope)

    # --- names and bindings
    def visit_Name(self, node: ast.Name, scope: _Scope, kind: str | None = None) -> None:
        if isinstance(node.ctx, ast.Load):
            kind = kind or "load"
            if node.id in _INTROSPECTIVE:  # eval("x"), locals()["x"]: names as strings
                s: _Scope | None = scope
                while s is not None:
                    s.introspective, s = True, s.parent
        else:
            kind = kind or ("store" if isinstance(node.ctx, ast.Store) else "del")
        self.occur(node.id, scope, self.tokens.exact(node.lineno, node.col_offset, node.id), kind)

    def visit_Constant(self, node: ast.Constant, scope: _Scope) -> None:
        if isinstance(node.value, str) and node.value.isidentifier():
            self.blocked.add(node.value)  # __all__, __slots__, getattr(o, "x"), ...

    def visit_JoinedStr(self, node: ast.JoinedStr, scope: _Scope) -> None:
        self.block_subtree(node)  # names inside f-strings are not separate tokens before 3.12

    def visit_Import(self, node, scope: _Scope) -> None:
        for a in node.names:
            self.blocked.add(a.name.split(".")[0])
            if a.asname:
                self.blocked.add(a.asname)

    visit_ImportFrom = visit_Import

    def visit_Global(self, node: ast.Global, scope: _Scope) -> None:
        scope.globals.update(node.names)
        for name, pos in self.tokens.within(node, node.names):
            self.occur(name, scope, pos, "decl")

    def visit_Nonlocal(self, node: ast.Nonlocal, scope: _Scope) -> None:
        scope.nonlocals.update(node.names)
        for name, pos in self.tokens.within(node, node.names):
            self.occur(name, scope, pos, "decl")

    # --- statements whose run order differs from the field order
    def visit_Assign(self, node: ast.Assign, scope: _Scope) -> None:
        self.visit(node.value, scope)
        self.visits(node.targets, scope)

    def visit_AnnAssign(self, node: ast.AnnAssign, scope: _Scope) -> None:
        self.visits([node.annotation, node.value, node.target], scope)

    def visit_AugAssign(self, node: ast.AugAssign, scope: _Scope) -> None:
        self.visit(node.value, scope)
        if isinstance(node.target, ast.Name):
            self.visit_Name(node.target, scope, "aug")  # reads before it writes
        else:
            self.visit(node.target, scope)

    def visit_For(self, node, scope: _Scope) -> None:
        self.visit(node.iter, scope)
        self.visit(node.target, scope)
        self.visits(node.body + node.orelse, scope)

    visit_AsyncFor = visit_For

    def visit_With(self, node, scope: _Scope) -> None:
        for item in node.items:
            self.visits([item.context_expr, item.optional_vars], scope)
        self.visits(node.body, scope)

    visit_AsyncWith = visit_With

    def visit_NamedExpr(self, node: ast.NamedExpr, scope: _Scope) -> None:
        self.visit(node.value, scope)
        target = scope
        while target.kind == "comp" and target.parent is not None:
            target = target.parent  # a walrus in a comprehension binds in the enclosing scope
        self.visit_Name(node.target, target)

    def visit_ExceptHandler(self, node: ast.ExceptHandler, scope: _Scope) -> None:
        if node.type is not None:
            self.visit(node.type, scope)
        if node.name:
            b = node.body[0]
            end = (b.lineno, self.tokens.char_col(b.lineno, b.col_offset))
            self.occur(node.name, scope, self.tokens.after(node, "as", node.name, end), "store")
        self.visits(node.body, scope)

    def visit_Call(self, node: ast.Call, scope: _Scope) -> None:
        self.visit(node.func, scope)
        self.visits(node.args, scope)
        for k in node.keywords:
            if k.arg:
                self.call_keywords.add(k.arg)
            self.visit(k.value, scope)

    # --- new scopes
    def _arguments(self, args: ast.arguments, scope: _Scope, inner: _Scope) -> None:
        self.visits(args.defaults + args.kw_defaults, scope)
        every = args.posonlyargs + args.args + args.kwonlyargs + [
            a for a in (args.vararg, args.kwarg) if a is not None]
        self.visits([a.annotation for a in every], scope)
        for a in every:
            self.occur(a.arg, inner, self.tokens.exact(a.lineno, a.col_offset, a.arg), "param")
        # keyword-only parameters can only be passed by keyword: their names are the API
        self.blocked.update(a.arg for a in args.kwonlyargs)

    def visit_FunctionDef(self, node, scope: _Scope) -> None:
        self.visits(node.decorator_list, scope)
        for tp in getattr(node, "type_params", ()):  # 3.12 generics: not handled, kept
            self.block_subtree(tp)
        inner = _Scope("function", scope)
        self._arguments(node.args, scope, inner)
        if node.returns is not None:
            self.visit(node.returns, scope)
        self.occur(node.name, scope, self.tokens.after(node, "def", node.name), "def")
        self.visits(node.body, inner)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda, scope: _Scope) -> None:
        inner = _Scope("function", scope)
        self._arguments(node.args, scope, inner)
        self.visit(node.body, inner)

    def visit_ClassDef(self, node: ast.ClassDef, scope: _Scope) -> None:
        self.visits(node.decorator_list + node.bases, scope)
        for tp in getattr(node, "type_params", ()):
            self.block_subtree(tp)
        for k in node.keywords:
            if k.arg:
                self.call_keywords.add(k.arg)
            self.visit(k.value, scope)
        self.visits(node.body, _Scope("class", scope))
        self.occur(node.name, scope, self.tokens.after(node, "class", node.name), "def")

    def _comprehension(self, node, scope: _Scope, results: list) -> None:
        gens = node.generators
        self.visit(gens[0].iter, scope)  # the first iterable runs in the enclosing scope
        inner = _Scope("comp", scope)
        for i, g in enumerate(gens):
            if i:
                self.visit(g.iter, inner)
            self.visit(g.target, inner)
            self.visits(g.ifs, inner)
        self.visits(results, inner)

    def visit_ListComp(self, node, scope: _Scope) -> None:
        self._comprehension(node, scope, [node.elt])

    visit_SetComp = visit_GeneratorExp = visit_ListComp

    def visit_DictComp(self, node: ast.DictComp, scope: _Scope) -> None:
        self._comprehension(node, scope, [node.key, node.value])


def _resolve(scope: _Scope, name: str, top: _Scope) -> _Scope | None:
    """The piece's scope whose binding `name` refers to from `scope`; None: outside world."""
    def global_binding():
        return top if top.kind == "module" and name in top.bound else None

    if name in scope.globals:
        return global_binding()
    s = scope
    if name in scope.nonlocals:
        s = scope.parent
        while s is not None and (s.kind == "class" or name in s.nonlocals):
            s = s.parent
        if s is None or s.kind not in ("function", "comp", "body") or name not in s.bound:
            return None
        return s
    if name in s.bound:
        return s
    p = s.parent
    while p is not None:
        if p.kind == "class":  # class bodies are not visible from nested scopes
            p = p.parent
            continue
        if name in p.globals:
            return global_binding()
        if name in p.bound and name not in p.nonlocals:
            return p
        p = p.parent
    return None


def _renamable(binding: _Scope | None, name: str, call_keywords: set[str]) -> bool:
    if binding is None or binding.introspective:
        return False
    if binding.kind in ("class", "opaque"):
        return False  # attributes, or names the rest of the file may read
    if binding.kind in ("module", "body"):
        # the piece's own top level: the name must be created here (first seen as a plain
        # binding, not read or updated), and at module level it must be private
        if binding.first.get(name) not in ("store", "def"):
            return False
        return binding.kind == "body" or name.startswith("_")
    # a complete function inside the piece: its locals are invisible to the outside, except
    # a parameter the piece passes by keyword (`f(x=1)` must keep naming `x`)
    return not (name in binding.params and name in call_keywords)


def _rename_python(code: str, seed: int) -> Renamed:
    if "\r" in code.replace("\r\n", ""):
        raise _Unsafe("lone carriage returns: ast and tokenize count lines differently")
    parsed = parse_piece(code)
    if parsed is None:
        raise _Unsafe("does not parse")
    tree, text, indented = parsed
    top_kind = "module"
    if indented:
        top_kind = "body" if looks_like_function_body(tree) else "opaque"
    tokens = _Tokens(text)
    col = _Collector(tokens, top_kind)
    col.visits(tree.body, col.top)

    ok: dict[str, bool] = {}
    for name, scope, pos in col.occurrences:
        good = (pos is not None and name not in col.blocked and name not in _NEVER
                and name not in RESERVED
                and not (name.startswith("__") and name.endswith("__"))
                and _renamable(_resolve(scope, name, col.top), name, col.call_keywords))
        ok[name] = ok.get(name, True) and good
    chosen = [n for n, good in ok.items() if good]
    if not chosen:
        return Renamed(code, {}, "python")
    mapping = assign_names(chosen, seed, code)

    # positions are in the parsed (maybe dedented) text: shift them back onto `code`
    orig_lines, parsed_lines = io.StringIO(code).readlines(), tokens.lines
    if len(orig_lines) != len(parsed_lines):
        raise _Unsafe("dedent changed the line count")
    shift = [len(o) - len(p) for o, p in zip(orig_lines, parsed_lines)]
    edits = [(row, c + shift[row - 1], name, mapping[name])
             for name, _, (row, c) in (o for o in col.occurrences if o[0] in mapping)]
    new = _replace_spans(code, edits)
    if new is None:
        raise _Unsafe("token spans do not match")
    _check_same_tree(tree, new, mapping)
    return Renamed(new, mapping, "python")


def _undo(tree: ast.AST, inverse: dict[str, str]) -> ast.AST:
    for n in ast.walk(tree):
        for attr in ("id", "arg", "name"):
            v = getattr(n, attr, None)
            if isinstance(v, str) and v in inverse:
                setattr(n, attr, inverse[v])
        if isinstance(n, (ast.Global, ast.Nonlocal)):
            n.names = [inverse.get(x, x) for x in n.names]
    return tree


def _check_same_tree(tree: ast.Module, new: str, mapping: dict[str, str]) -> None:
    """The renamed piece must parse, and with the mapping undone give the very same AST: so
    nothing but the mapped identifiers changed (new names are fresh, so undoing is exact)."""
    parsed = parse_piece(new)
    if parsed is None:
        raise _Unsafe("renamed piece does not parse")
    inverse = {v: k for k, v in mapping.items()}
    if ast.dump(_undo(parsed[0], inverse)) != ast.dump(tree):
        raise _Unsafe("renamed piece differs beyond the mapping")

