"""In-process transformers generation (default: the embedded SmolLM2-135M-Instruct).

Requests are rendered with the model's chat template and handed to `generation.generate_ids`,
which sorts them by length, batches them with left padding, seeds each batch from its requests'
seeds and, on a GPU, uses the compiled static-cache engine. A run is reproducible (a resumed run
generates its remaining batches with other seeds than an uninterrupted run would: the outputs
differ but are equally valid; finished ones come from the cache unchanged).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..generation import generate_ids
from .base import GenParams, OnResult, Request
from .decoding import SourceNgramBlocker, fact_tokens

if TYPE_CHECKING:
    from ..config import ParaphraseConfig

# Rows per batch on a GPU when the user keeps the default: a decoding step of a small model
# costs about the same for 8 rows as for 64 there (benchmarks/generation_speed.py).
GPU_BATCH = 64


class LocalBackend:
    name = "local"

    def __init__(self, lm, params: GenParams, batch_size: int | None = None,
                 engine: str = "auto"):
        self.lm = lm
        self.params = params
        on_gpu = str(lm.model.device).startswith("cuda")
        self.batch_size = batch_size or (GPU_BATCH if on_gpu else 8)
        self.engine = engine
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

    @classmethod
    def from_config(cls, cfg: ParaphraseConfig, lm=None) -> LocalBackend:
        """`lm`: the already loaded model to reuse, else `cfg.model` is loaded on
        `cfg.device`."""
        if lm is None:
            from ..models import load_lm
            lm = load_lm(cfg.model, device=cfg.device)
        return cls(lm, GenParams.from_config(cfg), batch_size=cfg.batch_size)

    def count_tokens(self, text: str) -> int | None:
        return len(self.lm.tokenizer(text, add_special_tokens=False)["input_ids"])

    def usage(self) -> dict:
        return {"backend_calls": self.calls, "generated_tokens": self.generated_tokens}

    def _prompt_ids(self, req: Request) -> list[int]:
        text = self.lm.tokenizer.apply_chat_template(list(req.messages), tokenize=False,
                                                     chat_template=self._template,
                                                     add_generation_prompt=True)
        return self.lm.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _blocker(self, requests: list[Request]):
        """Per batch: forbid continuing an n-gram of each row's own source piece, except into
        a token of one of its facts (names, numbers, URLs: they must survive the gate)."""
        from transformers import LogitsProcessorList

        from ..fidelity import fact_spans
        from .placeholders import placeholder_spans

        n = self.params.block_ngrams
        sources, free = [], []
        for r in requests:
            # A masked piece's placeholders are its facts (paraphrase/placeholders.py).
            spans = fact_spans(r.text) + placeholder_spans(r.text)
            # The source as the model would write it: alone, and after a space (mid-text),
            # joined by -1 (no n-gram spans the join).
            alone, spaced = (self.lm.tokenizer(prefix + r.text, add_special_tokens=False,
                                               return_offsets_mapping=True)
                             for prefix in ("", " "))
            shifted = [(a + 1, b + 1) for a, b in spans]
            sources.append(alone["input_ids"] + [-1] + spaced["input_ids"])
            free.append(fact_tokens(alone["offset_mapping"], spans) + [False]
                        + fact_tokens(spaced["offset_mapping"], shifted))
        return lambda rows, width: LogitsProcessorList(
            [SourceNgramBlocker([sources[i] for i in rows], n, width,
                                free=[free[i] for i in rows])])

    def generate(self, requests: list[Request], on_result: OnResult | None = None) -> list[str]:
        tok, p = self.lm.tokenizer, self.params
        sampling: dict = {"do_sample": p.temperature > 0}
        if p.temperature > 0:
            sampling.update(temperature=p.temperature, top_p=p.top_p)
        if p.no_repeat_ngram:
            sampling["no_repeat_ngram_size"] = p.no_repeat_ngram
        if p.repetition_penalty != 1.0:
            sampling["repetition_penalty"] = p.repetition_penalty
        out = [""] * len(requests)

        def done(i: int, tokens: list[int]) -> None:
            self.calls += 1
            self.generated_tokens += len(tokens)
            out[i] = tok.decode(tokens, skip_special_tokens=True)
            if on_result:
                on_result(i, out[i])

        generate_ids(self.lm.model, [self._prompt_ids(r) for r in requests],
                     pad_id=tok.pad_token_id, eos_id=tok.eos_token_id,
                     max_new_tokens=[r.max_new_tokens for r in requests],
                     seeds=[r.seed for r in requests], batch_size=self.batch_size,
                     engine=self.engine,
                     processors=self._blocker(requests) if p.block_ngrams else None,
                     on_done=done, **sampling)
        return out

    def close(self) -> None:
        pass
