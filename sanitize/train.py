"""A short causal-LM fine-tune on encoded records: SOFT's warm-up and the audit's targets.

A plain PyTorch loop rather than a Trainer: it is a screenful, deterministic on CPU with a seed,
and trains on exactly the masked tokens `encoding.encode` produced (loss on trainable tokens only,
averaged per token over the batch, as Hugging Face trainers do).
"""
from __future__ import annotations

import contextlib
import functools
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


def autocast_for(dtype, device_type: str):
    """Autocast in `dtype` on `device_type` for half-precision weights; nothing for float32."""
    import torch

    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device_type, dtype=dtype)


def _forward_precision(model, method: str):
    """(model to train, autocast context factory) for `model`'s weight dtype.

    Half-precision weights are not trained as they are: a plain AdamW step in bf16 drops every
    update smaller than bf16's spacing at that weight (a 5e-5 step on a 0.05 weight), so full
    fine-tuning trains float32 master weights, and LoRA trains its float32 adapters over the
    frozen half-precision base. The forward pass runs under autocast in the half dtype, one
    autocast region per step: autocast caches its casts of the weights until its region ends,
    so one region around the whole loop would run every step on the first step's weights.
    """
    import torch

    p = next(model.parameters())
    dtype, device_type = p.dtype, p.device.type
    if dtype != torch.float32 and method != "lora":
        model = model.float()
    return model, functools.partial(autocast_for, dtype, device_type)


def fine_tune(model, encoded: list[Encoded], pad_id: int, cfg: TrainConfig,
              progress: Callable[[int, float], None] | None = None):
    """Fine-tune `model` in place on `encoded` and return it (LoRA adapters merged back).

    Half-precision weights come back as float32 after full fine-tuning (see
    `_forward_precision`). `progress(records_done, loss)` is called after every optimizer step.
    """
    import torch

    seed_everything(cfg.seed)
    model, forward_precision = _forward_precision(model, cfg.method)
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
            with forward_precision():
                out = model(input_ids=b.input_ids, attention_mask=b.attention_mask,
                            labels=b.labels)
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
