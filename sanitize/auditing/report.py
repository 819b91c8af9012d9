"""Audit outputs: report.json (versioned), report.md, a self-contained report.html with ROC
curves, a per-record CSV of member scores (ids only), a rich table and the one-line headline.

No output ever contains record text: records are named by id only.
"""
from __future__ import annotations

import base64
import csv
import datetime as _dt
import html
import io
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..versions import package_versions
from ..datafile import Outputs, dump_json
from . import groups as grp
from .metrics import FPR_BOUNDS, epsilon_lower_bound, leakage, roc_curve, strongest_attack
from .run import AuditResult, ModelResult

SCHEMA = "soft-sanitize/audit-report/v1"
TITLES = {"loss": "LOSS", "zlib": "zlib", "lowercase": "lowercase", "mink": "Min-K% (20%)",
          "minkpp": "Min-K%++ (20%)", "reference": "reference (base)",
          "neighbourhood": "neighbourhood", "spv": "SPV-MIA", "ensemble": "ensemble (OOF)"}
TOP_EXPOSED = 10


def _versions() -> dict:
    return package_versions("torch", "transformers", "peft", "scikit-learn", "numpy", "scipy")


def _tpr1(m: ModelResult, attack: str) -> str:
    e = m.metrics[attack].tpr[0.01]
    return "n/a (needs >= 100 non-members)" if e.value is None else f"{e.value:.3f}"


def _ppl_change(before: float, after: float) -> str:
    return f"{before:.2f} -> {after:.2f} ({(after / before - 1) * 100:+.1f}%)"


def headline(r: AuditResult) -> str:
    """One line: strongest attack AUC and TPR@1%FPR before vs after, and the utility cost."""
    if r.too_small:
        return f"{r.too_small.capitalize()}: the figures below are noise, not evidence"
    base = f", base {r.base_perplexity:.2f}" if r.base_perplexity else ""
    if len(r.models) == 2:
        a, b = r.models
        sa, sb = a.strongest(), b.strongest()
        if sa is None or sb is None:
            return "no attack ran"
        return (f"Strongest attack, original -> protected: AUC {_auc(a, sa)} "
                f"({TITLES[sa]}) -> {_auc(b, sb)} ({TITLES[sb]}); TPR@1%FPR "
                f"{_tpr1(a, sa)} -> {_tpr1(b, sb)}; perplexity "
                f"{_ppl_change(a.perplexity, b.perplexity)}{base}{_left_text(r)}")
    (m,) = r.models
    s = m.strongest()
    if s is None:
        return "no attack ran"
    return (f"Strongest attack: AUC {_auc(m, s, ci=True)} ({TITLES[s]}); TPR@1%FPR "
            f"{_tpr1(m, s)}; perplexity {m.perplexity:.2f}{base}")


def _left_group(r: AuditResult) -> str | None:
    """The member group that removing records cannot flatter (groups.left_in_training)."""
    if r.member_groups is None:
        return None
    return grp.left_in_training(r.member_groups, r.data["protected"]["records"])


def left_in_training(r: AuditResult) -> tuple | None:
    """(members in words, attack, metrics on the original model, metrics on the protected one)
    of the strongest attack on the members left in training, when members were removed; None
    otherwise. Removed members look like non-members, which lowers the whole-set AUC even if
    every member left in training stays as exposed as before, so the headline and
    --fail-above-auc also judge this group."""
    g = _left_group(r)
    if g is None or len(r.models) != 2:
        return None
    before, after = (r.by_group[m.label][g] for m in r.models)
    a = strongest_attack(after)
    what = "left in training" if g == grp.IN_TRAINING else "kept verbatim"
    return f"{after[a].n_members} members {what}", a, before[a], after[a]


def _left_text(r: AuditResult) -> str:
    """The headline's tail when members were removed: that attack, before -> after."""
    left = left_in_training(r)
    if left is None:
        return ""
    what, a, before, after = left
    return f"; on the {what}: AUC {before.auc.value:.3f} -> {after.auc.value:.3f} ({TITLES[a]})"


GROUP_TITLES = {grp.UNCHANGED: "unchanged", grp.REWRITTEN: "rewritten",
                grp.REMOVED: "removed (never trained on)",
                grp.CHANGED: "changed (rewritten or removed)",
                grp.IN_TRAINING: "left in training (unchanged + rewritten)"}
GROUP_HEADER = ["members", "count", "attack", "AUC, original", "AUC, protected [95% CI]",
                "TPR@1%FPR, protected"]


def _group_rows(r: AuditResult) -> list[list[str]]:
    """Per member group: the attack strongest on the protected model for that group, its AUC
    on the original model and on the protected one (each group against all non-members)."""
    if not r.by_group or len(r.models) != 2:
        return []
    before, after = (r.by_group[m.label] for m in r.models)
    rows = []
    for g, by_attack in after.items():
        a = strongest_attack(by_attack)
        if a is None:
            continue
        t1 = by_attack[a].tpr.get(0.01)
        rows.append([GROUP_TITLES[g], str(by_attack[a].n_members), TITLES[a],
                     f"{before[g][a].auc.value:.3f}", by_attack[a].auc.fmt(),
                     t1.fmt() if t1 else "n/a"])
    return rows


GROUPS_MEANING = ("Each group of members is attacked against all non-members. A removed "
                  "member was never trained on, so it scores like a non-member: removing "
                  "records lowers the whole-set AUC, not the exposure of the members left in "
                  "training.")


def _groups_json(r: AuditResult) -> dict | None:
    if r.member_groups is None:
        return None
    counts = {g: r.member_groups.count(g) for g in GROUP_TITLES if g in r.member_groups}
    return {"members": counts, "left_in_training": _left_group(r),
            "models": {label: {g: {"strongest_attack": strongest_attack(by_attack),
                                   "attacks": {a: met.to_json()
                                               for a, met in by_attack.items()}}
                               for g, by_attack in groups.items()}
                       for label, groups in r.by_group.items()}}


def _auc(m: ModelResult, attack: str, ci: bool = False) -> str:
    """The AUC as measured; an inverted attack (below 0.5) says so and what it reveals."""
    est = m.metrics[attack].auc
    text = est.fmt() if ci else f"{est.value:.3f}"
    if m.inverted(attack):
        text += f" (inverted: leaks like {leakage(est.value):.3f})"
    return text


def exposure(m: ModelResult, labels: np.ndarray) -> np.ndarray:
    """Per member: the fraction of non-members its strongest-attack score beats (1 = above all);
    an inverted attack's scores are flipped, so high still means exposed."""
    s = m.scores[m.strongest()] * (-1 if m.inverted(m.strongest()) else 1)
    neg = np.sort(s[labels == 0])
    pos = s[labels == 1]
    below = np.searchsorted(neg, pos, side="left")
    ties = np.searchsorted(neg, pos, side="right") - below
    return (below + 0.5 * ties) / len(neg)


def to_json(r: AuditResult) -> dict:
    last = r.models[-1]
    exp = exposure(last, r.labels) if last.metrics else None
    member_ids = [i for i, y in zip(r.ids, r.labels) if y == 1]
    top = ([member_ids[i] for i in np.argsort(-exp, kind="stable")[:TOP_EXPOSED]]
           if exp is not None else [])
    return {
        "schema": SCHEMA,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "mode": r.cfg.mode,
        "headline": headline(r),
        "versions": _versions(),
        "config": asdict(r.cfg),
        "seeds": {"audit": r.cfg.seed, "train": r.cfg.train.seed},
        "data": r.data,
        "model": r.model_info,
        "counts": {"members": int(r.labels.sum()), "nonmembers": int((r.labels == 0).sum())},
        "perplexity": {"measured_on": r.perplexity_on, "base": r.base_perplexity,
                       **{m.label: m.perplexity for m in r.models}},
        "models": [_model_json(m, r) for m in r.models],
        "distribution_control": (None if r.control is None else
                                 {**_model_json(r.control, r), "shift_detected": r.shifted}),
        "epsilon_meaning": EPSILON_MEANING,
        "most_exposed_members": {"model": last.label, "attack": last.strongest(), "ids": top},
        "changed_by_protection": (len(r.changed_ids) if r.changed_ids is not None else None),
        "by_protection": _groups_json(r),
        "notes": r.notes,
        "seconds": r.seconds,
    }


EPSILON_MEANING = (
    "epsilon lower bound: no training run with a differential-privacy guarantee of (epsilon, "
    "delta=0) for a smaller epsilon could let the strongest attack separate these members "
    "from these non-members as well as it did (95% confidence; threshold chosen on one half, "
    "counted on the other). It is a lower bound from one attack on this sample, never a "
    "guarantee: 0 means this audit proved no leakage, not that there is none.")


def _epsilon(m: ModelResult, r: AuditResult) -> dict | None:
    s = m.strongest()
    return None if s is None else {"attack": s, **epsilon_lower_bound(m.scores[s], r.labels,
                                                                      seed=r.cfg.seed)}


def _epsilon_text(m: ModelResult, report: dict) -> str:
    """The bound as to_json computed it (it costs a search over thresholds: done once)."""
    entries = report["models"] + [report["distribution_control"] or {}]
    e = next((x["epsilon_lower_bound"] for x in entries if x.get("label") == m.label), None)
    if e is None or "note" in e:
        return "epsilon lower bound: not measurable"
    return f"epsilon lower bound {e['epsilon']:.2f} (95%, delta 0)"


def _model_json(m: ModelResult, r: AuditResult) -> dict:
    return {"label": m.label, "description": m.description, "train": m.train,
            "stage_seconds": m.stage_seconds,
            "epsilon_lower_bound": _epsilon(m, r),
            "strongest_attack": m.strongest(),
            "strongest_inverted": m.strongest() is not None and m.inverted(m.strongest()),
            "perplexity": m.perplexity,
            "attacks": {name: met.to_json() for name, met in m.metrics.items()},
            "skipped": m.skipped}


def _shown(r: AuditResult) -> list[ModelResult]:
    """The models in report order: targets, then the distribution control."""
    return r.models + ([r.control] if r.control is not None else [])


def _rows(m: ModelResult) -> list[list[str]]:
    rows = []
    for name, met in sorted(m.metrics.items(), key=lambda kv: -kv[1].auc.value):
        rows.append([TITLES[name], met.auc.fmt()] + [met.tpr[b].fmt() for b in FPR_BOUNDS])
    for name, why in m.skipped.items():
        rows.append([TITLES[name], f"skipped: {why}", "", "", ""])
    return rows


HEADER = ["attack", "AUC [95% CI]", "TPR@10%FPR", "TPR@1%FPR", "TPR@0.1%FPR"]


def to_markdown(r: AuditResult, report: dict) -> str:
    lines = ["# Membership-inference audit", "", f"**{report['headline']}**", "",
             f"- mode: {r.cfg.mode}; members: {report['counts']['members']}, non-members: "
             f"{report['counts']['nonmembers']}; seed {r.cfg.seed}",
             f"- perplexity measured on {r.perplexity_on}"
             + (f"; base model: {r.base_perplexity:.2f}" if r.base_perplexity else "")]
    if r.changed_ids is not None:
        lines.append(f"- members changed by protection: {len(r.changed_ids)}")
    lines.append("- TPR at an FPR below 1/(non-members) is shown as n/a: the sample cannot "
                 "measure it")
    lines.append(f"- {EPSILON_MEANING}")
    for m in _shown(r):
        lines += ["", f"## {m.label}: {m.description}", "",
                  f"Perplexity {m.perplexity:.2f}; strongest attack: "
                  f"{TITLES.get(m.strongest(), '-')}; {_epsilon_text(m, report)}", "",
                  "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        lines += ["| " + " | ".join(row) + " |" for row in _rows(m)]
    group_rows = _group_rows(r)
    if group_rows:
        lines += ["", "## Members by what the protection did", "", GROUPS_MEANING, "",
                  "| " + " | ".join(GROUP_HEADER) + " |", "|" + "---|" * len(GROUP_HEADER)]
        lines += ["| " + " | ".join(row) + " |" for row in group_rows]
    ex = report["most_exposed_members"]
    lines += ["", f"## Most exposed members ({ex['model']} model, {TITLES.get(ex['attack'], '-')})",
              "", "Ids only; full per-record scores in member_scores.csv.", ""]
    lines += [f"{i + 1}. `{rid}`" for i, rid in enumerate(ex["ids"])]
    if r.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in r.notes]
    return "\n".join(lines) + "\n"


def roc_png(m: ModelResult, labels: np.ndarray) -> str:
    """Linear and log-log ROC curves of every attack on one model, as base64 PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (lin, log) = plt.subplots(1, 2, figsize=(11, 4.6))
    n_neg = int((labels == 0).sum())
    for name, s in sorted(m.scores.items(), key=lambda kv: -m.metrics[kv[0]].auc.value):
        fpr, tpr = roc_curve(s, labels)
        label = f"{TITLES[name]} (AUC {m.metrics[name].auc.value:.3f})"
        lin.plot(fpr, tpr, label=label, lw=1.4)
        ok = (fpr > 0) & (tpr > 0)
        log.step(fpr[ok], tpr[ok], where="post", lw=1.4)
    for ax in (lin, log):
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
    lin.plot([0, 1], [0, 1], "k:", lw=0.8)
    lin.set_title(f"{m.label}: ROC (linear)")
    lin.legend(fontsize=7, loc="lower right")
    floor = 1 / max(n_neg, 1)
    log.plot([floor, 1], [floor, 1], "k:", lw=0.8)
    log.set_xscale("log")
    log.set_yscale("log")
    log.set_xlim(floor / 2, 1)
    log.set_ylim(floor / 2, 1.05)
    log.set_title(f"{m.label}: ROC (log-log; lowest measurable FPR 1/{n_neg})")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def to_html(r: AuditResult, report: dict) -> str:
    esc = html.escape
    parts = ["<!doctype html><html><head><meta charset='utf-8'>",
             "<title>Membership-inference audit</title><style>",
             "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}",
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;",
             "padding:4px 8px;text-align:left}th{background:#f4f4f4}.h{font-size:1.1em;",
             "background:#fff6d6;padding:.8em;border-radius:6px}</style></head><body>",
             "<h1>Membership-inference audit</h1>",
             f"<p class='h'><b>{esc(report['headline'])}</b></p>",
             f"<p>Mode {esc(r.cfg.mode)}; {report['counts']['members']} members, "
             f"{report['counts']['nonmembers']} non-members; perplexity measured on "
             f"{esc(r.perplexity_on)}. TPR at an FPR below 1/(non-members) is n/a.</p>"]
    for m in _shown(r):
        parts.append(f"<h2>{esc(m.label)}: {esc(m.description)}</h2>"
                     f"<p>Perplexity {m.perplexity:.2f}; {esc(_epsilon_text(m, report))}</p>"
                     "<table><tr>"
                     + "".join(f"<th>{esc(h)}</th>" for h in HEADER) + "</tr>")
        for row in _rows(m):
            parts.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>")
        parts.append("</table>")
        if m.scores:
            parts.append(f"<img alt='ROC curves of {esc(m.label)}' style='max-width:100%' "
                         f"src='data:image/png;base64,{roc_png(m, r.labels)}'>")
    group_rows = _group_rows(r)
    if group_rows:
        parts.append("<h2>Members by what the protection did</h2>"
                     f"<p>{esc(GROUPS_MEANING)}</p><table><tr>"
                     + "".join(f"<th>{esc(h)}</th>" for h in GROUP_HEADER) + "</tr>")
        for row in group_rows:
            parts.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>")
        parts.append("</table>")
    ex = report["most_exposed_members"]
    parts.append(f"<h2>Most exposed members ({esc(ex['model'])} model)</h2><ol>"
                 + "".join(f"<li><code>{esc(i)}</code></li>" for i in ex["ids"]) + "</ol>")
    if r.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{esc(n)}</li>" for n in r.notes)
                     + "</ul>")
    parts.append(f"<p>{esc(EPSILON_MEANING)}</p></body></html>")
    return "\n".join(parts)


def write_member_csv(r: AuditResult, fh) -> None:
    """One row per member, most exposed (under the last model) first; ids only, no text."""
    member = r.labels == 1
    ids = [i for i, y in zip(r.ids, r.labels) if y == 1]
    cols: dict[str, np.ndarray] = {}
    for m in r.models:
        if m.metrics:
            cols[f"{m.label}_exposure"] = exposure(m, r.labels)
        for name, s in m.scores.items():
            cols[f"{m.label}_{name}"] = s[member]
    last = f"{r.models[-1].label}_exposure"
    order = np.argsort(-cols[last], kind="stable") if last in cols else np.arange(len(ids))
    w = csv.writer(fh)
    grouped = r.member_groups is not None
    head = ["rank", "id"] + (["changed_by_protection", "protection"] if grouped else [])
    w.writerow(head + list(cols))
    for rank, i in enumerate(order, start=1):
        row = [rank, ids[i]]
        if grouped:
            row += [int(r.member_groups[i] != grp.UNCHANGED), r.member_groups[i]]
        w.writerow(row + [f"{cols[c][i]:.6g}" for c in cols])


REPORT_FILES = {"member_scores": "member_scores.csv", "markdown": "report.md",
                "html": "report.html", "json": "report.json"}


def write_reports(r: AuditResult, out_dir: str, perms: int | None = None) -> dict:
    """Every report file appears together or not at all, report.json last: its presence means
    the audit is complete. `perms`: no more readable than the audited inputs."""
    out = Path(out_dir)
    report = to_json(r)
    report["outputs"] = {k: str(out / v) for k, v in REPORT_FILES.items()}
    with Outputs(perms) as outs:
        with outs.writer(out / REPORT_FILES["member_scores"]) as fh:
            write_member_csv(r, fh)
        with outs.writer(out / REPORT_FILES["markdown"]) as fh:
            fh.write(to_markdown(r, report))
        with outs.writer(out / REPORT_FILES["html"]) as fh:
            fh.write(to_html(r, report))
        with outs.writer(out / REPORT_FILES["json"]) as fh:
            dump_json(fh, report)
        outs.commit()
    return report


def print_table(r: AuditResult, console) -> None:
    from rich.table import Table

    for m in _shown(r):
        t = Table(title=f"{m.label}: {m.description} (perplexity {m.perplexity:.2f})")
        for h in HEADER:
            t.add_column(h)
        for row in _rows(m):
            t.add_row(*row)
        console.print(t)
    group_rows = _group_rows(r)
    if group_rows:
        t = Table(title="Members by what the protection did (each group against all "
                        "non-members)")
        for h in GROUP_HEADER:
            t.add_column(h)
        for row in group_rows:
            t.add_row(*row)
        console.print(t)
    console.print(f"[bold]{headline(r)}[/bold]")
