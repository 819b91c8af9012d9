"""Length-bucketed batches of encoded records, padded on the right.

Per-record work never packs several records into one sequence. Sorting by length before cutting
batches keeps padding small; padding is masked by position (attention mask), never by
`pad_token_id`, because pad == eos for ChatML models and the eos we train on must count.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from .encoding import Encoded

IGNORE = -100  # label value that PyTorch's cross-entropy skips
# Records per evaluation batch when the user names none. A GPU's step time hardly grows with
# the batch (a 135M model is launch-bound), so it takes 4x more; on a CPU a larger batch only
# costs memory (the logits of 64 x 128 tokens over a 49k vocabulary are 1.6 GB).
EVAL_BATCH = {"cpu": 16, "cuda": 64}


def eval_batch_size(requested: int | None, model) -> int:
    """`requested`, or the default for the device `model` is on."""
    if requested is not None:
        return requested
    device_type = next(model.parameters()).device.type
    return EVAL_BATCH.get(device_type, EVAL_BATCH["cpu"])


@dataclass
class Batch:
    indices: list[int]  # positions in the caller's list
    input_ids: "object"  # LongTensor [B, T]
    attention_mask: "object"  # LongTensor [B, T]
    labels: "object"  # LongTensor [B, T], IGNORE where not trainable or padding


def length_buckets(lengths: list[int], batch_size: int, shuffle_seed: int | None = None,
                   max_tokens: int | None = None) -> list[list[int]]:
    """Index batches of similar lengths. With a seed, batch order (not membership) is shuffled,
    so training still sees records in a random order while padding stays small.
    `max_tokens` caps batch_size * longest length, which bounds memory on long records."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        longest = max([lengths[j] for j in cur] + [lengths[i]])
        if cur and (len(cur) >= batch_size or (max_tokens and longest * (len(cur) + 1) > max_tokens)):
            batches.append(cur)
            cur = []
        cur.append(i)
    if cur:
        batches.append(cur)
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(batches)
    return batches


def collate(encoded: list[Encoded], indices: list[int], pad_id: int, device="cpu") -> Batch:
    import torch

    T = max(len(encoded[i].input_ids) for i in indices)
    ids = torch.full((len(indices), T), pad_id, dtype=torch.long)
    att = torch.zeros((len(indices), T), dtype=torch.long)
    labels = torch.full((len(indices), T), IGNORE, dtype=torch.long)
    for row, i in enumerate(indices):
        e = encoded[i]
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        att[row, :n] = 1
        lab = torch.tensor(e.input_ids)
        lab[~torch.tensor(e.trainable)] = IGNORE
        labels[row, :n] = lab
    return Batch(indices, ids.to(device), att.to(device), labels.to(device))
