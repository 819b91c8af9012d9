"""A short causal-LM fine-tune on encoded records: SOFT's warm-up and the audit's targets.

A plain PyTorch loop rather than a Trainer: it is a screenful, deterministic on CPU with a seed,
and trains on exactly the masked tokens `encoding.encode` produced (loss on trainable tokens only,
averaged per token over the batch, as Hugging Face trainers do).
"""
from __future__ import annotations

import math
import random
from typing import Callable

import numpy as np

from .batching import collate, length_buckets
from .config import TrainConfig
from .encoding import Encoded


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _wrap_lora(model, cfg: TrainConfig):
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=0.0,
                      target_modules="all-linear", task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


def fine_tune(model, encoded: list[Encoded], pad_id: int, cfg: TrainConfig,
              progress: Callable[[int, float], None] | None = None):
    """Fine-tune `model` in place on `encoded` and return it (LoRA adapters merged back).

    `progress(records_done, loss)` is called after every optimizer step.
    """
    import torch

    seed_everything(cfg.seed)
    if cfg.method == "lora":
        model = _wrap_lora(model, cfg)
    device = next(model.parameters()).device
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    lengths = [len(e.input_ids) for e in encoded]
    n_epochs = max(1, math.ceil(cfg.epochs))
    # A fractional epoch count trains on that fraction of the last epoch's batches.
    model.train()
    for epoch in range(n_epochs):
        batches = length_buckets(lengths, cfg.batch_size, shuffle_seed=cfg.seed + epoch)
        if epoch == n_epochs - 1 and cfg.epochs < n_epochs:
            frac = cfg.epochs - (n_epochs - 1)
            batches = batches[: max(1, round(len(batches) * frac))]
        for step, idx in enumerate(batches):
            b = collate(encoded, idx, pad_id, device)
            out = model(input_ids=b.input_ids, attention_mask=b.attention_mask, labels=b.labels)
            (out.loss / cfg.grad_accum).backward()
            if (step + 1) % cfg.grad_accum == 0 or step == len(batches) - 1:
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
                opt.zero_grad(set_to_none=True)
            if progress is not None:
                progress(len(idx), float(out.loss.detach()))
    model.eval()
    if cfg.method == "lora":
        model = model.merge_and_unload()
    return model
