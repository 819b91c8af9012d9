"""Rewrite the selected records: segments -> chunks -> cached candidates -> gate -> new record.

Candidates are generated in rounds. Round k asks the backend for candidate k of every chunk that
is not done yet, all records together, so batches stay full. With `pick="first"` a chunk is done
at its first candidate that passes the gate; with `pick="most-changed"` every chunk sees all
`candidates` rounds and keeps the passing candidate with the lowest overlap (best-of-N). After
the last round, a chunk without a passing candidate fails its segment. A segment whose chunks
all passed is reassembled (original separators, layout) and gated again as a whole with the
same thresholds; a record is obfuscated only if every segment it rewrites passes. Every backend output is committed to the cache before it is used, so a rerun
after a crash regenerates nothing that finished.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from .cache import Cache, cache_key
from .config import GateConfig, ParaphraseConfig
from .content import segment_kind
from .gate import GateResult, evaluate
from .paraphrase.base import Backend, Request, new_tokens_for
from .paraphrase.chunks import Chunk, assemble, split
from .paraphrase.clean import clean
from .paraphrase.code_rename import rename_identifiers
from .paraphrase.placeholders import INSTRUCTION, Masked, mask
from .progress import Log, no_log
from .prompts import PromptTemplate
from .records import Record, Segment


@dataclass
class SegmentOutcome:
    path: tuple
    role: str
    kind: str
    chunks: list[Chunk]
    rewrites: dict[int, str] = field(default_factory=dict)  # chunk index -> passing rewrite
    attempts: int = 0  # candidate rounds used by its slowest chunk
    gate: GateResult | None = None  # whole-segment decision
    reason: str = ""
    failures: dict[int, str] = field(default_factory=dict)  # chunk index -> last gate failure
    new_text: str | None = None  # the reassembled segment, once it passed
    exact: bool = False  # a chunk was rewritten by exact renaming (no model)
    cut: tuple[int, ...] = ()  # on_fail=partial: failed chunks left out of new_text

    @property
    def passed(self) -> bool:
        return self.gate is not None and self.gate.passed

    def summary(self, prompt_sha256: str) -> dict:
        d = {"path": list(self.path), "role": self.role, "kind": self.kind,
             "chunks": len(self.chunks),
             "rewritten_chunks": len(self.rewrites), "attempts": self.attempts,
             "passed": self.passed, "reason": self.reason, "prompt_sha256": prompt_sha256}
        if self.gate is not None:
            d.update({k: v for k, v in self.gate.as_dict().items() if k not in ("passed", "reason")})
        return d


@dataclass
class RecordOutcome:
    record: Record
    segments: list[SegmentOutcome]
    new_record: Record | None = None  # set when every segment passed (or was cut)
    requests: int = 0  # candidates generated or read from the cache for this record

    @property
    def partial(self) -> bool:
        """Rewritten with some failed chunks left out (on_fail=partial)."""
        return self.new_record is not None and any(s.cut for s in self.segments)

    @property
    def attempts(self) -> int:
        return max((s.attempts for s in self.segments), default=0)


@dataclass
class _Job:  # one chunk to rewrite
    outcome: SegmentOutcome
    record: RecordOutcome
    index: int
    source: str
    template: PromptTemplate
    masked: Masked | None = None  # --mask-facts: the piece as the backend sees it
    done: bool = False
    best: GateResult | None = None  # the kept candidate's gate result

    @property
    def sent(self) -> str:
        """The piece inside the prompt: the source, or its masked form."""
        return self.masked.text if self.masked else self.source

    def messages(self) -> tuple:
        msgs = self.template.messages(self.sent)
        if self.masked and self.masked.values:
            if msgs[0]["role"] == "system":
                msgs[0] = {**msgs[0], "content": f"{msgs[0]['content']} {INSTRUCTION}"}
            else:
                msgs.insert(0, {"role": "system", "content": INSTRUCTION})
        return tuple(msgs)

    def restored(self, candidate: str) -> str:
        return self.masked.restore(candidate) if self.masked else candidate


def segments_to_rewrite(record: Record, fields: str) -> list[Segment]:
    """'trainable' (default), 'all', or a comma list of roles such as 'assistant,user'."""
    if fields == "trainable":
        segs = record.segments(trainable_only=True)
    elif fields == "all":
        segs = record.segments(trainable_only=False)
    else:
        roles = {r.strip() for r in fields.split(",") if r.strip()}
        segs = [s for s in record.segments(trainable_only=False) if s.role in roles or
                (s.trainable and "trainable" in roles)]
    return [s for s in segs if s.text.strip()]


def plan(records: list[Record], pcfg: ParaphraseConfig,
         templates: dict[str, PromptTemplate]) -> tuple[list[RecordOutcome], list[_Job]]:
    outcomes, jobs = [], []
    for rec in records:
        ro = RecordOutcome(rec, [])
        for seg in segments_to_rewrite(rec, pcfg.fields):
            kind = segment_kind(seg.text, seg.role, pcfg.content_type)
            chunks = split(seg.text, kind, pcfg.chunk_words)
            if all(c.verbatim for c in chunks):  # a short segment is rewritten whole
                chunks = [Chunk(seg.text, "", "", None, False, None)]
            so = SegmentOutcome(seg.path, seg.role, kind, chunks)
            ro.segments.append(so)
            for i, c in enumerate(chunks):
                if not c.verbatim:
                    template = templates[c.kind or kind]
                    # Code facts are public names and strings, which renaming handles.
                    masked = (mask(c.source) if pcfg.mask_facts and template.kind != "code"
                              else None)
                    jobs.append(_Job(so, ro, i, c.source, template, masked))
        outcomes.append(ro)
    return outcomes, jobs


def obfuscate(records: list[Record], backend: Backend, pcfg: ParaphraseConfig, gcfg: GateConfig,
              templates: dict[str, PromptTemplate], cache: Cache, embedder,
              log: Log = no_log, verbose: bool = False
              ) -> list[RecordOutcome]:
    outcomes, jobs = plan(records, pcfg, templates)
    params = {"temperature": pcfg.temperature, "top_p": pcfg.top_p,
              "max_new_tokens": pcfg.max_new_tokens}
    # Decoding rules change what is generated; only those switched on enter the key, so the
    # keys of runs made before they existed stay valid.
    params.update({k: v for k, v in (("block_ngrams", pcfg.block_ngrams),
                                     ("no_repeat_ngram", pcfg.no_repeat_ngram),
                                     ("repetition_penalty", pcfg.repetition_penalty))
                   if v not in (0, 1.0)})
    if pcfg.block_ngrams:  # facts exempt from blocking since this key (decoding.py)
        params["block_facts"] = "exempt"
    if pcfg.mask_facts:  # the request differs: masked piece, one more instruction
        params["mask_facts"] = INSTRUCTION
    last_round = pcfg.candidates - 1
    for cand in range(pcfg.candidates):
        pending = [j for j in jobs if not j.done]
        if not pending:
            break
        seed = pcfg.seed * 1000 + cand
        keys = [cache_key(j.source, backend.name, backend.model, j.template.sha256, params, seed,
                          cand) for j in pending]
        outputs: list[str | None] = [cache.get(k) for k in keys]
        first: dict[str, int] = {}  # identical pieces (duplicate records) are generated once
        for i, o in enumerate(outputs):
            if o is None:
                first.setdefault(keys[i], i)
        missing = list(first.values())
        log(f"round {cand + 1}/{pcfg.candidates}: {len(pending)} chunks, "
            f"{len(pending) - len(missing)} cached or repeated, {len(missing)} to generate")
        for start in range(0, len(missing), backend.batch_size):
            batch = missing[start:start + backend.batch_size]
            reqs = [Request(pending[i].messages(), pending[i].sent, seed,
                            _budget(pending[i].sent, backend, pcfg))
                    for i in batch]

            def commit(k: int, text: str, batch=batch) -> None:
                cache.put(keys[batch[k]], text)
                outputs[batch[k]] = text

            backend.generate(reqs, on_result=commit)
            log(f"  generated {min(start + len(batch), len(missing))}/{len(missing)}")
        outputs = [outputs[first[k]] if o is None else o for o, k in zip(outputs, keys)]
        cleaned = [j.restored(clean(o or "", j.sent)) for o, j in zip(outputs, pending)]
        log(f"  checking {len(pending)} candidates against the gate")
        results = evaluate([(j.source, c) for j, c in zip(pending, cleaned)], gcfg, embedder,
                           [j.template.kind for j in pending])
        for j, text, res in zip(pending, cleaned, results):
            j.record.requests += 1
            j.outcome.attempts = max(j.outcome.attempts, cand + 1)
            if verbose:
                log(f"  {j.record.record.id} {j.outcome.path} chunk {j.index}: "
                    f"{'PASS' if res.passed else 'fail ' + res.reason} sim={res.similarity:.2f} "
                    f"overlap={res.overlap:.2f}\n    original: {j.source[:300]!r}\n"
                    f"    rewrite:  {text[:300]!r}")
            if res.passed and (j.best is None or res.overlap < j.best.overlap):
                j.best = res
                j.outcome.rewrites[j.index] = text
                j.outcome.failures.pop(j.index, None)
            elif not res.passed and j.best is None:
                j.outcome.failures[j.index] = res.reason
            # "first" stops at the first passing candidate; "most-changed" sees them all.
            j.done = j.best is not None and (pcfg.pick == "first" or cand == last_round)
    _rename_only_fallback([j for j in jobs if not j.done], gcfg, embedder, pcfg.seed)
    for ro in outcomes:
        for so in ro.segments:
            if so.failures:
                i = min(so.failures)
                so.reason = f"chunk {i}: {so.failures[i]}"
    _finish(outcomes, gcfg, embedder)
    return outcomes


def _rename_only_fallback(failed: list[_Job], gcfg: GateConfig, embedder, seed: int) -> None:
    """A code piece no candidate rewrote past the gate gets one more, exact candidate: the
    original with its own identifiers renamed (no model involved). It passes only where
    renaming alone changes enough of the piece."""
    code = [j for j in failed if j.template.kind == "code"]
    renamed = [rename_identifiers(j.source, seed).text for j in code]
    tried = [(j, r) for j, r in zip(code, renamed) if r != j.source]
    # Renaming keeps behaviour by construction (the AST with the mapping undone is the
    # original's), so meaning needs no embedding check; new names would only lower it. The
    # wording checks (overlap, verbatim run) and the fact checks still apply.
    exact = replace(gcfg, min_similarity=-1.0)
    results = evaluate([(j.source, r) for j, r in tried], exact, embedder,
                       ["code"] * len(tried))
    for (j, text), res in zip(tried, results):
        j.record.requests += 1
        if res.passed:
            j.done, j.best = True, res
            j.outcome.rewrites[j.index] = text
            j.outcome.failures.pop(j.index, None)
            j.outcome.exact = True
        else:
            j.outcome.failures[j.index] = f"renamed: {res.reason}"


def _budget(source: str, backend: Backend, pcfg: ParaphraseConfig) -> int:
    n = backend.count_tokens(source)
    if n is None:  # no tokenizer at hand: about 3 characters a token
        n = len(source) // 3 + 1
    return new_tokens_for(n, pcfg.max_new_tokens)


def _finish(outcomes: list[RecordOutcome], gcfg: GateConfig, embedder) -> None:
    """Whole-segment gate for segments whose chunks all passed; build the new records."""
    ready = [s for ro in outcomes for s in ro.segments
             if len(s.rewrites) == sum(not c.verbatim for c in s.chunks)]
    pairs = [(assemble(s.chunks, {}), assemble(s.chunks, s.rewrites)) for s in ready]
    results: list = [None] * len(ready)
    # Segments with renamed code skip the embedding check; each group is gated in one batch.
    for exact, cfg in ((False, gcfg), (True, replace(gcfg, min_similarity=-1.0))):
        idx = [i for i, s in enumerate(ready) if s.exact == exact]
        got = evaluate([pairs[i] for i in idx], cfg, embedder, [ready[i].kind for i in idx])
        for i, res in zip(idx, got):
            results[i] = res
    for s, res, (_, new) in zip(ready, results, pairs):
        s.gate = res
        s.reason = "" if res.passed else f"segment: {res.reason}"
        s.rewrites = s.rewrites if res.passed else {}
        s.new_text = new if res.passed else None
    if gcfg.on_fail == "partial":
        _cut_failed_chunks([s for ro in outcomes for s in ro.segments if not s.passed],
                           gcfg, embedder)
    for ro in outcomes:
        if ro.segments and all(s.passed for s in ro.segments):
            ro.new_record = ro.record.rebuilt({s.path: s.new_text for s in ro.segments})


def _cut_failed_chunks(failed: list[SegmentOutcome], gcfg: GateConfig, embedder) -> None:
    """on_fail=partial: a text segment keeps its rewritten chunks and loses the ones no
    candidate rewrote, instead of the whole record being dropped. The original words of a
    failed chunk never reach the output; what remains is checked for copied wording (overlap,
    verbatim run) against the whole original. Code is never cut: a piece missing breaks it."""
    cuttable = [s for s in failed if s.kind != "code" and s.failures and s.rewrites]
    # Content was removed on purpose, so neither meaning nor length can match the original.
    wording_only = replace(gcfg, min_similarity=-1.0, min_length_ratio=0.0, check_facts=False)
    for s in cuttable:
        drop = frozenset(s.failures)
        new = assemble(s.chunks, s.rewrites, drop)
        (res,) = evaluate([(assemble(s.chunks, {}), new)], wording_only, embedder, ["text"])
        if res.passed:
            s.gate, s.new_text, s.cut = res, new, tuple(sorted(drop))
            s.reason = f"partial: {len(drop)} failed chunk(s) left out"
