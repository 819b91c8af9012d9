"""Throughput of the score stage: warm-up training and per-record scoring, in tokens/s.

Prints, for the same records and tokens:
- ours: `sanitize.scoring.warm_up` and `sanitize.scoring.record_losses` (what `soft-sanitize score`
  runs: length buckets, masks, progress callbacks);
- plain: a bare PyTorch loop (AdamW steps / a forward plus cross-entropy), the floor to beat;
- bound: the FLOP-bound time, 6 * params * tokens for training and 2 * params * tokens for
  inference, at the fp32 matmul GFLOP/s measured on this machine just before;
- a projection of the whole stage (base loss + warm-up + warm-up loss) for 1,000 records of
  256 tokens from the measured rates.

Usage (small, a few minutes on 2 CPU cores):
    python benchmarks/bench_score.py --records 32 --tokens 128
"""
from __future__ import annotations

import argparse
import copy
import gzip
import json
import random
import time
from pathlib import Path

DATA = (Path(__file__).resolve().parents[2] / "shared" / "data" / "mimir"
        / "pubmed_abstracts.jsonl.gz")


def texts(n: int) -> list[str]:
    """Real abstracts when ../shared/data is present, else seeded pseudo-words (same cost)."""
    if DATA.exists():
        with gzip.open(DATA, "rt") as fh:
            return [json.loads(line)["text"] for _, line in zip(range(n), fh)]
    rng = random.Random(0)
    return [" ".join("".join(rng.choice("etaoinshrdlu") for _ in range(rng.randint(2, 9)))
                     for _ in range(400)) for _ in range(n)]


def matmul_gflops(size: int = 2048, reps: int = 8) -> float:
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * size ** 3 * reps / (time.perf_counter() - t) / 1e9


def plain_train(model, encoded, batch_size: int, lr: float) -> float:
    """Seconds for one epoch of bare AdamW steps over the same token batches."""
    import torch

    model = copy.deepcopy(model).train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    batches = [encoded[i:i + batch_size] for i in range(0, len(encoded), batch_size)]
    t = time.perf_counter()
    for batch in batches:
        ids = torch.tensor([e.input_ids for e in batch])  # equal lengths: no padding
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return time.perf_counter() - t


def plain_score(model, encoded, batch_size: int) -> float:
    """Seconds for forward + per-record mean token NLL over the same records."""
    import torch
    import torch.nn.functional as F

    t = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(encoded), batch_size):
            ids = torch.tensor([e.input_ids for e in encoded[i:i + batch_size]])
            logits = model(input_ids=ids).logits[:, :-1]
            nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1),
                                  reduction="none").view(ids.shape[0], -1).mean(1)
            nll.tolist()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=32)
    ap.add_argument("--tokens", type=int, default=128, help="tokens per record (truncation)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--eval-batch-size", type=int, default=16)
    args = ap.parse_args()

    import torch

    from sanitize.config import ScoreConfig, TrainConfig
    from sanitize.models import load_lm
    from sanitize.records import make_record
    from sanitize.scoring import encode_records, record_losses, warm_up

    lm = load_lm(None, device="cpu")
    objs = [{"text": t} for t in texts(args.records)]
    recs = [make_record(i + 1, json.dumps(o), o, "text", "bench") for i, o in enumerate(objs)]
    encoded = encode_records(recs, lm.tokenizer, args.tokens)
    # The plain loop stacks records without padding, so keep only full-length ones.
    encoded = [e for e in encoded if len(e.input_ids) == args.tokens]
    n_tok = sum(len(e.input_ids) for e in encoded)
    params = sum(p.numel() for p in lm.model.parameters())
    pad = lm.tokenizer.pad_token_id
    cfg = ScoreConfig(train=TrainConfig(batch_size=args.batch_size, max_length=args.tokens),
                      eval_batch_size=args.eval_batch_size)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; model "
          f"{params / 1e6:.1f}M params; {len(encoded)} records x {args.tokens} tokens = "
          f"{n_tok} tokens")

    gf = matmul_gflops()
    t0 = time.perf_counter()
    warm_up(lm.model, encoded, pad, cfg)
    ours_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    record_losses(lm.model, encoded, pad, args.eval_batch_size)
    ours_score = time.perf_counter() - t0
    base_train = plain_train(lm.model, encoded, args.batch_size, cfg.train.lr)
    base_score = plain_score(lm.model, encoded, args.eval_batch_size)
    gf_after = matmul_gflops()

    bound_train = 6 * params * n_tok / (gf * 1e9)
    bound_score = 2 * params * n_tok / (gf * 1e9)
    print(f"matmul fp32: {gf:.1f} GFLOP/s before, {gf_after:.1f} after (shared cores vary)")
    row = "{:<9} {:>12} {:>14} {:>12} {:>14}"
    print(row.format("", "train s", "train tok/s", "score s", "score tok/s"))
    for name, tr, sc in [("ours", ours_train, ours_score), ("plain", base_train, base_score),
                         ("bound", bound_train, bound_score)]:
        print(row.format(name, f"{tr:.1f}", f"{n_tok / tr:.0f}", f"{sc:.1f}", f"{n_tok / sc:.0f}"))
    print(f"ours / plain: train {ours_train / base_train:.2f}x, score "
          f"{ours_score / base_score:.2f}x; plain / bound: train {base_train / bound_train:.2f}x, "
          f"score {base_score / bound_score:.2f}x")
    proj_tok = 1000 * 256
    proj = proj_tok / (n_tok / ours_train) + 2 * proj_tok / (n_tok / ours_score)
    bound = (6 + 2 * 2) * params * proj_tok / (gf * 1e9)
    print(f"projected score stage, 1000 records x 256 tokens at these rates: {proj / 60:.1f} min "
          f"(FLOP bound at {gf:.0f} GFLOP/s: {bound / 60:.1f} min)")


if __name__ == "__main__":
    main()
