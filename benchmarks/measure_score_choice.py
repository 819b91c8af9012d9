"""Which risk score finds the records a fine-tune really exposes? A cheap proxy for the audit.

The honest measurement (obfuscate each rule's top set, fine-tune, audit) needs the paraphraser;
this one asks the question that decides it, with an ideal obfuscation:
1. From one ../shared/data/mimir domain, shuffled with a fixed seed, take N members and N
   non-members; truncate to --max-length tokens.
2. Owner's side: `score_records` on the members (base loss, 1-epoch warm-up with seed A, loss
   after), giving the "loss" and "loss-drop" risks.
3. Victim's side: an independent 1-epoch fine-tune on the members (seed B, the members in
   another order, so batches are composed differently), the target. The reference attack
   scores every text by base NLL minus target NLL, the LOSS attack by minus target NLL
   (higher = member).
4. For each rule (loss, loss-drop, random over many draws, and the oracle that sorts by the
   attack's own score) and ratio: the share of the truly most exposed members its top set
   catches, and the attack AUC (members vs non-members) once its selected members are removed
   from the member set, i.e. if obfuscation erased their signal completely. Lower is better.

Usage: python benchmarks/measure_score_choice.py --domain pubmed_abstracts --members 150
"""
from __future__ import annotations

import argparse
import copy
import random
import sys
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mimir"


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """ROC AUC = P(member score > non-member score), ties counted half."""
    pos, neg = np.asarray(pos)[:, None], np.asarray(neg)[None, :]
    return float((pos > neg).mean() + 0.5 * (pos == neg).mean())


def top(scores: np.ndarray, k: int) -> set[int]:
    return set(np.argsort(-scores, kind="stable")[:k].tolist())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--domain", default="pubmed_abstracts")
    ap.add_argument("--members", type=int, default=150)
    ap.add_argument("--max-length", type=int, default=96)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ratios", type=float, nargs="+", default=[0.3, 0.5])
    ap.add_argument("--random-draws", type=int, default=200)
    args = ap.parse_args()

    from sanitize.config import ScoreConfig, TrainConfig
    from sanitize.datafile import read_dataset
    from sanitize.models import load_lm
    from sanitize.scoring import encode_records, record_losses, score_records
    from sanitize.train import fine_tune

    started = time.perf_counter()
    recs = read_dataset(str(DATA / f"{args.domain}.jsonl.gz")).records
    random.Random(args.seed).shuffle(recs)
    n = args.members
    members, nonmembers = recs[:n], recs[n:2 * n]
    lm = load_lm(None, device="cpu")
    pad = lm.tokenizer.pad_token_id
    train = TrainConfig(max_length=args.max_length, seed=args.seed + 1, device="cpu")

    log(started, "owner: base loss, warm-up, loss after")
    owner = score_records(members, ScoreConfig(score="loss", train=train, dedup=False), lm=lm)
    base_m = np.array([s.loss_before for s in owner])
    after = np.array([s.loss_after for s in owner])
    risk = {"loss": -after, "loss-drop": base_m - after}

    log(started, "victim: base loss of non-members, target fine-tune, target losses")
    enc_m = encode_records(members, lm.tokenizer, args.max_length)
    enc_n = encode_records(nonmembers, lm.tokenizer, args.max_length)
    base_n = np.array(record_losses(lm.model, enc_n, pad, 16))
    victim_cfg = TrainConfig(max_length=args.max_length, seed=args.seed + 2, device="cpu")
    # The victim sees the members in another order: with equal (truncated) lengths, batches
    # are cut in list order, so this changes batch composition, not only batch order.
    victim_order = np.random.default_rng(args.seed + 2).permutation(n).tolist()
    target = fine_tune(copy.deepcopy(lm.model), [enc_m[i] for i in victim_order], pad,
                       victim_cfg)
    tgt_m = np.array(record_losses(target, enc_m, pad, 16))
    tgt_n = np.array(record_losses(target, enc_n, pad, 16))
    attacks = {"reference": (base_m - tgt_m, base_n - tgt_n), "LOSS": (-tgt_m, -tgt_n)}

    print(f"domain {args.domain}: {n} members, {n} non-members, max_length {args.max_length}, "
          f"seed {args.seed}; {(time.perf_counter() - started) / 60:.1f} min of compute")
    print(f"mean loss: base {base_m.mean():.3f}, warm-up {after.mean():.3f}, target members "
          f"{tgt_m.mean():.3f}, target non-members {tgt_n.mean():.3f}")
    exposure = attacks["reference"][0]
    print(f"Spearman(risk, reference exposure): loss {spearman(risk['loss'], exposure):.3f}, "
          f"loss-drop {spearman(risk['loss-drop'], exposure):.3f}")
    for name, (m, nm) in attacks.items():
        print(f"undefended {name} AUC: {auc(m, nm):.3f}")
    rng = np.random.default_rng(args.seed)
    for ratio in args.ratios:
        k = int(np.ceil(round(ratio * n, 9)))
        truth = top(attacks["reference"][0], k)
        print(f"\nratio {ratio} (k={k}): recall of the {k} most exposed members (reference) and "
              f"AUC after removing the selected members")
        print(f"{'rule':<12} {'recall':>8} {'ref AUC':>9} {'LOSS AUC':>9}")
        rules = {**risk, "oracle-ref": attacks["reference"][0]}
        for rule, scores in rules.items():
            print(row(rule, top(scores, k), truth, attacks, n))
        draws = [evaluate(set(rng.choice(n, k, replace=False).tolist()), truth, attacks, n)
                 for _ in range(args.random_draws)]
        mean, sd = np.mean(draws, axis=0), np.std(draws, axis=0)
        print(f"{'random':<12} {mean[0]:>8.3f} {mean[1]:>9.3f} {mean[2]:>9.3f}   "
              f"(sd over {args.random_draws} draws: {sd[0]:.3f} {sd[1]:.3f} {sd[2]:.3f})")


def log(started: float, what: str) -> None:
    """Stage marks on stderr, so a long run shows where it is."""
    print(f"[{(time.perf_counter() - started) / 60:5.1f} min] {what}", file=sys.stderr,
          flush=True)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def evaluate(selected: set[int], truth: set[int], attacks, n: int) -> tuple[float, float, float]:
    keep = np.array([i for i in range(n) if i not in selected], dtype=int)
    out = [len(selected & truth) / len(truth)]
    for m, nm in attacks.values():
        out.append(auc(m[keep], nm))
    return tuple(out)


def row(rule: str, selected: set[int], truth: set[int], attacks, n: int) -> str:
    recall, ref, loss = evaluate(selected, truth, attacks, n)
    return f"{rule:<12} {recall:>8.3f} {ref:>9.3f} {loss:>9.3f}"


if __name__ == "__main__":
    main()
