"""In-process vLLM batch generation for GPU machines (`pip install 'soft-sanitize[vllm]'`).

vLLM schedules the whole batch itself (continuous batching), so the caller hands over large
batches. Each request carries its own seed, so outputs do not depend on batch composition.
Of the anti-copy decoding rules only `repetition_penalty` maps onto vLLM's SamplingParams;
source n-gram blocking and no-repeat n-grams are the local backend's (vLLM's V1 engine takes
no per-request logits processors): here the gate and best-of-N (`pick`) do that work.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import MissingModelError
from .base import GenParams, OnResult, Request

if TYPE_CHECKING:
    from ..config import ParaphraseConfig

VLLM_PIP = "pip install 'soft-sanitize[vllm]'"


class VLLMBackend:
    name = "vllm"

    def __init__(self, model: str | None, params: GenParams, batch_size: int = 256):
        try:
            import vllm
        except ImportError:
            raise MissingModelError(
                f"the vllm paraphraser needs vLLM (a CUDA build); run: {VLLM_PIP}") from None
        from ..models import EMBEDDED_LM, resolve_lm_source

        self.model = model or EMBEDDED_LM
        self._vllm = vllm
        self.llm = vllm.LLM(model=resolve_lm_source(model))
        self.params = params
        self.batch_size = max(batch_size, 256)
        self.calls = 0
        self.generated_tokens = 0

    @classmethod
    def from_config(cls, cfg: ParaphraseConfig, lm=None) -> VLLMBackend:
        return cls(cfg.model, GenParams.from_config(cfg), batch_size=cfg.batch_size or 256)

    def generate(self, requests: list[Request], on_result: OnResult | None = None) -> list[str]:
        sampling = [self._vllm.SamplingParams(temperature=self.params.temperature,
                                              top_p=self.params.top_p, seed=r.seed,
                                              max_tokens=r.max_new_tokens,
                                              repetition_penalty=self.params.repetition_penalty)
                    for r in requests]
        outputs = self.llm.chat([list(r.messages) for r in requests], sampling, use_tqdm=False)
        texts = []
        for i, o in enumerate(outputs):
            texts.append(o.outputs[0].text)
            self.generated_tokens += len(o.outputs[0].token_ids)
            if on_result:
                on_result(i, texts[-1])
        self.calls += len(requests)
        return texts

    def count_tokens(self, text: str) -> int | None:
        # None keeps the budget of the runs before this method existed (the caller's estimate).
        return None

    def usage(self) -> dict:
        return {"backend_calls": self.calls, "generated_tokens": self.generated_tokens}

    def close(self) -> None:
        pass
