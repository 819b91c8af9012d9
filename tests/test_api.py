"""The library API (`from sanitize import protect, score, select, audit`): in memory, typed,
and the same stages as the CLI, so a notebook gets what `soft-sanitize` writes."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace

import pytest

from conftest import REPO
from sanitize.config import (GateConfig, ParaphraseConfig, SanitizeConfig, ScoreConfig,
                             SelectConfig, TrainConfig)
from sanitize.errors import InputError

EXAMPLE = REPO / "examples" / "support_chats.jsonl"
# The pinned example run's settings (tests/test_pinned_output.py): the echo paraphraser, a
# gate that lets about half the rewrites through, a tiny model built in the test, and the
# `loss` rule, whose selection is the same in every run (the default random draw's key is
# made anew in every cache).
CFG = SanitizeConfig(score=ScoreConfig(score="loss",
                                       train=TrainConfig(batch_size=4, max_length=512)),
                     paraphrase=ParaphraseConfig(backend="echo", candidates=2),
                     gate=GateConfig(min_similarity=0.8, on_fail="partial"))


def example_rows() -> list[dict]:
    return [json.loads(line) for line in EXAMPLE.read_text(encoding="utf-8").splitlines()]


def test_protect_in_memory_gives_what_the_cli_writes(tmp_path, tiny, embedder, monkeypatch):
    from sanitize import protect
    from sanitize.pipeline import run

    src = tmp_path / "in.jsonl"
    shutil.copy(EXAMPLE, src)
    on_disk = run(replace(CFG, input=str(src), output=str(tmp_path / "out.jsonl")), lm=tiny,
                  embedder=embedder)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = protect(example_rows(), config=CFG, lm=tiny, embedder=embedder)
    assert not list(elsewhere.iterdir())  # in memory: no output, no cache file
    written = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert result.rows == written
    assert result.manifest["records"] == on_disk.manifest["records"]
    assert result.counts == on_disk.counts
    assert result.counts.obfuscated == 5 and result.counts.dropped == 5
    assert result.counts.total == len(example_rows())
    assert result.verdict.ok and result.verdict.records_out == 15
    dropped = [r for r in result.results if r.status == "dropped"]
    assert [json.loads(x) for x in result.rejected_lines] == [r.record.data for r in dropped]
    assert all(r.output is None and r.outcome is not None for r in dropped)


def test_a_named_cache_is_private_and_resumes_with_the_callers_backend(tmp_path, tiny,
                                                                        embedder):
    from sanitize import protect
    from sanitize.paraphrase.echo import EchoBackend

    backend, cache = EchoBackend(), tmp_path / "rewrites.sqlite"
    first = protect(example_rows(), config=CFG, lm=tiny, embedder=embedder, backend=backend,
                    cache_path=str(cache))
    calls = backend.usage()["backend_calls"]
    assert calls > 0 and cache.stat().st_mode & 0o777 == 0o600  # it can hold original text
    again = protect(example_rows(), config=CFG, lm=tiny, embedder=embedder, backend=backend,
                    cache_path=str(cache))  # the caller's backend is still open
    assert again.rows == first.rows and backend.usage()["backend_calls"] == calls


def test_protect_takes_a_datasets_dataset_and_a_ratio(tiny, embedder):
    import datasets

    from sanitize import protect

    rows = example_rows()
    from_list = protect(rows, ratio=0.25, config=CFG, lm=tiny, embedder=embedder)
    from_hf = protect(datasets.Dataset.from_list(rows), ratio=0.25, config=CFG, lm=tiny,
                      embedder=embedder)
    assert from_hf.rows == from_list.rows
    assert sum(r.score.selected for r in from_list.results) == 5  # ceil(0.25 * 20)


def test_score_then_select_is_the_pipelines_selection(tiny, embedder):
    from sanitize import protect, score, select

    risks = score(example_rows(), CFG.score, lm=tiny, embedder=embedder)
    assert not hasattr(risks[0], "selected")  # scoring decides nothing
    chosen = select(risks, SelectConfig(ratio=0.5))
    protected = protect(example_rows(), config=CFG, lm=tiny, embedder=embedder)
    assert chosen == [r.score for r in protected.results]
    assert sum(c.selected for c in chosen) == 10
    # Score once, select many ways: decisions passed in are rewritten as they are, no warm-up.
    again = protect(example_rows(), config=CFG, scores=chosen, lm="never loaded",
                    embedder=embedder)
    assert again.rows == protected.rows
    fewer = select(risks, SelectConfig(ratio=0.25))
    part = protect(example_rows(), config=CFG, scores=fewer, embedder=embedder)
    assert sum(r.score.selected for r in part.results) == 5


def test_the_default_random_draw_skips_the_warm_up_and_repeats_with_its_cache(
        tmp_path, tiny, embedder, monkeypatch):
    """`protect`'s default rule reads no loss, so nothing is fine-tuned; the same cache repeats
    the draw. `score` without a config ranks by `loss`, as `soft-sanitize score` does."""
    import sanitize.scoring
    from sanitize import protect, score

    cfg = replace(CFG, score=replace(CFG.score, score=SanitizeConfig().score.score))
    assert cfg.score.score == "random"
    with monkeypatch.context() as patch:
        patch.setattr(sanitize.scoring, "warm_up", lambda *a, **k: pytest.fail("warm-up ran"))
        cache = str(tmp_path / "private.sqlite")
        runs = [protect(example_rows(), config=cfg, lm=tiny, embedder=embedder,
                        cache_path=cache) for _ in range(2)]
    chosen = [[r.score.selected for r in run.results] for run in runs]
    assert chosen[0] == chosen[1] and sum(chosen[0]) == 10
    assert all(r.score.loss_after is None for r in runs[0].results)
    risks = score(example_rows()[:6], lm=tiny, embedder=embedder)
    assert [r.risk for r in risks] == pytest.approx([-r.loss_after for r in risks])


def test_a_bad_row_is_named_by_its_number_before_any_model_loads():
    from sanitize import protect

    with pytest.raises(InputError, match=r"^<memory>:2: "):
        protect([{"text": "fine"}, {"unknown": "keys"}], lm=object(), embedder=object())


def test_audit_in_memory_takes_a_protection(tmp_path, tiny, tiny_model_dir, embedder):
    from sanitize import audit, protect
    from sanitize.auditing.config import AuditConfig

    rows = example_rows()
    members, nonmembers = rows[:12], rows[12:]
    protection = protect(members, config=CFG, lm=tiny, embedder=embedder)
    cfg = AuditConfig(out_dir=str(tmp_path / "unused"), base_model=tiny_model_dir,
                      attacks=("loss", "zlib"), bootstrap=10, allow_overlap=True,
                      train=TrainConfig(epochs=1, batch_size=4, max_length=512, device="cpu"))
    result = audit(members, protection, nonmembers, config=cfg)
    assert [m.label for m in result.models] == ["original", "protected"]
    for m in result.models:
        assert set(m.metrics) == {"loss", "zlib"} and 0 <= m.metrics["loss"].auc.value <= 1
    assert result.data["protected"]["records"] == protection.counts.total - \
        protection.counts.dropped
    # The Protection's own statuses group the members (never a fallback to content only).
    c = protection.counts
    assert c.obfuscated + c.partial + c.dropped > 0  # something to group
    assert result.member_groups.count("removed") == c.dropped
    assert result.member_groups.count("rewritten") == c.obfuscated + c.partial
    assert "changed" not in result.member_groups
    assert not (tmp_path / "unused").exists()  # the API writes no report


def test_importing_the_library_changes_no_environment_variable():
    code = ("import os; before = dict(os.environ); "
            "import sanitize, sanitize.api, sanitize.models, sanitize.pipeline, "
            "sanitize.scoring, sanitize.auditing.run; from sanitize import protect; "
            "assert dict(os.environ) == before, set(os.environ) ^ set(before)")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HF_", "TRANSFORMERS_", "TOKENIZERS_"))}
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.slow
def test_the_readme_notebook_example_runs(monkeypatch, capsys):
    """The README's five-line example, verbatim, on the embedded models."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- notebook-example[^>]*-->\n```python\n(.*?)```", readme, re.S)
    assert block, "the README lost its notebook example"
    code = block.group(1)
    assert len(code.strip().splitlines()) <= 6
    monkeypatch.chdir(REPO)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    result = namespace["result"]
    assert result.counts.total == 20 and sum(r.score.selected for r in result.results) == 6
    assert len(result.rows) == 20 - result.counts.dropped
    printed = capsys.readouterr().out
    assert "Counts(" in printed
