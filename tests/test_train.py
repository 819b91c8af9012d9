"""The fine-tune loop shared by the warm-up, the audit's targets and SPV-MIA's reference."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from sanitize.config import ScoreConfig, TrainConfig
from sanitize.encoding import encode_records
from sanitize.records import make_record
from sanitize.scoring import record_losses, warm_up
from sanitize.train import fine_tune

WORDS = "river harbour lamp bread garden bridge council museum storm orchard violin".split()


def _records(n=32):
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        data = {"text": f"Note {i}: " + " ".join(rng.choice(WORDS, 24)) + "."}
        out.append(make_record(i + 1, "", data, "text", "test"))
    return out


def _loss_drop(model, tiny, enc, train) -> float:
    """How far `train(model)` lowers the records' mean loss (evaluated like the scorer does)."""
    import torch

    pad = tiny.tokenizer.pad_token_id
    before = np.mean(record_losses(tiny.model, enc, pad, 16))
    half = next(model.parameters()).dtype != torch.float32
    trained = train(model)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=half):
        return before - np.mean(record_losses(trained, enc, pad, 16))


@pytest.mark.parametrize("method,lr", [("full", 2e-5), ("lora", 1e-3)])
def test_half_precision_weights_train_like_float32(tiny, method, lr):
    """GPUs load the model in bf16. A plain bf16 AdamW step drops updates smaller than bf16's
    spacing: at lr 2e-5 such a run learned about a third of what float32 learned."""
    import torch

    enc = encode_records(_records(), tiny.tokenizer, 96, "test")
    cfg = TrainConfig(epochs=4, method=method, learning_rate=lr, batch_size=8, max_length=96,
                      seed=0, device="cpu")
    drop = {dtype: _loss_drop(copy.deepcopy(tiny.model).to(dtype), tiny, enc,
                              lambda m: fine_tune(m, enc, tiny.tokenizer.pad_token_id, cfg))
            for dtype in (torch.float32, torch.bfloat16)}
    assert drop[torch.float32] > 0.05, "the float32 run must learn for this to test anything"
    assert drop[torch.bfloat16] == pytest.approx(drop[torch.float32], rel=0.1)


def test_warm_up_of_a_bf16_model_learns_like_float32(tiny):
    """The warm-up once ran the whole loop inside one autocast region; autocast caches its
    weight casts until the region ends, so every step ran on the first step's weights."""
    import torch

    enc = encode_records(_records(), tiny.tokenizer, 96, "test")
    cfg = ScoreConfig(train=TrainConfig(epochs=2, learning_rate=1e-3, batch_size=8,
                                        max_length=96, seed=0, device="cpu"))
    drop = {dtype: _loss_drop(copy.deepcopy(tiny.model).to(dtype), tiny, enc,
                              lambda m: warm_up(m, enc, tiny.tokenizer.pad_token_id, cfg))
            for dtype in (torch.float32, torch.bfloat16)}
    assert drop[torch.float32] > 0.5
    assert drop[torch.bfloat16] == pytest.approx(drop[torch.float32], rel=0.05)
