"""SPV-MIA (Fu et al., NeurIPS 2024, "Membership Inference Attacks against Fine-tuned Large
Language Models via Self-prompt Calibration"): its reference model and its membership signal.

Self-prompt reference: the target's own samples approximate its fine-tuning distribution; a
copy of the *base* model fine-tuned on them is the reference. Each audited text (members and
non-members alike) contributes one sample, prompted with its context only: the prompt turns of
a chat or prompt/completion record, and for plain text just a start-of-document token (BOS, or
EOS, the document separator, when the tokenizer adds no BOS). No scored token is ever part of a
prompt, so the reference cannot be biased towards either class by what it was prompted with;
only the generated continuation is trained on. Where the target regurgitates a member, the
reference learns it too, which weakens (never inflates) this attack.

Probabilistic variation: a memorised text is a local maximum of the model's likelihood, so its
likelihood drops on both sides of a symmetric perturbation. With paired perturbations x+ = x + z
and x- = x - z, the second-order estimate is
    SV(x) = mean over pairs of (log p(x+) + log p(x-) - 2 log p(x)) / 2
(log-likelihoods per trainable token). SV is more negative at a sharper peak. The paper
perturbs with a paraphrasing model; we perturb in the input-embedding space (the paper's
"symmetrical paraphrasing" in embedding space), which needs no extra model: z is Gaussian noise
of std `noise` x the embedding matrix's std, on every input position, seeded from the token ids
so that the target and the reference see exactly the same z for a given text.
Score (higher = member): -(SV_target(x) - SV_reference(x)).
"""
from __future__ import annotations

import copy
import hashlib

import numpy as np

from ..batching import collate, length_buckets
from ..config import TrainConfig
from ..encoding import Encoded
from ..train import fine_tune


def embedding_scale(model) -> float:
    return float(model.get_input_embeddings().weight.detach().float().std())


def _noise(e: Encoded, pair: int, seed: int, shape, scale: float):
    import torch

    h = hashlib.sha256(f"{seed}:{pair}:".encode() + np.asarray(e.input_ids, np.int64).tobytes())
    g = torch.Generator().manual_seed(int.from_bytes(h.digest()[:8], "big") >> 1)
    return torch.randn(shape, generator=g) * scale


def symmetric_variation(model, encoded: list[Encoded], pad_id: int, pairs: int, scale: float,
                        seed: int, batch_size: int = 16) -> np.ndarray:
    """SV(x) for every text (see module doc); `scale` is the absolute noise std."""
    import torch

    device = next(model.parameters()).device
    emb_layer = model.get_input_embeddings()
    out = np.zeros(len(encoded))
    lengths = [len(e.input_ids) for e in encoded]
    model.eval()
    with torch.inference_mode():
        for idx in length_buckets(lengths, batch_size, max_tokens=batch_size * 512):
            b = collate(encoded, idx, pad_id, device)
            emb = emb_layer(b.input_ids)
            targets = b.labels[:, 1:]
            keep = targets != -100

            def mean_logp(inputs_embeds):
                logits = model(inputs_embeds=inputs_embeds,
                               attention_mask=b.attention_mask).logits[:, :-1].float()
                lp = torch.log_softmax(logits, -1).gather(
                    -1, targets.clamp_min(0)[..., None])[..., 0]
                return ((lp * keep).sum(1) / keep.sum(1)).double().cpu().numpy()

            clean = mean_logp(emb)
            total = np.zeros(len(idx))
            for pair in range(pairs):
                z = torch.stack([_noise(encoded[i], pair, seed, emb.shape[1:], scale)
                                 for i in idx]).to(device=device, dtype=emb.dtype)
                z = z * b.attention_mask[..., None]  # padding stays untouched
                total += (mean_logp(emb + z) + mean_logp(emb - z) - 2 * clean) / 2
            out[idx] = total / pairs
    return out


def self_prompts(encoded: list[Encoded], start_id: int) -> list[list[int]]:
    """Each text's context (every token before its first trainable one), or [start_id]."""
    return [list(e.input_ids[: e.trainable.index(True)]) or [start_id] for e in encoded]


def self_prompt_dataset(target, prompts: list[list[int]], pad_id: int, eos_id: int,
                        new_tokens: int, seed: int, batch_size: int = 16) -> list[Encoded]:
    """The target's sampled continuations, as records trainable only on the generation."""
    import torch

    device = next(target.parameters()).device
    torch.manual_seed(seed)
    out: list[Encoded] = []
    target.eval()
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start:start + batch_size]
        width = max(len(p) for p in chunk)
        # Left padding: generation continues from the last real token of every row.
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        att = torch.zeros((len(chunk), width), dtype=torch.long)
        for r, p in enumerate(chunk):
            ids[r, width - len(p):] = torch.tensor(p)
            att[r, width - len(p):] = 1
        with torch.inference_mode():
            gen = target.generate(input_ids=ids.to(device), attention_mask=att.to(device),
                                  do_sample=True, temperature=1.0, top_k=0, top_p=1.0,
                                  max_new_tokens=new_tokens, pad_token_id=pad_id,
                                  eos_token_id=eos_id)
        for r, p in enumerate(chunk):
            cont = gen[r, width:].tolist()
            if eos_id in cont:  # keep the end-of-text token: the trainer learns it too
                cont = cont[: cont.index(eos_id) + 1]
            if not cont:
                cont = [eos_id]
            out.append(Encoded(p + cont, [False] * len(p) + [True] * len(cont), False,
                               len(p) + len(cont)))
    return out


def self_prompt_reference(base, target, prompts: list[list[int]], pad_id: int, eos_id: int,
                          train: TrainConfig, new_tokens: int, seed: int,
                          epochs: float | None = None, batch_size: int = 16):
    """A copy of `base` fine-tuned on the target's self-prompted generations."""
    data = self_prompt_dataset(target, prompts, pad_id, eos_id, new_tokens, seed, batch_size)
    cfg = train if epochs is None else TrainConfig(**{**train.__dict__, "epochs": epochs})
    return fine_tune(copy.deepcopy(base), data, pad_id, cfg)
