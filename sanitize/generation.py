"""Batched generation from token ids: the one place that calls `model.generate`, for the local
paraphraser and for SPV-MIA's self-prompts.

Engines (measured in benchmarks/generation_speed.py):
- "eager": transformers' dynamic KV cache. On a CPU nothing is faster.
- "static": a static KV cache, which lets transformers compile the decoding step with
  torch.compile (mode "reduce-overhead": CUDA graphs). A 135M model's decoding step is about a
  thousand tiny kernels; launched one by one from Python they bound a step to tens of
  milliseconds on an H100 whatever the batch size, replayed as one graph they do not. Every
  distinct (rows, cache length) shape compiles once (tens of seconds), per model object, so in
  this engine a batch is padded to `batch_size` rows and its cache length rounded up to a power
  of two (at least `MIN_CACHE`): a whole run compiles a handful of shapes. The extra rows and
  cache positions are discarded or masked, so the outputs do not depend on the padding. It
  pays off for long runs on one model (the paraphraser), not for one-shot generation by a
  freshly trained model (SPV-MIA's self-prompts use eager with large batches).
- "auto": static on CUDA, eager elsewhere.

Prompts are sorted by length and generated in batches with LEFT padding (a decoder-only model
continues from the last position). Sampling is seeded per batch from the requests' seeds.
"""
from __future__ import annotations

import hashlib
from typing import Callable, Sequence

ENGINES = ("auto", "eager", "static")
MIN_CACHE = 256  # static engine: the smallest cache length (tokens)

# (the prompt index of each batch row, padded prompt width) -> a transformers LogitsProcessorList or None
ProcessorFactory = Callable[[list[int], int], object]
OnDone = Callable[[int, list[int]], None]


def resolve_engine(engine: str, device) -> str:
    if engine not in ENGINES:
        raise ValueError(f"unknown generation engine {engine!r}; choose from {ENGINES}")
    if engine == "auto":
        return "static" if str(device).startswith("cuda") else "eager"
    return engine


def batch_seed(seeds: Sequence[int]) -> int:
    """One torch seed for a batch, from its requests' seeds (the same batch, the same seed)."""
    material = ",".join(str(s) for s in seeds).encode()
    return int(hashlib.sha256(material).hexdigest()[:8], 16)


def cache_length(tokens: int) -> int:
    """The static engine's cache length for `tokens`: a power of two, at least MIN_CACHE."""
    return max(MIN_CACHE, 1 << (tokens - 1).bit_length())


class _StopAfter:
    """Stop once `length` tokens (prompt + new) exist: the static engine may reserve more
    cache than a batch needs, and must not generate more than it asked for."""

    def __init__(self, length: int):
        self.length = length

    def __call__(self, input_ids, scores, **_):
        import torch

        done = input_ids.shape[1] >= self.length
        return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)


def generate_ids(model, prompts: list[list[int]], *, pad_id: int, eos_id: int | None,
                 max_new_tokens: Sequence[int], seeds: Sequence[int], batch_size: int,
                 engine: str = "auto", processors: ProcessorFactory | None = None,
                 on_done: OnDone | None = None, **sampling) -> list[list[int]]:
    """The new tokens of every prompt, up to and including its first `eos_id`.

    `max_new_tokens` and `seeds` hold one value per prompt; a batch generates up to the largest
    of its own budgets and each output is cut to its own, so batching never changes a length.
    `sampling`: transformers generate() keywords (do_sample, temperature, top_p, top_k,
    repetition_penalty, no_repeat_ngram_size). `on_done(i, tokens)` is called as soon as
    prompt i's batch is finished, so callers can commit results before the next batch starts.
    """
    import torch

    device = next(model.parameters()).device
    engine = resolve_engine(engine, device)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out: list[list[int]] = [[] for _ in prompts]
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        new = max(max_new_tokens[i] for i in idx)
        width = max(len(prompts[i]) for i in idx)
        row_idx = list(idx)  # the prompt behind each row of the batch
        kwargs = dict(sampling)
        if engine == "static":
            # Fixed shapes: full batches and cache lengths on a grid (module doc).
            row_idx += [idx[-1]] * (batch_size - len(idx))
            budget = cache_length(width + new) - width
            from transformers import StoppingCriteriaList

            kwargs.update(cache_implementation="static",
                          stopping_criteria=StoppingCriteriaList([_StopAfter(width + new)]))
        else:
            budget = new
        ids = torch.full((len(row_idx), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(row_idx), width), dtype=torch.long)
        for r, i in enumerate(row_idx):
            p = prompts[i]
            if p:
                ids[r, width - len(p):] = torch.tensor(p)
                mask[r, width - len(p):] = 1
        if processors is not None:
            kwargs["logits_processor"] = processors(row_idx, width)
        torch.manual_seed(batch_seed([seeds[i] for i in idx]))
        with torch.inference_mode():
            gen = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                 max_new_tokens=budget, pad_token_id=pad_id,
                                 eos_token_id=eos_id, **kwargs)
        for r, i in enumerate(idx):
            row = gen[r, width:width + max_new_tokens[i]].tolist()  # its own budget
            out[i] = row[:row.index(eos_id) + 1] if eos_id in row else row
            if on_done is not None:
                on_done(i, out[i])
    return out
