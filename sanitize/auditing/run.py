"""Audit orchestration: which models to attack, with which texts, keeping memory bounded.

Dataset mode fine-tunes a copy of the base model on IN and another on OUT (same config, same
seed), and attacks each with the ORIGINAL texts of IN as members against the non-members. The
base model stays loaded (reference attack, base perplexity, SPV's starting point); at most one
target and one SPV reference exist beside it at a time.
Model mode attacks one model the user already trained.
"""
from __future__ import annotations

import copy
import gc
import json
import random
import time
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..encoding import Encoded, encode_records
from ..datafile import Dataset, read_dataset, sidecar, write_jsonl_lines
from ..errors import InputError
from ..models import load_lm, pick_device
from ..paths import check_outputs, private_mode
from ..progress import Log, no_log
from ..train import fine_tune
from .attacker import Attacker, ModelResult
from .config import AuditConfig
from .features import TextSet, build_textset
from .groups import UNCHANGED, group_metrics, member_groups
from .metrics import sample_too_small

@dataclass
class AuditResult:
    cfg: AuditConfig
    ids: list[str]
    labels: np.ndarray
    models: list[ModelResult]
    base_perplexity: float | None
    perplexity_on: str  # where perplexity was measured, in words
    data: dict  # role -> {path, sha256, records}
    # Dataset mode: per member (in `ids` order), what the protection did to it (groups.py),
    # and each target's attacks on each group of members against all non-members.
    member_groups: list[str] | None = None
    by_group: dict[str, dict] = field(default_factory=dict)  # model label -> group -> attack
    model_info: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # Dataset mode: the cheap attacks on the untouched base model, which saw no member. Any
    # signal there is a member / non-member distribution shift, not membership.
    control: ModelResult | None = None

    @property
    def shifted(self) -> list[str]:
        """Control attacks whose AUC interval excludes 0.5: the two sets differ by source."""
        if self.control is None:
            return []
        return [name for name, met in self.control.metrics.items()
                if met.auc.ci_low is not None and not met.auc.ci_low <= 0.5 <= met.auc.ci_high]

    @property
    def changed_ids(self) -> set[str] | None:
        """Dataset mode: the members the protected file does not hold verbatim."""
        if self.member_groups is None:
            return None
        return {i for i, g in zip(self.ids, self.member_groups) if g != UNCHANGED}

    @property
    def too_small(self) -> str | None:
        """Why no AUC of this audit means anything (too few members or non-members)."""
        return sample_too_small(int(self.labels.sum()), int((self.labels == 0).sum()))


def _described(ds: Dataset) -> dict:
    """A dataset as report.json's `data` records it."""
    return {"path": str(ds.path), "sha256": ds.sha256, "records": len(ds.records),
            "format": ds.fmt}


def _ppl_data(cfg: AuditConfig, validation: Dataset | None, nonmember_encoded,
              tokenizer) -> tuple[list, str]:
    if validation is not None:
        return (encode_records(validation.records, tokenizer, cfg.train.max_length,
                               validation.path),
                f"the {len(validation.records)} validation records ({validation.path})")
    return nonmember_encoded, (f"the {len(nonmember_encoded)} non-members (no --validation "
                               "file; they are held out from every fine-tune)")


def _spv_note(cfg: AuditConfig, validation: Dataset | None) -> list[str]:
    if "spv" not in cfg.attacks or validation is not None:
        return []
    return ["SPV-MIA's reference learned from unconditional samples of the target: pass "
            "--validation (held-out records of the same source) to prompt it as the paper does"]


def _truncation_note(role: str, enc: list[Encoded], max_length: int) -> list[str]:
    n = sum(e.truncated for e in enc)
    if not n:
        return []
    return [f"{n} of {len(enc)} {role} records were truncated to --max-length {max_length} "
            "tokens; attacks score the truncated part, as a trainer would see it"]


def run_dataset(cfg: AuditConfig, log: Log) -> AuditResult:
    if not (cfg.original and cfg.protected and cfg.nonmembers):
        raise InputError("dataset mode needs --original, --protected and --nonmembers "
                         "(or --holdout-fraction instead of --nonmembers)")
    original = read_dataset(cfg.original, cfg.fmt)
    return audit_datasets(
        cfg, original, read_dataset(cfg.protected, cfg.fmt),
        read_dataset(cfg.nonmembers, cfg.fmt),
        read_dataset(cfg.validation, cfg.fmt) if cfg.validation else None, log,
        statuses=manifest_statuses(cfg, original))


def manifest_statuses(cfg: AuditConfig, original: Dataset) -> dict[str, str] | None:
    """Each record's status from the sanitize manifest (--manifest, else the one beside the
    protected file if it exists), when that manifest was made from the original file (same
    sha256). It tells rewritten members from removed ones, which the two files alone cannot.
    None without a usable manifest; a --manifest the user named that cannot be used is an
    input error."""
    path = cfg.manifest or sidecar(cfg.protected, ".manifest.json")
    if path is None or (not cfg.manifest and not Path(path).is_file()):
        return None
    try:
        manifest = json.loads(Path(path).read_text(encoding="utf-8"))
        if manifest["input"]["sha256"] == original.sha256:
            return {e["id"]: e["status"] for e in manifest["records"]}
        why = "it was made from another input (its input sha256 is not --original's)"
    except (OSError, ValueError, KeyError, TypeError) as exc:  # not a manifest we wrote
        why = f"not a soft-sanitize manifest ({type(exc).__name__})"
    if cfg.manifest:
        raise InputError(f"cannot use this manifest: {why}", cfg.manifest)
    return None


def audit_datasets(cfg: AuditConfig, original: Dataset, protected: Dataset,
                   nonmembers: Dataset, validation: Dataset | None = None,
                   log: Log = no_log, statuses: dict[str, str] | None = None) -> AuditResult:
    """Dataset mode on datasets already read (files or records in memory): fine-tune a copy
    of the base model on `original` and one on `protected`, and attack both with `original`'s
    records as members and `nonmembers` as non-members. The paths in `cfg` are not read.
    `statuses`: the protection's status per original record id (manifest), to tell rewritten
    members from removed ones in the per-group figures."""
    t0 = time.time()
    data = {role: _described(ds) for role, ds in
            (("original", original), ("protected", protected), ("nonmembers", nonmembers),
             ("validation", validation)) if ds is not None}
    _check_disjoint(original, nonmembers, cfg)
    device = pick_device(cfg.train.device)
    log(f"loading base model {cfg.base_model or 'embedded SmolLM2-135M'} on {device}")
    base = load_lm(cfg.base_model, device)
    tok = base.tokenizer
    ts = build_textset(original, nonmembers, tok, cfg.train.max_length)
    ppl_enc, ppl_on = _ppl_data(cfg, validation, ts.encoded[len(original.records):], tok)
    groups, groups_note = member_groups(original, protected, statuses)
    attacker = Attacker(cfg, ts, tok, base.model, "base", ppl_enc, log,
                        spv_heldout=ppl_enc if validation is not None else None)
    notes = _spv_note(cfg, validation) + _truncation_note("original member",
                                              ts.encoded[:len(original.records)],
                                              cfg.train.max_length)
    notes += _truncation_note("non-member", ts.encoded[len(original.records):],
                              cfg.train.max_length)
    notes += [groups_note] if groups_note else []
    results = []
    for label, ds, desc in [("original", original, "fine-tuned on the original data"),
                            ("protected", protected, "fine-tuned on the protected data")]:
        train_enc = encode_records(ds.records, tok, cfg.train.max_length, ds.path)
        log(f"[{label}] fine-tuning on {len(train_enc)} records "
            f"({cfg.train.method}, {cfg.train.epochs:g} epochs, seed {cfg.train.seed})")
        t = time.time()
        target = fine_tune(copy.deepcopy(base.model), train_enc, tok.pad_token_id, cfg.train)
        train_info = {"records": len(train_enc), "truncated": sum(e.truncated for e in train_enc),
                      "seconds": round(time.time() - t, 1)}
        res = attacker.attack(target, f"target:{label}", label, desc)
        res.train = train_info
        results.append(res)
        del target
        gc.collect()
    control = distribution_control(cfg, ts, tok, base.model, ppl_enc, attacker.cache, log)
    by_group = {m.label: group_metrics(m.scores, ts.labels, groups, cfg.bootstrap, cfg.seed)
                for m in results}
    result = AuditResult(cfg, ts.ids, ts.labels, results, attacker.base_perplexity(), ppl_on,
                         data, member_groups=groups, by_group=by_group,
                         model_info={"base": base.name, "source": base.source}, notes=notes,
                         seconds=round(time.time() - t0, 1), control=control)
    if result.shifted:
        result.notes.append(
            f"distribution shift: on the untouched base model, which saw no member, "
            f"{', '.join(result.shifted)} tell members from non-members (AUC interval excludes "
            "0.5); part of every AUC above may be that shift, not membership: draw non-members "
            "from the same source as the members")
    return result


CONTROL_ATTACKS = ("loss", "zlib", "lowercase", "mink", "minkpp")


def distribution_control(cfg: AuditConfig, ts: TextSet, tok, base_model, ppl_enc, cache,
                         log: Log) -> ModelResult:
    """The cheap attacks with the base model as the 'target'. It was trained on neither set, so
    an AUC away from 0.5 can only come from how the sets differ (source, length, style)."""
    wanted = tuple(a for a in CONTROL_ATTACKS if a in cfg.attacks) or CONTROL_ATTACKS
    attacker = Attacker(replace(cfg, attacks=wanted), ts, tok, None, None, ppl_enc, log, cache)
    return attacker.attack(base_model, "base", "base (control)",
                           "the untouched base model: no membership, so any signal is a "
                           "member / non-member distribution shift")


def _normalised(text: str) -> str:
    """Case, whitespace and Unicode variants of one text compare equal."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _check_disjoint(members: Dataset, nonmembers: Dataset, cfg: AuditConfig) -> None:
    """A non-member that is a member in disguise (other case or spacing, or a near-duplicate
    by the same MiniLM + faiss grouping selection uses) would be scored as unseen while the
    model trained on it: every AUC would read lower than the truth. Stop, naming the ids."""
    from ..dedup import duplicate_groups
    from ..models import load_embedder

    if cfg.allow_overlap:
        return
    texts = [_normalised(r.trainable_text()) for r in members.records + nonmembers.records]
    groups = duplicate_groups(texts, cfg.overlap_similarity, load_embedder(device="cpu"))
    n = len(members.records)
    member_of = {g: r.id for r, g in zip(members.records, groups[:n]) if g}
    clashes = [f"{r.id}~{member_of[g]}" for r, g in zip(nonmembers.records, groups[n:])
               if g in member_of]
    if clashes:
        shown = ", ".join(clashes[:5]) + (", ..." if len(clashes) > 5 else "")
        raise InputError(f"{len(clashes)} non-member(s) also appear among the members (same "
                         f"text up to case/spacing, or embedding cosine >= "
                         f"{cfg.overlap_similarity}): non-member~member {shown}; an audit "
                         "needs disjoint sets (--allow-overlap audits anyway)", nonmembers.path)


def _adapter_base(path: str) -> str | None:
    cfg = Path(path) / "adapter_config.json"
    if cfg.exists():
        return json.loads(cfg.read_text()).get("base_model_name_or_path")
    return None


def run_model(cfg: AuditConfig, log: Log) -> AuditResult:
    t0 = time.time()
    if not (cfg.members and cfg.nonmembers):
        raise InputError("model mode needs --members and --nonmembers")
    members = read_dataset(cfg.members, cfg.fmt)
    nonmembers = read_dataset(cfg.nonmembers, cfg.fmt)
    validation = read_dataset(cfg.validation, cfg.fmt) if cfg.validation else None
    data = {role: _described(ds) for role, ds in
            (("members", members), ("nonmembers", nonmembers), ("validation", validation))
            if ds is not None}
    _check_disjoint(members, nonmembers, cfg)
    device = pick_device(cfg.train.device)
    log(f"loading model {cfg.model_path} on {device}")
    target = load_lm(cfg.model_path, device, base_model=cfg.reference)
    ref_spec = cfg.reference or _adapter_base(cfg.model_path)
    base = None
    notes: list[str] = []
    if ref_spec:
        log(f"loading reference model {ref_spec}")
        base = load_lm(ref_spec, device)
        if len(base.tokenizer) != len(target.tokenizer):
            raise InputError(f"the reference model's tokenizer ({len(base.tokenizer)} tokens) "
                             f"differs from the model's ({len(target.tokenizer)})")
    else:
        notes.append("no --reference given: the reference attack and SPV-MIA were skipped")
    tok = target.tokenizer
    ts = build_textset(members, nonmembers, tok, cfg.train.max_length)
    ppl_enc, ppl_on = _ppl_data(cfg, validation, ts.encoded[len(members.records):], tok)
    notes += _spv_note(cfg, validation) if base else []
    notes += _truncation_note("member", ts.encoded[:len(members.records)], cfg.train.max_length)
    attacker = Attacker(cfg, ts, tok, base.model if base else None, "base" if base else None,
                         ppl_enc, log, spv_heldout=ppl_enc if cfg.validation else None)
    res = attacker.attack(target.model, "target:model", "model", f"the model {cfg.model_path}")
    info = {"model": cfg.model_path, "source": target.source}
    if base:
        info["reference"] = base.name
    return AuditResult(cfg, ts.ids, ts.labels, [res], attacker.base_perplexity(), ppl_on, data,
                       model_info=info, notes=notes, seconds=round(time.time() - t0, 1))


def split_holdout(cfg: AuditConfig, log: Log) -> tuple[AuditConfig, list[str]]:
    """--holdout-fraction: split IN (seeded) into members and non-members, protect the members
    with the sanitize pipeline, and return the config of the dataset-mode comparison."""
    from .. import pipeline

    if not cfg.original:
        raise InputError("--holdout-fraction needs --original")
    if not 0 < cfg.holdout_fraction < 1:
        raise InputError("--holdout-fraction must be between 0 and 1")
    if cfg.sanitize is None:
        raise InputError("--holdout-fraction needs the sanitize settings (AuditConfig.sanitize)")
    if cfg.sanitize.dry_run:
        raise InputError("--holdout-fraction needs a protected file; dry_run writes none")
    ds = read_dataset(cfg.original, cfg.fmt)
    order = list(range(len(ds.records)))
    random.Random(cfg.seed).shuffle(order)
    n_hold = round(len(order) * cfg.holdout_fraction)
    if n_hold < 2 or len(order) - n_hold < 2:
        raise InputError(f"--holdout-fraction {cfg.holdout_fraction} of {len(order)} records "
                         "leaves fewer than 2 members or non-members", cfg.original)
    hold = set(order[:n_hold])
    out = Path(cfg.out_dir)
    members_path, hold_path, protected_path = (out / HOLDOUT_FILES[k] for k in
                                               ("members", "non-members", "protected"))
    # Original line order is kept inside each part, and raw lines are copied byte-for-byte.
    perms = private_mode(cfg.original)
    write_jsonl_lines(members_path, [r.raw for i, r in enumerate(ds.records) if i not in hold],
                      ds.newline, perms)
    write_jsonl_lines(hold_path, [r.raw for i, r in enumerate(ds.records) if i in hold],
                      ds.newline, perms)
    log(f"holdout split: {len(order) - n_hold} members, {n_hold} non-members (seed {cfg.seed})")
    scfg = replace(cfg.sanitize, input=str(members_path), output=str(protected_path))
    log("sanitizing the member part with the main command's settings")
    protection = pipeline.run(scfg, log=log)
    statuses = {k: v for k, v in protection.manifest["counts"].items() if v}
    notes = [f"--holdout-fraction {cfg.holdout_fraction}: {len(order) - n_hold} members "
             f"({members_path.name}) and {n_hold} non-members ({hold_path.name}), seed "
             f"{cfg.seed}; members sanitized into {protected_path.name} (manifest beside it)"
             + (f"; record statuses {statuses}" if statuses else "")]
    cfg = replace(cfg, original=str(members_path), nonmembers=str(hold_path),
                  protected=str(protected_path))
    return cfg, notes


HOLDOUT_FILES = {"members": "members.jsonl", "non-members": "holdout.jsonl",
                 "protected": "protected.jsonl"}


def input_paths(cfg: AuditConfig) -> dict[str, str | None]:
    paths = {"--original": cfg.original, "--protected": cfg.protected,
             "--manifest": cfg.manifest, "--nonmembers": cfg.nonmembers, "--members": cfg.members,
             "--validation": cfg.validation}
    if cfg.sanitize is not None:
        paths["--prompt-file"] = cfg.sanitize.paraphrase.prompt_file
    return paths


def output_paths(cfg: AuditConfig) -> dict[str, str]:
    """Every file the audit writes: the reports, and with --holdout-fraction the split and the
    protected member part with its sidecars."""
    from ..pipeline import output_paths as sanitize_outputs
    from .report import REPORT_FILES

    out = Path(cfg.out_dir)
    paths = {f"--out-dir's {name}": str(out / name) for name in REPORT_FILES.values()}
    if cfg.holdout_fraction is not None:
        paths.update({f"--out-dir's {name}": str(out / name) for name in HOLDOUT_FILES.values()})
        if cfg.sanitize is not None:  # the protected part's sidecars too
            protected = replace(cfg.sanitize, input="",
                                output=str(out / HOLDOUT_FILES["protected"]))
            paths.update({f"--out-dir's protected {k}": v
                          for k, v in sanitize_outputs(protected).items() if k != "OUT"})
    return paths


def run(cfg: AuditConfig, log: Log = no_log) -> AuditResult:
    """Check every path up front, then attack (model mode) or fine-tune and attack (dataset
    mode). The caller writes the reports (report.write_reports)."""
    if Path(cfg.out_dir).exists() and not Path(cfg.out_dir).is_dir():
        raise InputError("--out-dir is a file, expected a folder", cfg.out_dir)
    check_outputs(input_paths(cfg), output_paths(cfg))
    if cfg.mode == "model":
        return run_model(cfg, log)
    if cfg.holdout_fraction is not None:
        if cfg.nonmembers or cfg.protected:
            raise InputError("--holdout-fraction makes the non-members and the protected file "
                             "itself; do not also pass --nonmembers or --protected")
        cfg, notes = split_holdout(cfg, log)
        result = run_dataset(cfg, log)
        result.notes[:0] = notes
        return result
    return run_dataset(cfg, log)
