"""SPV-MIA (Fu et al., NeurIPS 2024, "Membership Inference Attacks against Fine-tuned Large
Language Models via Self-prompt Calibration"): its reference model and its membership signal.

Self-prompt reference: the target's own samples approximate its fine-tuning distribution, and a
copy of the *base* model fine-tuned on them is the reference. As in the paper, the target is
prompted with short texts that are NOT audited records: the first `prompt_tokens` scored tokens
of held-out records (the audit's --validation file, context turns included), or, without one, a
start-of-document token alone (an unconditional sample). Prompting with the audited records
themselves would let a memorising target copy members into the reference's training data.

Probabilistic variation: a memorised text is a local maximum of the model's likelihood, so
perturbing it costs more likelihood than perturbing an unseen text. The paper perturbs with a
paraphrasing model; we use the refilled copies x_j of perturb.py (the neighbourhood attack's
neighbours: a paraphrase-style change of exactly the scored tokens, made once per text):
    SV(x) = mean_j log p(x_j) - log p(x)     (log-likelihoods per scored token),
the paper's pairwise (log p(x+) + log p(x-) - 2 log p(x)) / 2 averaged over the copies.
Score (higher = member): -(SV_target(x) - SV_reference(x)).
"""
from __future__ import annotations

import copy

import numpy as np

from ..config import TrainConfig
from ..encoding import Encoded
from ..generation import generate_ids
from ..train import fine_tune


def self_prompts(heldout: list[Encoded], n: int, start_id: int,
                 prompt_tokens: int) -> list[list[int]]:
    """`n` prompts: each held-out record's context plus its first `prompt_tokens` scored
    tokens, cycling through the records; [start_id] for every prompt when there are none."""
    if not heldout:
        return [[start_id]] * n
    out = []
    for j in range(n):
        e = heldout[j % len(heldout)]
        first = e.trainable.index(True) if True in e.trainable else len(e.input_ids)
        out.append(list(e.input_ids[:first + prompt_tokens]) or [start_id])
    return out


def self_prompt_dataset(target, prompts: list[list[int]], pad_id: int, eos_id: int,
                        new_tokens: int, seed: int, batch_size: int) -> list[Encoded]:
    """The target's sampled continuations, as records trainable only on the generation."""
    gen = generate_ids(target, prompts, pad_id=pad_id, eos_id=eos_id,
                       max_new_tokens=[new_tokens] * len(prompts),
                       seeds=[seed * 1_000_003 + j for j in range(len(prompts))],
                       batch_size=batch_size, do_sample=True, temperature=1.0, top_k=0,
                       top_p=1.0, engine="eager")  # one-shot: compiling would cost more
    out = []
    for p, cont in zip(prompts, gen):
        cont = cont or [eos_id]  # keep the end-of-text token: the trainer learns it too
        out.append(Encoded(p + cont, [False] * len(p) + [True] * len(cont), False,
                           len(p) + len(cont)))
    return out


def self_prompt_reference(base, target, prompts: list[list[int]], pad_id: int, eos_id: int,
                          train: TrainConfig, new_tokens: int, seed: int,
                          epochs: float | None = None, gen_batch_size: int = 64):
    """A copy of `base` fine-tuned on the target's self-prompted generations."""
    data = self_prompt_dataset(target, prompts, pad_id, eos_id, new_tokens, seed, gen_batch_size)
    cfg = train if epochs is None else TrainConfig(**{**train.__dict__, "epochs": epochs})
    return fine_tune(copy.deepcopy(base), data, pad_id, cfg)


def variation(clean_nll: np.ndarray, copies_nll: np.ndarray) -> np.ndarray:
    """SV(x) under one model from NLLs: [n] of the texts, [n, k] of their refilled copies
    (log p = -NLL, so mean_j log p(x_j) - log p(x) = NLL(x) - mean_j NLL(x_j))."""
    return clean_nll - copies_nll.mean(axis=1)
