"""Wall time of a dataset-mode audit with the cheap attacks and with the full suite, with the
time of every stage, on the same data, model and device.

    python benchmarks/audit_speed.py --n 200                # embedded model, CPU or GPU
    python benchmarks/audit_speed.py --n 200 --random-weights --model-dir DIR --data F.jsonl.gz

Members, non-members (N each) and 50 validation records are disjoint draws (seed 0) from one
domain of ../shared/data/mimir; the protected file is the members unchanged (what is timed is
the audit, not the protection). Cheap: loss, zlib, lowercase, Min-K%, Min-K%++, reference.
Full: every attack (neighbourhood, SPV-MIA, ensemble too). The ratio printed is full / cheap.
`--random-weights` saves the config's architecture with random weights to a temporary folder
and audits that: for GPU machines that hold the config but not the weights.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generation_speed import load_model  # noqa: E402

CHEAP = ("loss", "zlib", "lowercase", "mink", "minkpp", "reference")


def write_split(data: str, n: int, folder: Path) -> dict[str, str]:
    import gzip

    opener = gzip.open if data.endswith(".gz") else open
    with opener(data, "rt", encoding="utf-8") as fh:
        lines = [line for line in fh if line.strip()]
    random.Random(0).shuffle(lines)
    parts = {"members": lines[:n], "nonmembers": lines[n:2 * n],
             "validation": lines[2 * n:2 * n + 50]}
    paths = {}
    for name, rows in parts.items():
        paths[name] = str(folder / f"{name}.jsonl")
        Path(paths[name]).write_text("".join(rows), encoding="utf-8")
    return paths


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--model-dir")
    ap.add_argument("--random-weights", action="store_true")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" /
                                          "data" / "mimir" / "pubmed_abstracts.jsonl.gz"))
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--epochs", type=float, default=2)
    ap.add_argument("--suites", default="cheap,full")
    ap.add_argument("--eval-batch-size", type=int, default=None,
                    help="default: the library's (16 on CPU, 64 on GPU)")
    ap.add_argument("--json", help="write the figures here too")
    args = ap.parse_args()

    from sanitize.auditing.config import ALL_ATTACKS, AuditConfig
    from sanitize.auditing.run import run
    from sanitize.config import TrainConfig

    tmp = Path(tempfile.mkdtemp(prefix="audit-speed-"))
    paths = write_split(args.data, args.n, tmp)
    model = args.model_dir
    if args.random_weights:
        lm = load_model(args)
        model = str(tmp / "model")
        lm.model.save_pretrained(model)
        lm.tokenizer.save_pretrained(model)
        del lm
    figures = {}
    for suite in args.suites.split(","):
        cfg = AuditConfig(out_dir=str(tmp / suite), original=paths["members"],
                          protected=paths["members"], nonmembers=paths["nonmembers"],
                          validation=paths["validation"], base_model=model,
                          attacks=CHEAP if suite == "cheap" else ALL_ATTACKS,
                          train=TrainConfig(epochs=args.epochs, max_length=args.max_length,
                                            device=args.device),
                          eval_batch_size=args.eval_batch_size, bootstrap=200,
                          allow_overlap=args.random_weights)
        t = time.perf_counter()
        result = run(cfg, log=lambda m: print("  " + m, flush=True))
        took = time.perf_counter() - t
        figures[suite] = {
            "seconds": round(took, 1),
            "fine_tune_s": round(sum(m.train.get("seconds", 0) for m in result.models), 1),
            "attack_s": round(sum(sum(m.stage_seconds.values()) for m in result.models), 1),
            "stages": {m.label: m.stage_seconds for m in result.models},
            "aucs": {m.label: {a: round(x.auc.value, 3) for a, x in m.metrics.items()}
                     for m in result.models}}
        print(json.dumps({suite: figures[suite]}), flush=True)
    if "cheap" in figures and "full" in figures:
        c, f = figures["cheap"], figures["full"]
        figures["ratio"] = {"total": round(f["seconds"] / c["seconds"], 2),
                            "attacks": round(f["attack_s"] / max(c["attack_s"], 1e-9), 2)}
        print(json.dumps({"n": args.n, "ratio_full_over_cheap": figures["ratio"]}), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
