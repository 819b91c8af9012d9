"""New tokens per second of the local generation path, per engine and batch size.

    python benchmarks/generation_speed.py                         # embedded model, this device
    python benchmarks/generation_speed.py --random-weights --model-dir DIR --data FILE.jsonl.gz

"before" is the eager engine (transformers' dynamic cache: what every run used until the
static engine existed); "after" is the engine `auto` picks on this device. Each row: prompts of
real text in the paraphrase prompt (sorted by length, as the backend sends them), greedy
decoding, a fixed number of new tokens per prompt (the end-of-text token is ignored so every
row decodes the same number of steps); the first call of each engine and batch size is a
warm-up (it compiles, for the static engine) and is timed separately. Also printed: whether
the engines' greedy outputs are identical (on a GPU, bf16 kernels chosen per shape may break
near-ties differently; the CPU test tests/test_generation.py requires identity).

`--random-weights` builds the architecture of --model-dir's config.json with random weights
(for machines that hold the config but not the weights); speed does not depend on the weights
when every row decodes a fixed number of steps.
"""
from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def load_model(args):
    import torch

    from sanitize.models import load_lm, pick_device, pick_dtype, resolve_lm_source

    device = pick_device(args.device)
    if not args.random_weights:
        return load_lm(args.model_dir, device)
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from sanitize.models import LoadedLM

    folder = args.model_dir or resolve_lm_source(None)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(folder),
                                             dtype=pick_dtype(device)).to(device).eval()
    return LoadedLM(model, AutoTokenizer.from_pretrained(folder), "random-weights", folder)


def read_texts(path: str, n: int) -> list[str]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for _, line in zip(range(n), fh)]
    return [r.get("text") or r["messages"][-1]["content"] for r in rows]


def prompt_ids(lm, texts: list[str], words: int) -> list[list[int]]:
    from sanitize.prompts import load_template

    template = load_template("text")
    tok = lm.tokenizer
    out = []
    for t in texts:
        piece = " ".join(t.split()[:words])
        rendered = tok.apply_chat_template(template.messages(piece), tokenize=False,
                                           add_generation_prompt=True)
        out.append(tok(rendered, add_special_tokens=False)["input_ids"])
    return out


def measure(lm, prompts, engine: str, batch_size: int, new_tokens: int) -> dict:
    import torch

    from sanitize.generation import generate_ids

    def once():
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t = time.perf_counter()
        # No end-of-text token: every row decodes exactly new_tokens steps.
        out = generate_ids(lm.model, prompts, pad_id=lm.tokenizer.pad_token_id, eos_id=None,
                           max_new_tokens=[new_tokens] * len(prompts),
                           seeds=[0] * len(prompts), batch_size=batch_size, engine=engine,
                           do_sample=False)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return out, time.perf_counter() - t

    _, first = once()
    out, took = once()
    batches = -(-len(prompts) // batch_size)
    tokens = sum(len(o) for o in out)
    return {"engine": engine, "batch": batch_size, "prompts": len(prompts),
            "new_tokens": tokens, "seconds": round(took, 3), "first_call_s": round(first, 3),
            "tokens_per_s": round(tokens / took, 1),
            "ms_per_step": round(1000 * took / (batches * new_tokens), 2), "outputs": out}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model-dir", help="HF folder (default: the embedded model)")
    ap.add_argument("--random-weights", action="store_true")
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" /
                                          "data" / "mimir" / "pubmed_abstracts.jsonl.gz"))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batches", default="8,64")
    ap.add_argument("--rounds", type=int, default=2, help="batches of prompts per measurement")
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--words", type=int, default=60, help="words of text per prompt")
    ap.add_argument("--engines", default="eager,auto")
    ap.add_argument("--oneshot", type=int, default=0,
                    help="also time N 8-token prompts x 64 new tokens, eager in one batch vs "
                         "static at 64 rows, first call included (SPV-MIA's self-prompts)")
    ap.add_argument("--json", help="write the rows here too")
    args = ap.parse_args()

    from sanitize.generation import resolve_engine

    lm = load_model(args)
    device = next(lm.model.parameters()).device
    rows = []
    for batch in [int(b) for b in args.batches.split(",")]:
        texts = read_texts(args.data, batch * args.rounds)
        prompts = prompt_ids(lm, texts, args.words)
        per_engine = {}
        for engine in args.engines.split(","):
            name = resolve_engine(engine, device)
            if name in per_engine:
                continue
            try:
                row = measure(lm, prompts, name, batch, args.new_tokens)
            except Exception as exc:  # report and go on: the other rows still count
                print(json.dumps({"engine": name, "batch": batch, "error": repr(exc)[:400]}))
                continue
            per_engine[name] = row.pop("outputs")
            row["device"] = str(device)
            rows.append(row)
            print(json.dumps(row), flush=True)
        outs = list(per_engine.values())
        if len(outs) == 2:
            same = sum(a == b for a, b in zip(*outs))
            print(json.dumps({"batch": batch, "greedy_outputs_identical": f"{same}/{len(outs[0])}"}),
                  flush=True)
    if args.oneshot:
        # SPV-MIA's case: one batch of short prompts from a freshly trained model, generated
        # once; the first call (compile included) is what it costs.
        prompts = [p[:8] for p in prompt_ids(lm, read_texts(args.data, args.oneshot), 8)]
        for name, batch in (("eager", args.oneshot), ("static", 64)):
            try:
                row = measure(lm, prompts, name, batch, 64)
            except Exception as exc:
                print(json.dumps({"oneshot": name, "error": repr(exc)[:400]}))
                continue
            row.pop("outputs")
            row["scenario"] = "one-shot"
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
