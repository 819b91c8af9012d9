"""Per-record token log-probabilities of the trainable tokens, computed once and shared.

Risk scoring reads the mean NLL; the audit's attacks read the per-token log-probs and, for
Min-K%++, the mean and standard deviation of log p(v) under the model's own next-token
distribution at each position (mu_t = sum_v p(v) log p(v), sigma_t^2 = sum_v p(v) log^2 p(v)
- mu_t^2). Only trainable tokens are kept: that is what a trainer fits and an attacker probes.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np

from .batching import collate, length_buckets
from .encoding import Encoded


@dataclass
class TokenStats:
    logp: np.ndarray  # [n] log p(x_t) of each trainable target token
    mu: np.ndarray | None = None  # [n] expected log-prob under the model's distribution
    sigma: np.ndarray | None = None  # [n] its standard deviation

    @property
    def nll(self) -> float:
        """Mean negative log-likelihood per trainable token."""
        return float(-self.logp.mean())


@contextlib.contextmanager
def tf32_matmuls(model):
    """TF32 tensor-core matmuls while scoring float32 weights on CUDA, restored afterwards.

    The audit's fine-tuned targets and SPV-MIA references are float32 (train.py keeps float32
    master weights), and plain float32 matmuls made scoring them compute-bound on an H100.
    TF32 rounds the matmul inputs to 10 mantissa bits (relative 5e-4): far finer than the
    bf16 the base model runs in on a GPU, and than a fine-tune's weight updates, so what an
    attack measures is kept. Nothing changes on a CPU or for half-precision weights.
    """
    import torch

    p = next(model.parameters())
    if p.device.type != "cuda" or p.dtype != torch.float32:
        yield
        return
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


def token_stats(model, encoded: list[Encoded], pad_id: int, batch_size: int = 16,
                with_distribution: bool = False, progress=None) -> list[TokenStats]:
    """TokenStats for every encoded record, in input order. Memory is bounded by one batch.

    `progress`, if given, is called with the number of records finished after each batch.
    """
    import torch

    device = next(model.parameters()).device
    out: list[TokenStats | None] = [None] * len(encoded)
    was_training = model.training
    model.eval()
    lengths = [len(e.input_ids) for e in encoded]
    with torch.inference_mode(), tf32_matmuls(model):
        for idx in length_buckets(lengths, batch_size, max_tokens=batch_size * 512):
            b = collate(encoded, idx, pad_id, device)
            logits = model(input_ids=b.input_ids, attention_mask=b.attention_mask).logits
            # Position t predicts token t+1: shift so logits[:, t] scores labels[:, t+1].
            logits = logits[:, :-1].float()
            targets = b.labels[:, 1:]
            logprobs = torch.log_softmax(logits, dim=-1)
            keep = targets != -100
            # One gather and one copy to the host per batch: per-row device calls would cost
            # more than the forward pass on a GPU.
            lp = logprobs.gather(-1, targets.clamp_min(0)[..., None])[..., 0][keep]
            counts = keep.sum(1).tolist()
            parts = {"logp": lp}
            if with_distribution:
                lp_all = logprobs[keep]  # [kept tokens, V]
                p = lp_all.exp()
                mu = (p * lp_all).sum(-1)
                var = (p * lp_all.square()).sum(-1) - mu.square()
                parts.update(mu=mu, sigma=var.clamp_min(0).sqrt())
            host = {k: np.split(v.double().cpu().numpy(), np.cumsum(counts)[:-1])
                    for k, v in parts.items()}
            for row, i in enumerate(idx):
                out[i] = TokenStats(**{k: v[row] for k, v in host.items()})
            if progress is not None:
                progress(len(idx))
    if was_training:
        model.train()
    return out  # type: ignore[return-value]
