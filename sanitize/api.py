"""The library's front door: protect, score and audit records in memory.

    from sanitize import protect
    result = protect(rows, ratio=0.3)   # rows: a list of dicts or a datasets.Dataset
    result.rows                         # the protected records, same schema and order
    result.counts.obfuscated, result.manifest

Each call validates its config when the config is built (InputError, the one user-facing error
type) and the records before any model loads. The CLI runs the same stages on files
(`pipeline.run`, `auditing.run.run`), so what a notebook gets is what `soft-sanitize` writes.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterable

from .config import MEMORY, SanitizeConfig, ScoreConfig, SelectConfig
from .datafile import Dataset, read_dataset
from .progress import Log, Progress, no_log, silent
from .results import Protection
from .scoring import Risk
from .selection import RecordScore, decide

Records = Iterable[dict] | Any  # a list of dicts, a datasets.Dataset, or a read Dataset


def as_dataset(records: Records, fmt: str = "auto", name: str = MEMORY) -> Dataset:
    """Records in memory as a validated Dataset: the same schema detection and checks as a
    file, row n standing for line n in errors."""
    if isinstance(records, Dataset):
        return records
    rows = records.to_list() if hasattr(records, "to_list") else list(records)
    return read_dataset(name, fmt, rows=rows)


def protect(records: Records, *, ratio: float | None = None,
            config: SanitizeConfig | None = None, scores: list[RecordScore] | None = None,
            lm=None, embedder=None, backend=None, cache_path: str | None = None,
            log: Log = no_log, progress: Progress = silent) -> Protection:
    """SOFT on records in memory: select `ratio` of the records (default: the config's) by the
    config's rule (by default a secret random draw; `cache_path` keeps its key, so a rerun
    with the same cache repeats it), paraphrase them under the gate. `scores`: `select`'s
    decisions made earlier (score once, select many ways); then nothing is scored. Nothing is
    written unless `cache_path` names a cache to resume from (it can hold original text and
    the draw's key: keep it private). `lm`, `embedder`, `backend`: already loaded models to
    reuse; by default they load from the config."""
    from .pipeline import protect_dataset

    cfg = config or SanitizeConfig()
    if ratio is not None:
        cfg = replace(cfg, select=replace(cfg.select, ratio=ratio, threshold=None))
    return protect_dataset(as_dataset(records, cfg.fmt), cfg, lm=lm, embedder=embedder,
                           backend=backend, cache_path=cache_path, log=log, progress=progress,
                           scores=scores)


def score(records: Records, config: ScoreConfig | None = None, *, lm=None, embedder=None,
          progress: Progress = silent, selection_key: bytes | None = None) -> list[Risk]:
    """Memorization risk of every record (the warm-up) and its duplicate group; input order.
    Selection is `select`'s. Without a config the rule is `loss`, as for `soft-sanitize score`
    (`protect`'s own default is the secret random draw). With `score="random"` the risks are
    draws under `selection_key` (keep it secret; pass the same key to repeat a draw; without
    one a fresh key is made) and no warm-up runs."""
    import secrets

    from .scoring import score_records

    config = config or ScoreConfig(score="loss")
    if config.score == "random" and selection_key is None:
        selection_key = secrets.token_bytes(32)
    data = as_dataset(records)
    return score_records(data.records, config, lm=lm, embedder=embedder,
                         source_path=data.path, progress=progress, selection_key=selection_key)


def select(risks: list[Risk], config: SelectConfig | None = None) -> list[RecordScore]:
    """Rank `score`'s risks and select (riskiest `ratio`, duplicate groups whole)."""
    return decide(risks, config or SelectConfig())


def audit(original: Records, protected: Records | Protection, nonmembers: Records, *,
          validation: Records | None = None, config=None, log: Log = no_log):
    """Fine-tune on `original` and on `protected`, and run the membership-inference suite
    with `original`'s records as members and `nonmembers` as non-members (same source, never
    trained on). Returns auditing.run.AuditResult; `.models[i].metrics[attack].auc` are the
    AUCs, `.by_group[label][group][attack]` the same per group of members (unchanged,
    rewritten, removed, in training; a Protection tells rewritten from removed, plain records
    only unchanged from changed). `config`: an auditing.config.AuditConfig (its file paths
    are not read)."""
    from .auditing.config import AuditConfig
    from .auditing.run import audit_datasets

    cfg = config or AuditConfig(out_dir=MEMORY)
    statuses = None
    if isinstance(protected, Protection):  # its statuses tell rewritten from removed members
        statuses = {r.record.id: r.status for r in protected.results}
        protected = protected.rows
    return audit_datasets(cfg, as_dataset(original, cfg.fmt, "<original>"),
                          as_dataset(protected, cfg.fmt, "<protected>"),
                          as_dataset(nonmembers, cfg.fmt, "<nonmembers>"),
                          None if validation is None
                          else as_dataset(validation, cfg.fmt, "<validation>"), log,
                          statuses=statuses)
