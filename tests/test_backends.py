"""The backend Protocol: every registered backend implements it, builds itself from the config
(`make_backend` only looks the class up), counts tokens and reports its usage. No model is
downloaded and vLLM is never imported (a stand-in module takes its place)."""
from __future__ import annotations

import inspect
import sys
import types

import pytest

from sanitize.config import ParaphraseConfig
from sanitize.obfuscate import _budget
from sanitize.paraphrase import BACKENDS, NAMES, backend_class, make_backend
from sanitize.paraphrase.base import Backend, GenParams, Request, new_tokens_for
from sanitize.paraphrase.echo import EchoBackend
from sanitize.prompts import load_template

PROTOCOL_METHODS = sorted(n for n in vars(Backend) if not n.startswith("_"))


def req(text, seed=0, n=24):
    return Request(tuple(load_template("text").messages(text)), text, seed, n)


def test_protocol_lists_what_callers_need():
    assert PROTOCOL_METHODS == ["close", "count_tokens", "from_config", "generate", "usage"]


@pytest.mark.parametrize("name", NAMES)
def test_every_registered_backend_implements_the_protocol(name):
    # Importing a backend's module never imports vLLM or opens a connection (both are lazy).
    cls = backend_class(name)
    assert cls.name == name and name in BACKENDS
    for method in PROTOCOL_METHODS:
        assert callable(getattr(cls, method, None)), f"{cls.__name__}.{method}"
        got = inspect.signature(getattr(cls, method))
        want = inspect.signature(getattr(Backend, method))
        assert list(got.parameters) == list(want.parameters), f"{cls.__name__}.{method}"
        for p in want.parameters.values():
            assert got.parameters[p.name].default == p.default, f"{cls.__name__}.{method}"
    assert isinstance(inspect.getattr_static(cls, "from_config"), classmethod)


def test_echo_usage_counts_calls_and_knows_no_tokens():
    b = EchoBackend()
    assert b.usage() == {"backend_calls": 0, "generated_tokens": None}
    b.generate([req("a b"), req("c d")])
    b.generate([req("e f")])
    assert b.usage() == {"backend_calls": 3, "generated_tokens": None}
    assert b.count_tokens("a b") is None


def test_make_backend_echo_takes_the_config_batch_size():
    b = make_backend(ParaphraseConfig(backend="echo"))
    assert isinstance(b, EchoBackend) and b.batch_size == 8 and b.model == "echo-reverse"
    assert make_backend(ParaphraseConfig(backend="echo", batch_size=3)).batch_size == 3


def test_make_backend_local_reuses_the_given_model_with_the_config_values(tiny):
    from sanitize.paraphrase.local import LocalBackend

    cfg = ParaphraseConfig(backend="local", temperature=0.0, top_p=0.5, block_ngrams=4,
                           no_repeat_ngram=3, repetition_penalty=1.2, batch_size=5)
    b = make_backend(cfg, lm=tiny)
    assert isinstance(b, LocalBackend) and b.lm is tiny and b.batch_size == 5
    assert b.params == GenParams(0.0, 0.5, 4, 3, 1.2) == GenParams.from_config(cfg)
    assert b.model == tiny.name
    assert make_backend(ParaphraseConfig(backend="local"), lm=tiny).batch_size == 8  # CPU default
    text = "The river floods every spring."
    assert b.count_tokens(text) == len(tiny.tokenizer(text, add_special_tokens=False)
                                       ["input_ids"])
    assert b.usage() == {"backend_calls": 0, "generated_tokens": 0}
    b.generate([req("short", n=4), req("other", n=4)])
    usage = b.usage()
    assert usage["backend_calls"] == 2 and 2 <= usage["generated_tokens"] <= 8


def test_make_backend_local_loads_the_config_model_on_the_device(monkeypatch, tiny):
    import sanitize.models

    seen = []

    def fake_load_lm(spec=None, device="auto", **kw):
        seen.append((spec, device))
        return tiny

    monkeypatch.setattr(sanitize.models, "load_lm", fake_load_lm)
    b = make_backend(ParaphraseConfig(backend="local", model="some/model", device="cpu"))
    assert b.lm is tiny and seen == [("some/model", "cpu")]


def test_make_backend_vllm_with_the_config_values(monkeypatch, tmp_path):
    """A stand-in `vllm` module: the backend's construction, not vLLM, is under test."""
    fake = types.ModuleType("vllm")
    built = []
    fake.LLM = lambda model: built.append(model) or types.SimpleNamespace()
    fake.SamplingParams = dict
    monkeypatch.setitem(sys.modules, "vllm", fake)
    cfg = ParaphraseConfig(backend="vllm", model=str(tmp_path), temperature=0.3, top_p=0.9,
                           repetition_penalty=1.1)
    b = make_backend(cfg)
    assert built == [str(tmp_path)] and b.model == str(tmp_path) and b.batch_size == 256
    assert b.params == GenParams.from_config(cfg)
    assert b.count_tokens("x") is None
    assert b.usage() == {"backend_calls": 0, "generated_tokens": 0}
    assert make_backend(ParaphraseConfig(backend="vllm", model=str(tmp_path),
                                         batch_size=1024)).batch_size == 1024


class _Counting:
    def __init__(self, n):
        self.n = n

    def count_tokens(self, text):
        return self.n


def test_budget_uses_the_backends_count_else_an_estimate():
    pcfg = ParaphraseConfig(max_new_tokens=100)
    assert _budget("x" * 30, _Counting(40), pcfg) == new_tokens_for(40, 100)
    assert _budget("x" * 30, _Counting(None), pcfg) == new_tokens_for(11, 100)
