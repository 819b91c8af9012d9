"""Paraphrase backends, registered lazily by name (importing one never imports the others:
`vllm` and the HTTP client load only when chosen).

    backend = make_backend(ParaphraseConfig(backend="echo"))
    texts = backend.generate([Request(messages, text, seed, max_new_tokens)])
"""
from __future__ import annotations

import importlib

from ..config import ParaphraseConfig
from .base import Backend, GenParams, Request

BACKENDS = {
    "local": "sanitize.paraphrase.local:LocalBackend",
    "openai": "sanitize.paraphrase.openai_backend:OpenAIBackend",
    "vllm": "sanitize.paraphrase.vllm_backend:VLLMBackend",
    "echo": "sanitize.paraphrase.echo:EchoBackend",
}
NAMES = list(BACKENDS)


def backend_class(name: str):
    """The class registered as `name` (a BackendName: ParaphraseConfig has checked it)."""
    module, attr = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), attr)


def make_backend(cfg: ParaphraseConfig, lm=None) -> Backend:
    """Build the configured backend. `lm`: an already loaded LoadedLM the local backend may
    reuse (the pipeline passes the base model it scored with when it is the same model)."""
    return backend_class(cfg.backend).from_config(cfg, lm=lm)


__all__ = ["Backend", "GenParams", "Request", "BACKENDS", "NAMES", "make_backend"]
