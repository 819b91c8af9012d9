"""Duplicate groups over records' trainable text: exact (hash) and near (embedding cosine).

A record repeated in a dataset is learned faster, and obfuscating one copy while another
survives leaves the text in the training set, so selection treats a group as one unit.

- Exact duplicates: identical trainable text (sha256), no model needed.
- Near duplicates: cosine similarity of normalized all-MiniLM-L6-v2 embeddings at or above a
  threshold, found with a faiss inner-product range search. MiniLM reads only ~256 word pieces,
  so a long text is embedded as the mean of its fixed-size character windows: two files that
  share only a long licence header do not look identical.
- Groups are the connected components (union-find) of both relations, so A~B and B~C put A, B
  and C in one group even when A and C are further apart.
"""
from __future__ import annotations

import hashlib
from typing import Callable, Sequence

import numpy as np

WINDOW_CHARS = 800  # about MiniLM's 256 word pieces of English prose
EMBED_BLOCK = 256  # texts embedded per block: bounds memory on large inputs
QUERY_BLOCK = 4096  # faiss range-search queries per call: bounds the result buffers


class UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]  # path halving
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            # The smaller index becomes the root, so labels do not depend on pair order.
            self.parent[max(a, b)] = min(a, b)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _windows(text: str) -> list[str]:
    return [text[k:k + WINDOW_CHARS] for k in range(0, max(len(text), 1), WINDOW_CHARS)]


def embed_texts(texts: Sequence[str], embedder, progress: Callable[[int], None] | None = None
                ) -> np.ndarray:
    """[n, d] float32 unit vectors: the normalized mean of each text's window embeddings."""
    out = []
    for start in range(0, len(texts), EMBED_BLOCK):
        block = texts[start:start + EMBED_BLOCK]
        windows, owner = [], []
        for i, t in enumerate(block):
            w = _windows(t)
            windows += w
            owner += [i] * len(w)
        vecs = np.asarray(embedder.encode(windows, batch_size=64, normalize_embeddings=True,
                                          show_progress_bar=False, convert_to_numpy=True),
                          dtype=np.float32)
        sums = np.zeros((len(block), vecs.shape[1]), dtype=np.float32)
        np.add.at(sums, np.asarray(owner), vecs)
        out.append(sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12))
        if progress is not None:
            progress(len(block))
    return np.concatenate(out) if out else np.zeros((0, 1), dtype=np.float32)


def near_pairs(vectors: np.ndarray, similarity: float) -> list[tuple[int, int]]:
    """(i, j), i < j, with cosine(vectors[i], vectors[j]) >= similarity (unit vectors)."""
    import faiss

    n = len(vectors)
    if n < 2:
        return []
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    # faiss keeps results strictly above the radius; the epsilon makes the bound inclusive.
    radius = float(similarity) - 1e-6
    pairs = []
    for start in range(0, n, QUERY_BLOCK):
        lims, _, ids = index.range_search(vectors[start:start + QUERY_BLOCK], radius)
        for q in range(len(lims) - 1):
            i = start + q
            pairs += [(i, int(j)) for j in ids[lims[q]:lims[q + 1]] if j > i]
    return pairs


def duplicate_groups(texts: Sequence[str], similarity: float | None = 0.95, embedder=None,
                     progress: Callable[[int], None] | None = None) -> list[str | None]:
    """Group label per text (None when it has no duplicate). Labels are "dup1", "dup2", ...
    numbered by each group's first text in input order. `similarity=None` finds exact
    duplicates only; otherwise `embedder` (a sentence-transformers model) is required."""
    n = len(texts)
    uf = UnionFind(n)
    first_of: dict[str, int] = {}
    for i, t in enumerate(texts):
        first = first_of.setdefault(text_hash(t), i)
        if first != i:
            uf.union(first, i)
    if similarity is not None:
        # Embed one copy per exact class: copies would only find each other again.
        reps = sorted(first_of.values())
        vecs = embed_texts([texts[i] for i in reps], embedder, progress)
        for a, b in near_pairs(vecs, similarity):
            uf.union(reps[a], reps[b])
    return _labels(uf, n)


def _labels(uf: UnionFind, n: int) -> list[str | None]:
    roots = [uf.find(i) for i in range(n)]
    sizes: dict[int, int] = {}
    for r in roots:
        sizes[r] = sizes.get(r, 0) + 1
    names: dict[int, str] = {}
    labels: list[str | None] = []
    for r in roots:
        if sizes[r] < 2:
            labels.append(None)
            continue
        if r not in names:
            names[r] = f"dup{len(names) + 1}"
        labels.append(names[r])
    return labels
