"""Where a target fine-tune step, a scoring batch and a self-prompt batch spend their time, on
the device: foreach vs fused AdamW, a torch.profiler table of 10 training steps, token
statistics at eval batch 64 and 128, and eager self-prompt generation (200 x 64 tokens).

    python benchmarks/train_step_probe.py --random-weights --model-dir DIR --data F.jsonl.gz

Figures recorded in docs/gpu.md (the audit section). `--n` shrinks the run for a CPU smoke test.
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generation_speed import load_model, read_texts  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model-dir")
    ap.add_argument("--random-weights", action="store_true")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--data", required=True)
    ap.add_argument("--n", type=int, default=400, help="records read (half are trained on)")
    args = ap.parse_args()

    import torch
    from torch.profiler import ProfilerActivity, profile

    from sanitize.config import TrainConfig
    from sanitize.encoding import Encoded
    from sanitize.generation import generate_ids
    from sanitize.token_stats import token_stats
    from sanitize.train import fine_tune

    lm = load_model(args)
    tok, pad = lm.tokenizer, lm.tokenizer.pad_token_id
    enc = []
    for text in read_texts(args.data, args.n):
        ids = tok(text)["input_ids"][:128] + [tok.eos_token_id]
        enc.append(Encoded(ids, [True] * len(ids), False, len(ids)))
    half = enc[:len(enc) // 2]

    def sync():
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    cfg = TrainConfig(epochs=1, max_length=128)
    steps = -(-len(half) // cfg.batch_size)
    adamw = torch.optim.AdamW
    # The first fine-tune of a process pays CUDA's start-up; it is reported as "warm".
    for label in ("warm", "foreach", "fused", "foreach", "fused"):
        if label == "fused":
            torch.optim.AdamW = lambda *a, **k: adamw(*a, fused=True, **k)
        sync()
        t = time.perf_counter()
        model = fine_tune(copy.deepcopy(lm.model), half, pad, cfg)
        sync()
        took = time.perf_counter() - t
        torch.optim.AdamW = adamw
        print(f"fine_tune {steps} steps {label}: {took:.2f} s = {took / steps * 1000:.0f} ms/step",
              flush=True)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA]
                                           if torch.cuda.is_available() else [])
    with profile(activities=activities) as prof:
        fine_tune(copy.deepcopy(lm.model), enc[:10 * cfg.batch_size], pad, cfg)
        sync()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18), flush=True)
    print("target dtype", next(model.parameters()).dtype)
    for bs in (64, 128, 64):
        sync()
        t = time.perf_counter()
        token_stats(model, enc, pad, bs)
        sync()
        print(f"token_stats {len(enc)} texts batch {bs}: {time.perf_counter() - t:.2f} s",
              flush=True)
    prompts = [e.input_ids[:8] for e in half]
    for _ in range(2):
        sync()
        t = time.perf_counter()
        generate_ids(model, prompts, pad_id=pad, eos_id=None, max_new_tokens=[64] * len(prompts),
                     seeds=list(range(len(prompts))), batch_size=256, engine="eager",
                     do_sample=True, top_k=0)
        sync()
        print(f"self-prompt generation {len(prompts)} x 64 eager: "
              f"{time.perf_counter() - t:.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
