"""In-process transformers generation (default: the embedded SmolLM2-135M-Instruct).

Requests are sorted by prompt length and generated in batches with LEFT padding: a decoder-only
model continues from the last position, so right padding would put pad tokens between the
prompt and the generated text. Sampling is seeded per batch from the requests' seeds, so a run
is reproducible (a resumed run generates its remaining batches with other seeds than an
uninterrupted run would: the outputs differ but are equally valid; finished ones come from the
cache unchanged).
"""
from __future__ import annotations

import hashlib

from .base import GenParams, OnResult, Request
from .decoding import SourceNgramBlocker


class LocalBackend:
    name = "local"

    def __init__(self, lm, params: GenParams, batch_size: int = 8, device: str | None = None):
        self.lm = lm
        self.params = params
        self.batch_size = batch_size
        self.model = lm.name
        self.calls = 0
        self.generated_tokens = 0
        tok = lm.tokenizer
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
        self._template = getattr(tok, "chat_template", None)
        if not self._template:
            from ..encoding import CHATML_TEMPLATE
            self._template = CHATML_TEMPLATE

    def _render(self, req: Request) -> str:
        return self.lm.tokenizer.apply_chat_template(list(req.messages), tokenize=False,
                                                     chat_template=self._template,
                                                     add_generation_prompt=True)

    def generate(self, requests: list[Request], on_result: OnResult | None = None) -> list[str]:
        prompts = [self._render(r) for r in requests]
        lengths = [len(self.lm.tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
        order = sorted(range(len(requests)), key=lambda i: lengths[i])
        out: list[str] = [""] * len(requests)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            texts = self._generate_batch([prompts[i] for i in idx], [requests[i] for i in idx])
            for i, text in zip(idx, texts):
                out[i] = text
                if on_result:
                    on_result(i, text)
        return out

    def _generate_batch(self, prompts: list[str], reqs: list[Request]) -> list[str]:
        import torch

        tok, model = self.lm.tokenizer, self.lm.model
        tok.padding_side = "left"
        enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        enc = {k: v.to(model.device) for k, v in enc.items()}
        seed_material = ",".join(str(r.seed) for r in reqs).encode()
        torch.manual_seed(int(hashlib.sha256(seed_material).hexdigest()[:8], 16))
        p = self.params
        sample = p.temperature > 0
        kwargs = dict(do_sample=sample, max_new_tokens=max(r.max_new_tokens for r in reqs),
                      pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
        if sample:
            kwargs.update(temperature=p.temperature, top_p=p.top_p)
        if p.no_repeat_ngram:
            kwargs["no_repeat_ngram_size"] = p.no_repeat_ngram
        if p.repetition_penalty != 1.0:
            kwargs["repetition_penalty"] = p.repetition_penalty
        if p.block_ngrams:
            from transformers import LogitsProcessorList

            # The source as the model would write it: alone, and after a space (mid-text).
            sources = [tok(r.text, add_special_tokens=False)["input_ids"]
                       + [-1] + tok(" " + r.text, add_special_tokens=False)["input_ids"]
                       for r in reqs]
            kwargs["logits_processor"] = LogitsProcessorList([SourceNgramBlocker(
                sources, p.block_ngrams, enc["input_ids"].shape[1])])
        with torch.inference_mode():
            gen = model.generate(**enc, **kwargs)
        new = gen[:, enc["input_ids"].shape[1]:]
        self.calls += len(prompts)
        # Count tokens up to each row's first eos (the rest is padding after it stopped).
        eos = tok.eos_token_id
        for row in new.tolist():
            self.generated_tokens += row.index(eos) + 1 if eos in row else len(row)
        return tok.batch_decode(new, skip_special_tokens=True)

    def close(self) -> None:
        pass
