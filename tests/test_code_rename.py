"""Exact code obfuscation (sanitize.paraphrase.code_rename): what is renamed, what never is,
that behaviour and layout survive, and a pass over real source files."""
from __future__ import annotations

import dis
import gzip
import json
import math
import re
import textwrap
import types
from pathlib import Path

import pytest

from sanitize.paraphrase.code_rename import Renamed, parses, rename_identifiers

GITHUB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mimir" / "github.jsonl.gz"


# ----------------------------------------------------------------------------- helpers

def undo(r: Renamed) -> str:
    """The renamed text with every new name put back (new names are fresh words, so a
    whole-word replacement is exact)."""
    if not r.mapping:
        return r.text
    inverse = {v: k for k, v in r.mapping.items()}
    alternatives = "|".join(re.escape(v) for v in sorted(inverse, key=len, reverse=True))
    pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")
    return pattern.sub(lambda m: inverse[m.group(0)], r.text)


def assert_exact(code: str, r: Renamed) -> None:
    """Bijection onto fresh names, and nothing but the renamed tokens changed."""
    new_names = list(r.mapping.values())
    assert len(set(new_names)) == len(new_names)
    words = set(re.findall(r"[^\W\d]\w*", code))
    assert not words & set(new_names), "a new name collides with a name of the piece"
    assert undo(r) == code


def compile_piece(text: str) -> types.CodeType:
    """Compile a piece; an indented one inside a function (or, failing that, a class)."""
    try:
        return compile(text, "<piece>", "exec")
    except SyntaxError:
        pass
    body = textwrap.indent(textwrap.dedent(text), "    ")
    head = "async def __piece__():\n" if "await" in text else "def __piece__():\n"
    try:
        return compile(head + body, "<piece>", "exec")
    except SyntaxError:
        return compile("class __Piece__:\n" + body, "<piece>", "exec")


_WORD = re.compile(r"[^\W\d]\w*")
_MANGLED = re.compile(r"_([^\W\d]\w*?)(__\w+)")


def _unname(s: str, inverse: dict[str, str]) -> str:
    """Undo the rename in a compiler-made string. String literals of the piece are never
    renamed (the module checks that), so this only touches names, qualnames (`f.<locals>.g`),
    mangled names (`_Cls__x`) and `from __future__ import annotations` strings."""
    def one(m: re.Match) -> str:
        w = m.group(0)
        if w in inverse:
            return inverse[w]
        mangled = _MANGLED.fullmatch(w)
        if mangled:
            cls, name = mangled.groups()
            return "_" + inverse.get(cls, cls) + inverse.get(name, name)
        return w
    return _WORD.sub(one, s)


def _instructions(code: types.CodeType, inverse: dict[str, str]) -> list:
    out = []
    for ins in dis.get_instructions(code):
        v = ins.argval
        if isinstance(v, str):  # a name, a __qualname__, a mangled name, a string annotation
            v = _unname(v, inverse)
        elif isinstance(v, types.CodeType):
            v = "<code>"
        elif isinstance(v, tuple):  # keyword-only defaults, annotations
            v = tuple(_unname(x, inverse) if isinstance(x, str) else x for x in v)
        elif isinstance(v, float) and math.isnan(v):
            v = "nan"
        out.append((ins.opname, v))
    # cell variables are ordered by name, so a rename reorders these runs
    res, k = [], 0
    while k < len(out):
        j = k
        while j < len(out) and out[j][0] == out[k][0]:
            j += 1
        run = out[k:j]
        res += sorted(run, key=repr) if out[k][0] in ("MAKE_CELL", "LOAD_CLOSURE") else run
        k = j
    return res


def assert_same_bytecode(a: types.CodeType, b: types.CodeType, inverse: dict[str, str]) -> None:
    """Same instructions with the rename undone, in every nested code object: every name
    still resolves the same way (local, cell, global, attribute), so behaviour is kept."""
    assert _instructions(a, {}) == _instructions(b, inverse), a.co_name
    assert inverse.get(b.co_name, b.co_name) == a.co_name
    ca = [c for c in a.co_consts if isinstance(c, types.CodeType)]
    cb = [c for c in b.co_consts if isinstance(c, types.CodeType)]
    assert len(ca) == len(cb)
    for x, y in zip(ca, cb):
        assert_same_bytecode(x, y, inverse)


def check_python(code: str, seed: int = 1) -> Renamed:
    r = rename_identifiers(code, seed)
    assert r.language == "python"
    assert_exact(code, r)
    assert parses(r.text, "python")
    try:
        before = compile_piece(code)
    except SyntaxError:
        return r  # valid for ast, not for the compiler (a bare `nonlocal`, ...)
    assert_same_bytecode(before, compile_piece(r.text), {v: k for k, v in r.mapping.items()})
    return r


# ------------------------------------------------------------------------ Python: rules

MODULE = '''\
import os
from pkg import a as b

_CACHE = {}
LIMIT = 3
__all__ = ["public", "listed"]


def public(x, y=2, *args, key=None, **kw):
    """Docstring mentioning total and x."""
    total = x + y  # comment about total
    for i, v in enumerate(args):
        total += i * v
    sq = [n * n for n in range(total)]
    if (m := len(sq)) > LIMIT:
        total = m
    def _inner(z):
        nonlocal total
        total += z
        return total
    with open(os.devnull) as fh:
        fh.read(0)
    try:
        pass
    except ValueError as err:
        print(err)
    f = lambda q, *r: q + len(r)
    label = "total is {}".format(total)
    return _inner(f(1)) + _helper(key=key) + b + len(label) + len(_CACHE)


def _helper(key):
    return 1 if key else 0


def listed():
    return outside_name


class Thing:
    size = 3

    def method(self, amount, *, scale=1):
        local = amount * self.size * scale
        return local

    @classmethod
    def make(cls, count):
        return cls().method(count)
'''


def test_python_renames_what_the_piece_defines():
    r = check_python(MODULE)
    assert set(r.mapping) == {
        "_CACHE", "_helper", "_inner",  # private module-level, nested function
        "x", "y", "args", "kw",  # parameters (incl. *args, **kwargs)
        "total", "i", "v", "n", "m", "fh", "err", "f", "q", "r", "z", "label", "sq",
        "amount", "local", "count",  # method parameters and locals
    }
    new = r.mapping
    assert f"def public({new['x']}, {new['y']}=2, *{new['args']}, key=None, **{new['kw']}):" in r.text
    assert f"nonlocal {new['total']}" in r.text
    assert f"except ValueError as {new['err']}:" in r.text
    assert f"lambda {new['q']}, *{new['r']}:" in r.text
    assert f"if ({new['m']} := len({new['sq']})) > LIMIT:" in r.text
    # comments, docstrings and strings are left to the paraphraser
    assert '"""Docstring mentioning total and x."""' in r.text
    assert "# comment about total" in r.text
    assert '"total is {}"' in r.text


def test_python_never_renames():
    r = check_python(MODULE)
    never = {
        "os", "a", "b",  # imported
        "public", "listed", "Thing", "LIMIT",  # public module-level names
        "method", "make", "size",  # class-level names are attributes
        "self", "cls",  # conventions
        "key", "scale",  # keyword-only parameters; `key` is also passed by keyword in the piece
        "outside_name", "print", "open", "len", "range", "enumerate", "ValueError",
        "__all__", "read", "devnull", "format",
    }
    assert not never & set(r.mapping)
    assert "self.size" in r.text and "cls().method(" in r.text and "os.devnull" in r.text


def test_python_strings_fstrings_dunders_and_introspection_block_names():
    code = textwrap.dedent('''\
        def f(alpha, beta, gamma, delta):
            name = getattr(alpha, "beta")
            msg = f"{gamma}!"
            __hidden__ = 1
            return name, msg, __hidden__, delta

        def g(x):
            y = x + 1
            return locals()

        def h(size):
            list = [size]
            return list
        ''')
    r = check_python(code)
    # "beta" is a string literal (getattr, __all__, __slots__ ...), gamma is inside an
    # f-string, dunders are special, g's scope calls locals(), `list` is a builtin
    assert set(r.mapping) == {"alpha", "delta", "name", "msg", "size"}


def test_python_global_only_if_defined_in_piece():
    code = textwrap.dedent('''\
        _count = 0

        def bump(step):
            global _count, _elsewhere
            _count += step
            _elsewhere = step
            return _count
        ''')
    r = check_python(code)
    assert set(r.mapping) == {"_count", "step"}
    assert f"global {r.mapping['_count']}, _elsewhere" in r.text


def test_python_keyword_parameter_kept():
    code = textwrap.dedent('''\
        def _area(width, height):
            return width * height

        def total(w, h):
            return _area(width=w, height=h) + _area(w, h)
        ''')
    r = check_python(code)
    assert "width" not in r.mapping and "height" not in r.mapping
    assert {"_area", "w", "h"} <= set(r.mapping)
    assert "(width=" in r.text and ", height=" in r.text


def test_python_name_read_before_it_is_bound_belongs_to_the_rest_of_the_file():
    # an indented function body: `result` comes from earlier in the function (outside the
    # piece), `acc` is updated before it is bound here, `found` is created here
    code = textwrap.indent(textwrap.dedent('''\
        acc += len(result)
        found = [x for x in result if x]
        result = found
        acc = acc + 1
        return self.finish(found, acc)
        '''), "        ")
    r = check_python(code)
    assert set(r.mapping) == {"found", "x"}


def test_python_indented_method_body():
    code = textwrap.indent(textwrap.dedent('''\
        total = 0
        for item in self.items:
            total += item.price * self.rate
        def _fmt(value):
            return "%d" % value
        return _fmt(total)
        '''), "        ")
    r = check_python(code)
    assert set(r.mapping) == {"total", "item", "_fmt", "value"}
    assert r.text.startswith("        " + r.mapping["total"] + " = 0\n")
    assert "self.items" in r.text and ".price" in r.text


def test_python_indented_class_body_keeps_its_names():
    # may be a class body: `size`, `area` are attributes; only the method's own names change
    code = textwrap.indent(textwrap.dedent('''\
        size = 3

        def area(self, scale):
            value = self.size * scale
            return value
        '''), "    ")
    r = check_python(code)
    assert set(r.mapping) == {"scale", "value"}


def test_python_module_level_public_variables_kept():
    code = "counter = 0\nfor index in range(3):\n    counter += index\n_tmp = counter\n"
    r = check_python(code)
    assert set(r.mapping) == {"_tmp"}


def test_python_name_styles():
    code = textwrap.dedent('''\
        def build(items):
            MAX_ITEMS = 10
            _seen = set()
            camelCase = 1
            class LocalNode:
                pass
            __mangled = 2
            for it in items[:MAX_ITEMS]:
                _seen.add(LocalNode())
            return _seen, camelCase, __mangled
        ''')
    r = check_python(code)
    new = r.mapping
    assert re.fullmatch(r"[A-Z]+_\d+", new["MAX_ITEMS"])
    assert re.fullmatch(r"_[a-z]+_\d+", new["_seen"])
    assert re.fullmatch(r"[a-z]+[A-Z][a-z]+\d+", new["camelCase"])
    assert re.fullmatch(r"[A-Z][a-z]+[A-Z][a-z]+\d+", new["LocalNode"])
    assert re.fullmatch(r"__[a-z]+_\d+", new["__mangled"])
    assert re.fullmatch(r"[a-z]\d", new["it"])  # short names stay short


def test_python_unparsable_piece_unchanged():
    code = "    if x:\n        y = 1\n  else:\n    z = 2\n"
    r = rename_identifiers(code, 3)
    assert r == Renamed(code, {}, "")
    assert rename_identifiers(code, 3, language="python") == Renamed(code, {}, "")
    assert parses(code, "python") is False


def test_python_layout_kept_byte_for_byte():
    code = "def f(a,b):\r\n\tc=a  +  b # sum\r\n\treturn  c\r\n\r\n\r\n"
    r = check_python(code)
    assert set(r.mapping) == {"a", "b", "c"}
    assert r.text.count("\r\n") == code.count("\r\n") and "  +  " in r.text
    code = "def f(données):\n    résultat = données * 2  # é\n    return résultat\n"
    r = check_python(code)
    assert set(r.mapping) == {"données", "résultat"}


def test_deterministic_and_seeded():
    a, b = rename_identifiers(MODULE, 7), rename_identifiers(MODULE, 7)
    assert a == b
    assert rename_identifiers(MODULE, 8).mapping != a.mapping
    # a name's new name depends on (seed, name): pieces of one file mostly agree
    other = "def g(total):\n    return total\n"
    assert rename_identifiers(other, 7).mapping["total"] == a.mapping["total"]


def test_parses():
    assert parses("x = 1\n", "python") is True
    assert parses("    return x\n", "py") is True  # an indented body
    assert parses("x = (\n", "python") is False
    assert parses("int x = 1;", "c") is None


def test_c_like_piece_is_not_taken_for_python():
    code = "x = compute(y);\nz = x + 1;\n"
    assert rename_identifiers(code, 1).language != "python"


# ------------------------------------------------------------------ Python: behaviour

BEHAVIOUR = textwrap.dedent('''\
    def fib(n):
        _memo = {0: 0, 1: 1}
        def _go(k):
            if k not in _memo:
                _memo[k] = _go(k - 1) + _go(k - 2)
            return _memo[k]
        return _go(n)

    def counter(start, *steps, scale=1):
        total = start
        def _add(amount):
            nonlocal total
            total += amount * scale
            return total
        return [_add(s) for s in steps]

    def stats(values):
        squares = [v * v for v in values if (w := v) >= 0]
        gen = (x + w for x in squares)
        try:
            ratio = sum(values) / len(values)
        except ZeroDivisionError as exc:
            ratio = str(exc)
        pairs = {key: val for key, val in zip("abc", values)}
        return sorted(gen), ratio, pairs

    class Account:
        rate = 2

        def __init__(self, owner, balance=0):
            self.owner = owner
            self.balance = balance

        def deposit(self, amount, note=""):
            fee = _fee(amount)
            self.balance += amount - fee
            return self.balance, note

    def _fee(amount):
        return amount // 10

    def use_account(n):
        acct = Account("me")
        for step in range(n):
            acct.deposit(step * 10, note="x")
        return acct.balance, acct.rate
    ''')


@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_python_behaviour_kept(seed):
    r = check_python(BEHAVIOUR, seed)
    assert {"_memo", "_go", "k", "total", "_add", "amount", "squares", "exc", "acct",
            "_fee"} <= set(r.mapping)
    before, after = {}, {}
    exec(compile(BEHAVIOUR, "<before>", "exec"), before)  # noqa: S102 - our own test code
    exec(compile(r.text, "<after>", "exec"), after)  # noqa: S102
    calls = [("fib", (20,), {}), ("counter", (1, 2, 3), {"scale": 3}),
             ("stats", ([3, 1, 2],), {}), ("stats", ([],), {}), ("use_account", (4,), {})]
    for name, args, kwargs in calls:
        try:
            expected = before[name](*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - the same error must come back
            with pytest.raises(type(e)):
                after[name](*args, **kwargs)
            continue
        assert after[name](*args, **kwargs) == expected, name


# -------------------------------------------------------------------- other languages

def test_javascript():
    code = ("function f(a, b = 2) {\n  let x = a + b; const {p, q} = o; var s = `v ${x}`;\n"
            "  let y = 3; var n = 1;\n  obj.n = n + y; return {y, z: n};\n}\n")
    r = rename_identifiers(code, 3, "javascript")
    assert r.language == "javascript"
    # a, b: parameters; s, n: declared in the function. Not: f (the function's own name),
    # x (inside a template literal), p/q (destructuring keys), y (object shorthand),
    # obj (outside), the member `.n`
    assert set(r.mapping) == {"a", "b", "s", "n"}
    assert f"obj.n = {r.mapping['n']} + y" in r.text
    assert_exact(code, r)


def test_c_and_macros():
    code = ("int f(int a, char *b) {\n  int i; int total = 0;\n"
            "  for (i = 0; i < a; i++) { b[i] = 0; total += i; }\n  return total; }\n"
            "#define M(x) (x+i)\n")
    r = rename_identifiers(code, 3, "c")
    # `i` appears in a macro, `b` is not declared right after a type, `a` is declared in a
    # parameter list the piece does not open as a block, `f` is a function
    assert set(r.mapping) == {"total"}
    assert_exact(code, r)


def test_class_members_and_top_level_kept():
    code = ("int counter = 0;\nclass A {\n  private int count;\n  void f(int n) {\n"
            "    int local = n + count;\n    count = local;\n  }\n}\n")
    r = rename_identifiers(code, 3, "java")
    assert set(r.mapping) == {"local"}
    assert_exact(code, r)


def test_php_interpolation_and_sigils():
    code = ('<?php\nfunction f($a, $b = 1) {\n  $x = $a + $b;\n  echo "v $x";\n'
            "  return $this->x;\n}\n")
    r = rename_identifiers(code, 3, "php")
    assert set(r.mapping) == {"$a", "$b"}
    assert all(v.startswith("$") for v in r.mapping.values())
    assert '"v $x"' in r.text and "$this->x" in r.text
    assert_exact(code, r)


def test_rust_let_mut_and_go_struct_fields():
    r = rename_identifiers("fn f(a: i32) -> i32 {\n  let mut x = a;\n  let y: i32 = 3;\n  x + y\n}\n",
                           3, "rust")
    assert set(r.mapping) == {"x", "y"}
    go = ("type Pool struct {\n\tgcd int\n\tnum int\n}\n\nfunc Size(n int) int {\n"
          "\tvar total int\n\tp := &Pool{num: n}\n\ttotal += p.num\n\treturn total\n}\n")
    r = rename_identifiers(go, 3, "go")
    assert set(r.mapping) == {"total"}  # not the struct's fields, not `p` (`:=` is not handled)
    assert "\tnum int\n" in r.text and "p.num" in r.text
    # a `{` right after a name may open a type body (`message Foo {`, `throws E {`,
    # `-> *Pool {`): its direct declarations are left alone
    assert rename_identifiers(go.replace(") int {", ") *Pool {"), 3, "go").mapping == {}


def test_weak_guess_or_unknown_language_unchanged():
    prose = "This is a paragraph of plain English that says nothing about code at all.\n"
    assert rename_identifiers(prose, 1) == Renamed(prose, {}, "")
    assert rename_identifiers("int x = 1;", 1, "no-such-language") == Renamed("int x = 1;", {}, "")
    broken_python = "#!/usr/bin/env python\ndef f(x:\n    y = x\n"
    assert rename_identifiers(broken_python, 1) == Renamed(broken_python, {}, "")


# -------------------------------------------------------------------------- real data

def _pieces(text: str, max_lines: int = 60) -> list[str]:
    """Up to `max_lines` lines per piece, cut at blank lines where possible."""
    out: list[str] = []
    cur: list[str] = []
    for para in re.split(r"(?<=\n)(?=[ \t]*\n)", text):
        lines = para.splitlines(keepends=True)
        if cur and len(cur) + len(lines) > max_lines:
            out.append("".join(cur))
            cur = []
        cur += lines
        while len(cur) > max_lines:
            out.append("".join(cur[:max_lines]))
            cur = cur[max_lines:]
    if cur:
        out.append("".join(cur))
    return out


def test_real_github_pieces():
    if not GITHUB.is_file():
        pytest.skip(f"real data not found at {GITHUB} (see README)")
    records = []
    with gzip.open(GITHUB, "rt", encoding="utf-8") as f:
        for line in f:
            records.append(json.loads(line)["text"])
            if len(records) == 200:
                break
    pieces = [p for text in records for p in _pieces(text)]
    python = renamed = names = other = other_renamed = forced_renamed = forced_names = 0
    for seed, piece in enumerate(pieces):
        if parses(piece, "python"):  # never refused by the self-check
            assert rename_identifiers(piece, seed, "python").language == "python"
        r = rename_identifiers(piece, seed)
        if r.language == "python":
            python += 1
            assert r.text == piece or check_python(piece, seed) == r
            if r.mapping:
                renamed += 1
                names += len(r.mapping)
                assert_exact(piece, r)
            continue
        other += 1
        if r.language == "":
            assert r == Renamed(piece, {}, "")
        # the guess is weak for most pieces: also force a common lexer on each, which runs
        # the lexer rules on real (often mismatched) code
        forced = rename_identifiers(piece, seed, ("c", "javascript", "java")[seed % 3])
        for out in (r, forced):
            if out.mapping:
                assert_exact(piece, out)
            assert abs(len(out.text) - len(piece)) <= 0.3 * len(piece)
            assert len(out.text.splitlines()) == len(piece.splitlines())
        other_renamed += bool(r.mapping)
        forced_renamed += bool(forced.mapping)
        forced_names += len(forced.mapping)
    print(f"\n{len(pieces)} pieces from {len(records)} files: {python} Python, {renamed} with a "
          f"rename, {names / max(renamed, 1):.1f} names renamed on average; {other} other: "
          f"{other_renamed} renamed with the guessed lexer, {forced_renamed} with a forced "
          f"C/JavaScript/Java lexer ({forced_names / max(forced_renamed, 1):.1f} names on average)")
    assert python > 0 and renamed > 0
