"""Shared test setup: offline mode, the real-data folder, a tiny model (in memory or saved)
and the embedded sentence embedder."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """../shared/data beside the checkout; tests that need it skip clearly when it is absent."""
    if not (SHARED_DATA / "mimir").is_dir():
        pytest.skip(f"real evaluation data not found at {SHARED_DATA} (see README)")
    return SHARED_DATA


@pytest.fixture
def tiny():
    from sanitize.testing import tiny_lm

    return tiny_lm()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """The tiny model (the same weights as `tiny`) saved as a model folder, for `--model DIR`
    and `base_model=`; its path as a string. Shared read-only by every test that loads it."""
    from sanitize.testing import tiny_lm

    lm = tiny_lm()
    folder = tmp_path_factory.mktemp("tiny-model")
    lm.model.save_pretrained(folder)
    lm.tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def embedder():
    """The embedded sentence embedder (all-MiniLM-L6-v2) that the gate uses; load_embedder
    caches it per process, so every test shares one read-only copy."""
    from sanitize.models import load_embedder

    return load_embedder()
