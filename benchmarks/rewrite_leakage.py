"""How much does a rewrite leak, by how far it is from the original? The measurement a gate
threshold must rest on before it moves (issue 13: "change a threshold only with a measured
privacy argument").

For one domain of the privacy benchmark's split (same members, non-members, training and attack
settings as `benchmarks/privacy_utility.py`):
1. every member is rewritten once by the embedded paraphraser (or the one `--paraphraser` names,
   e.g. `qwen0.5b+block4`: benchmarks/privacy/paraphrasers.py) under an *open* gate that accepts
   any non-empty candidate (refusals, prompt echoes and broken Python are still refused and the
   record kept as it was), so rewrites of every distance reach training;
2. one target is fine-tuned on the rewrites, one on the originals (no-defense);
3. the cheap attack suite scores the ORIGINAL member texts against the non-members on both;
4. members are grouped by their rewrite's distance from the original (the gate's overlap and
   similarity, and the default gate's verdict on the same pair) and each group's AUC against
   all non-members is reported under both targets.

A group's AUC under the rewrite target is how much a rewrite at that distance still leaks; the
same group under no-defense is what it leaked as an original, so differences between groups
are not differences in how memorable their records were to begin with.

    python benchmarks/rewrite_leakage.py --domain pubmed_abstracts

Writes benchmarks/results/rewrite-leakage/<domain>.json and <domain>.md. Every stage
is cached there or in the shared paraphrase cache, so a killed run resumes.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
for path in (HERE.parent, HERE):  # the library (sanitize) and the benchmark package (privacy)
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from privacy.attacks import train_target  # noqa: E402
from privacy.cli import build_parser, make_context, resolve  # noqa: E402
from privacy.common import (lines_sha256, log, read_cached, sha256_json,  # noqa: E402
                            write_json)
from privacy.run import DomainRun  # noqa: E402
from privacy.paraphrasers import OPTIONS as PARAPHRASER_OPTIONS  # noqa: E402
from privacy.paraphrasers import with_options  # noqa: E402
from privacy.settings import protect_with, select_all  # noqa: E402

ATTACKS = ("reference", "loss")  # the strongest on every shared domain, and the plainest
OVERLAP_BINS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01)
SIMILARITY_BINS = (-1.0, 0.6, 0.75, 0.85, 0.95, 1.01)


def open_gate():
    """A gate every non-empty candidate passes: no similarity, overlap, span, length or fact
    bound. What it still refuses (refusal, prompt echo, Python that stops parsing) leaves the
    record as it was (on_fail keep)."""
    from sanitize.config import GateConfig

    return GateConfig(min_similarity=-1.0, max_overlap=1.0, max_common_span=10 ** 9,
                      min_length_ratio=0.0, max_length_ratio=1e9, check_facts=False,
                      on_fail="keep")


def rewrites(run: DomainRun, ctx, paraphraser: tuple[str, ...] = ()) -> tuple[list, list[dict]]:
    """The members with each one rewritten under the open gate (by the embedded paraphraser,
    or as `paraphraser`'s options say), and per member its distance from the original and the
    default gate's verdict on the same pair."""
    from sanitize.config import GateConfig, SanitizeConfig
    from sanitize.gate import evaluate_every_check
    from sanitize.paraphrase.chunks import assemble

    members = run.split.members
    cfg = SanitizeConfig(score=run.score, paraphrase=with_options(ctx.paraphrase, paraphraser),
                         gate=open_gate())
    prot = protect_with(members, select_all(members), cfg, lm=ctx.base_lm(),
                        embedder=ctx.sentence_embedder(),
                        cache_path=str(ctx.cache_dir / "paraphrases.sqlite"), log=log)
    records = [res.output if res.output is not None else res.record for res in prot.results]
    rows = [{"id": res.record.id,
             "rewritten": res.outcome is not None and res.outcome.new_record is not None}
            for res in prot.results]
    # Every rewritten segment judged by today's gate in one call (one embedding batch), with
    # every check it fails listed, not only the first.
    segs = [(i, s) for i, (res, row) in enumerate(zip(prot.results, rows)) if row["rewritten"]
            for s in res.outcome.segments if s.new_text is not None]
    judged = evaluate_every_check([(assemble(s.chunks, {}), s.new_text) for _, s in segs],
                                  GateConfig(), ctx.sentence_embedder(), [s.kind for _, s in segs])
    by_record: dict[int, list] = {}
    for (i, _), verdict in zip(segs, judged):
        by_record.setdefault(i, []).append(verdict)
    for i, verdicts in by_record.items():
        # A record is as close to its original as its closest segment, and fails every check
        # one of its segments fails; the gate's verdict is its first failing segment's reason.
        failed = list(dict.fromkeys(c for _, f in verdicts for c in f))
        rows[i].update(overlap=max(g.overlap for g, _ in verdicts),
                       similarity=min(g.similarity for g, _ in verdicts),
                       common_span=max(g.common_span for g, _ in verdicts),
                       default_gate=failed[0] if failed else "pass", failed_checks=failed)
    return records, rows


def member_scores(run: DomainRun, ctx, name: str, records: list) -> dict:
    """Each attack's score of every text (members first) under a target trained on
    `records`, cached by the training set's hash (training is seeded: same set, same model)."""
    sha = lines_sha256(r.raw for r in records)
    key = sha256_json({**run.common, "train_sha256": sha, "audit": run.cheap_audit_key()})
    path = out_dir(ctx) / f"{run.domain}.{name}.scores.json"
    cached = read_cached(path, key)
    if cached is not None:
        log(f"{run.domain}/{name}: attack scores from cache")
        return cached
    atk = run.attacker()
    log(f"{run.domain}/{name}: fine-tuning the target on {len(records)} records")
    t = time.time()
    target = train_target(ctx.base_lm(), records, run.train)
    train_s = round(time.time() - t, 1)
    t = time.time()
    mr = atk.attack(target, f"target:{name}:{sha}", name, name)
    out = {"config_hash": key, "train_sha256": sha, "perplexity": mr.perplexity,
           "seconds": {"train": train_s, "audit": round(time.time() - t, 1)},
           "labels": atk.ts.labels.tolist(),
           "scores": {a: mr.scores[a].tolist() for a in ATTACKS if a in mr.scores}}
    write_json(path, out)
    return out


def group_auc(scores: dict, members: list[int], n_boot: int, seed: int) -> dict:
    """AUC of the members at positions `members` against every non-member, per attack."""
    from sanitize.auditing.metrics import evaluate

    labels = np.array(scores["labels"])
    nonmembers = np.flatnonzero(labels == 0)
    idx = np.concatenate([np.array(members, dtype=int), nonmembers])
    out = {}
    for attack, s in scores["scores"].items():
        m = evaluate(np.array(s)[idx], labels[idx], n_boot=n_boot, seed=seed)
        out[attack] = {"auc": round(m.auc.value, 4),
                       "ci95": [round(m.auc.ci_low, 4), round(m.auc.ci_high, 4)]
                       if m.auc.ci_low is not None else None}
    return out


def groups(rows: list[dict]) -> list[tuple[str, str, list[int]]]:
    """(grouping, label, member positions): all, not rewritten, overlap and similarity bins,
    today's wording bounds met or missed, the default gate's verdict."""
    from sanitize.config import GateConfig

    done = [i for i, r in enumerate(rows) if r["rewritten"]]
    out = [("all", "every member", list(range(len(rows)))),
           ("all", "rewritten", done),
           ("all", "not rewritten (kept as is)", [i for i, r in enumerate(rows)
                                                  if not r["rewritten"]])]
    for key, bins in (("overlap", OVERLAP_BINS), ("similarity", SIMILARITY_BINS)):
        for lo, hi in zip(bins, bins[1:]):
            label = f"below {hi:.2f}" if lo < 0 else f"{lo:.2f}-{min(hi, 1.0):.2f}"
            out.append((key, label, [i for i in done if lo <= rows[i][key] < hi]))
    # Today's privacy bounds alone (the rest of the gate is about meaning, not leakage).
    g = GateConfig()
    met = {i for i in done
           if rows[i]["overlap"] <= g.max_overlap and rows[i]["common_span"] <= g.max_common_span}
    out += [("wording bounds", f"met (overlap <= {g.max_overlap}, span <= {g.max_common_span})",
             [i for i in done if i in met]),
            ("wording bounds", "missed", [i for i in done if i not in met])]
    verdicts = sorted({rows[i]["default_gate"] for i in done}, key=lambda v: (v != "pass", v))
    for v in verdicts:
        out.append(("default gate", v, [i for i in done if rows[i]["default_gate"] == v]))
    # Records one check alone keeps from passing: what relaxing that check would let through.
    single = sorted({rows[i]["failed_checks"][0] for i in done
                     if len(rows[i]["failed_checks"]) == 1})
    for check in single:
        out.append(("fails only", check, [i for i in done if rows[i]["failed_checks"] == [check]]))
    return out


def render(report: dict) -> str:
    d = report
    lines = [f"# Leakage of rewrites by distance from the original: {d['domain']}, "
             f"paraphraser {'+'.join(d['paraphraser'])}", "",
             "Generated by `benchmarks/rewrite_leakage.py` (method in its docstring); every "
             "number is measured by it.", "",
             f"- Command: `{d['command']}`",
             f"- {d['members']} members (all rewritten once under an open gate), "
             f"{d['nonmembers']} non-members; the attacks score the ORIGINAL member texts.",
             f"- Validation perplexity: no-defense {d['perplexity']['no-defense']:.2f}, "
             f"rewritten {d['perplexity']['rewritten']:.2f}.",
             "- AUC: the group's members against all non-members, 95% bootstrap CI. "
             "Overlap and similarity are the gate's measures on the record's rewrite (its "
             "closest segment); *default gate* is today's gate on the same pair.", "",
             "| grouping | group | members | reference AUC, trained on originals | reference AUC, "
             "trained on rewrites | loss AUC, originals | loss AUC, rewrites |",
             "|---|---|---|---|---|---|---|"]

    def cell(x, attack):
        a = x.get(attack)
        if a is None:
            return "-"
        ci = f" [{a['ci95'][0]:.2f}, {a['ci95'][1]:.2f}]" if a["ci95"] else ""
        return f"{a['auc']:.3f}{ci}"

    for g in d["groups"]:
        if not g["n"]:
            continue
        lines.append(f"| {g['grouping']} | {g['group']} | {g['n']} | "
                     f"{cell(g['no-defense'], 'reference')} | {cell(g['rewritten'], 'reference')}"
                     f" | {cell(g['no-defense'], 'loss')} | {cell(g['rewritten'], 'loss')} |")
    lines += ["", "Today's gate on the rewrites, check by check (a record fails a check when one of "
              "its segments does; *alone*: the only check it fails, so relaxing that check alone "
              "would let it pass):", "", "| check | records failing it | failing it alone |",
              "|---|---|---|"]
    rewritten = [r for r in d["members_detail"] if r["rewritten"]]
    counts = Counter(c for r in rewritten for c in r["failed_checks"])
    alone = Counter(r["failed_checks"][0] for r in rewritten if len(r["failed_checks"]) == 1)
    for check, n in counts.most_common():
        lines.append(f"| {check} | {n} | {alone[check]} |")
    passed = sum(1 for r in rewritten if not r["failed_checks"])
    lines.append(f"| (none: passes) | {passed} | |")
    return "\n".join(lines) + "\n"


def out_dir(ctx) -> Path:
    return ctx.cache_dir / "rewrite-leakage"


def main(argv: list[str] | None = None) -> dict:
    """`--domain D` and `--threads N`; any other option is the privacy benchmark's (e.g.
    `--quick`, `--members`, `--cache-dir`) and means what it means there."""
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="other options: see benchmarks/privacy_utility.py --help")
    p.add_argument("--domain", default="pubmed_abstracts")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--paraphraser", default="",
                   help="the paraphraser as a setting names it (benchmarks/privacy/"
                        "paraphrasers.py), e.g. qwen0.5b+block4; default the embedded one")
    own, rest = p.parse_known_args(argv)
    paraphraser = tuple(o for o in own.paraphraser.split("+") if o)
    unknown = [o for o in paraphraser if o not in PARAPHRASER_OPTIONS]
    if unknown:
        p.error(f"unknown --paraphraser option(s) {unknown}; known: {list(PARAPHRASER_OPTIONS)}")
    run_name = "+".join((own.domain, *paraphraser))  # names this run's files
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch

    if own.threads:
        torch.set_num_threads(own.threads)
    args = resolve(build_parser().parse_args(["--domains", own.domain, "--no-full-suite", *rest]))
    ctx = make_context(args, argv, script="rewrite_leakage.py")
    run = DomainRun(ctx, own.domain)
    out_dir(ctx).mkdir(parents=True, exist_ok=True)
    records, rows = rewrites(run, ctx, paraphraser)
    originals = list(run.split.members.records)
    scores = {"no-defense": member_scores(run, ctx, "no-defense", originals),
              "rewritten": member_scores(run, ctx, "+".join(("rewritten", *paraphraser)),
                                         records)}
    report = {"domain": own.domain, "paraphraser": list(paraphraser) or ["embedded"],
              "command": ctx.command, "source": ctx.src_hash,
              "members": len(rows), "nonmembers": len(run.split.nonmembers.records),
              "gate": asdict(open_gate()),
              "perplexity": {k: v["perplexity"] for k, v in scores.items()},
              "groups": [], "members_detail": rows}
    for grouping, label, idx in groups(rows):
        g = {"grouping": grouping, "group": label, "n": len(idx)}
        for name, s in scores.items():
            g[name] = group_auc(s, idx, args.bootstrap, args.seed) if idx else {}
        report["groups"].append(g)
    write_json(out_dir(ctx) / f"{run_name}.json", report)
    md = out_dir(ctx) / f"{run_name}.md"
    md.write_text(render(report))
    log(f"wrote {md}")
    return report


if __name__ == "__main__":
    main()
