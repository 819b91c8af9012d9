"""Deterministic changes of the audited texts that the attacks query.

Only the trainable part of an example changes (the span a trainer learns and the attacks
score); prompts and system turns stay as they are, so the context the model conditions on is the
same for the original and its variants.

- Lowercasing (the lowercase attack).
- Refilled copies, the neighbours of the neighbourhood attack (Mattern et al., ACL Findings
  2023) and SPV-MIA's paraphrase-style perturbations (Fu et al. 2024): a share `rate` of the
  scored tokens is masked and each is refilled with a token drawn from the base model's own
  prediction at that position (its 20 likeliest tokens, never the original), conditioned on
  the original text before it. Mattern et al. refill with a masked LM; a causal LM sees only
  the left context, which needs no second model and changes exactly the tokens that are scored.
  A memorised text sits at a sharp likelihood peak, so its copies lose more likelihood than
  those of an unseen text. Positions and draws are seeded by (seed, copy index, token ids): the
  same text gets the same copies on every model and every run, and the copies are made once
  and scored under every model.
"""
from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np

from ..batching import collate, length_buckets
from ..encoding import Encoded
from ..records import Example

REFILL_TOP_K = 20


def _map_trainable(example: Example, fn) -> Example:
    msgs = tuple(replace(m, text=fn(m.text)) if m.trainable else m for m in example.messages)
    return replace(example, messages=msgs)


def lowercase_example(example: Example) -> Example:
    return _map_trainable(example, str.lower)


def _rng(e: Encoded, j: int, seed: int) -> np.random.Generator:
    h = hashlib.sha256(f"{seed}:{j}:".encode() + np.asarray(e.input_ids, np.int64).tobytes())
    return np.random.default_rng(int.from_bytes(h.digest()[:8], "big"))


def refill_perturbations(model, encoded: list[Encoded], pad_id: int, count: int, rate: float,
                         seed: int, batch_size: int = 16) -> list[list[Encoded]]:
    """`count` refilled copies of every text (module doc), made by `model` (the base model)."""
    import torch

    device = next(model.parameters()).device
    out: list[list[Encoded]] = [[] for _ in encoded]
    lengths = [len(e.input_ids) for e in encoded]
    model.eval()
    with torch.inference_mode():
        for idx in length_buckets(lengths, batch_size, max_tokens=batch_size * 512):
            b = collate(encoded, idx, pad_id, device)
            logits = model(input_ids=b.input_ids, attention_mask=b.attention_mask).logits
            # Position t-1 predicts token t; one top-k and one host copy for the whole batch.
            top = torch.topk(logits[:, :-1].float(), REFILL_TOP_K + 1, -1)
            cands = top.indices.cpu().numpy()
            probs = top.values.softmax(-1).cpu().numpy()
            for row, i in enumerate(idx):
                e = encoded[i]
                # Only scored tokens change, never the first token of the text.
                scored = [t for t in range(1, len(e.input_ids)) if e.trainable[t]]
                if not scored:
                    out[i] = [e] * count
                    continue
                cand = cands[row, [t - 1 for t in scored]]
                prob = probs[row, [t - 1 for t in scored]]
                k = max(1, round(rate * len(scored)))
                for j in range(count):
                    rng = _rng(e, j, seed)
                    ids = list(e.input_ids)
                    for s in rng.choice(len(scored), size=k, replace=False):
                        p = np.where(cand[s] == ids[scored[s]], 0.0, prob[s])
                        ids[scored[s]] = int(cand[s][rng.choice(len(p), p=p / p.sum())])
                    out[i].append(replace(e, input_ids=ids))
    return out
