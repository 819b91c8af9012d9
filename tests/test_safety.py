"""Never lose, never leak: no output can land on an input, every cheap check runs before the
warm-up, a failed run leaves earlier outputs as they were, and nothing private is printed,
recorded or left more readable than the input."""
from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path

import pytest

import sanitize.datafile as sio
from sanitize.cli import main
from test_pipeline import SENTENCES, config, write_jsonl


def free_port() -> int:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def no_warm_up(monkeypatch):
    """Any case here must be refused before a model is even loaded."""
    import sanitize.auditing.run
    import sanitize.models
    import sanitize.scoring

    def reached(*_a, **_k):
        raise AssertionError("reached the expensive stage")

    # The audit binds load_lm at import: patched there too, and imported here first so that a
    # first import under this patch cannot keep `reached` for the tests that follow.
    monkeypatch.setattr(sanitize.auditing.run, "load_lm", reached)
    monkeypatch.setattr(sanitize.models, "load_lm", reached)
    monkeypatch.setattr(sanitize.models, "load_embedder", reached)
    monkeypatch.setattr(sanitize.scoring, "score_records", reached)


def run_cli(args, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    return exc.value.code, capsys.readouterr().err


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def _case_setups():
    """name -> (build args from the folder, expected exit code, message fragment)."""
    def sidecar_named_input(d):
        src = d / "d.jsonl.manifest.json"
        src.write_bytes((d / "in.jsonl").read_bytes())
        return [src, d / "d.jsonl"]

    def out_is_symlink_to_in(d):
        (d / "link.jsonl").symlink_to(d / "in.jsonl")
        return [d / "in.jsonl", d / "link.jsonl"]

    def out_is_hard_link_to_in(d):
        os.link(d / "in.jsonl", d / "hard.jsonl")
        return [d / "in.jsonl", d / "hard.jsonl"]

    def out_via_dotdot(d):
        (d / "sub").mkdir()
        return [d / "in.jsonl", d / "sub" / ".." / "in.jsonl"]

    def out_is_dir(d):
        (d / "outdir").mkdir()
        return [d / "in.jsonl", d / "outdir"]

    def out_under_a_file(d):
        return [d / "in.jsonl", d / "in.jsonl" / "out.jsonl"]

    def manifest_is_dir(d):
        (d / "out.jsonl.manifest.json").mkdir()
        return [d / "in.jsonl", d / "out.jsonl"]

    def cache_not_a_db(d):
        (d / "junk.db").write_text("this is not a database, it is a note\n" * 100)
        return [d / "in.jsonl", d / "out.jsonl", "--cache", d / "junk.db"]

    def cache_is_in(d):
        return [d / "in.jsonl", d / "out.jsonl", "--cache", d / "in.jsonl"]

    def cache_is_out(d):
        return [d / "in.jsonl", d / "out.jsonl", "--cache", d / "out.jsonl"]

    def config_is_out(d):
        (d / "c.toml").write_text("ratio = 0.5\n")
        return [d / "in.jsonl", d / "c.toml", "--config", d / "c.toml"]

    def prompt_file_is_cache(d):
        (d / "p.md").write_text("Rewrite: {text}\n")
        return [d / "in.jsonl", d / "out.jsonl", "--prompt-file", d / "p.md",
                "--cache", d / "p.md"]

    def prompt_without_placeholder(d):
        (d / "p.md").write_text("Rewrite the text.\n")
        return [d / "in.jsonl", d / "out.jsonl", "--prompt-file", d / "p.md"]

    def ratio_nan(d):
        return [d / "in.jsonl", d / "out.jsonl", "--ratio", "nan"]

    def lr_inf(d):
        return [d / "in.jsonl", d / "out.jsonl", "--lr", "inf"]

    def score_over_input(d):
        return ["score", d / "in.jsonl", d / "in.jsonl"]

    def score_over_config(d):
        (d / "c.toml").write_text("ratio = 0.5\n")
        return ["score", d / "in.jsonl", d / "c.toml", "--config", d / "c.toml"]

    def openai_without_endpoint(d):
        return [d / "in.jsonl", d / "out.jsonl", "--paraphraser", "openai"]

    def openai_unreachable(d):
        return [d / "in.jsonl", d / "out.jsonl", "--paraphraser", "openai", "--retries", "0",
                "--api-base", f"http://127.0.0.1:{free_port()}/v1"]

    def audit_report_over_input(d):
        (d / "audit").mkdir()
        (d / "audit" / "report.json").write_bytes((d / "in.jsonl").read_bytes())
        return ["audit", "--original", d / "audit" / "report.json", "--protected",
                d / "in.jsonl", "--nonmembers", d / "in.jsonl", "--out-dir", d / "audit"]

    def audit_out_dir_is_file(d):
        return ["audit", "--original", d / "in.jsonl", "--protected", d / "in.jsonl",
                "--nonmembers", d / "in.jsonl", "--out-dir", d / "in.jsonl"]

    return {
        "sidecar named like the input": (sidecar_named_input, 2, "would overwrite the input IN"),
        "OUT a symlink to IN": (out_is_symlink_to_in, 2, "would overwrite the input IN"),
        "OUT a hard link to IN": (out_is_hard_link_to_in, 2, "would overwrite the input IN"),
        "OUT is IN through ..": (out_via_dotdot, 2, "would overwrite the input IN"),
        "OUT a directory": (out_is_dir, 2, "OUT is a directory"),
        "OUT under a file": (out_under_a_file, 2, "it is a file"),
        "manifest path a directory": (manifest_is_dir, 2, "the manifest is a directory"),
        "cache not a database": (cache_not_a_db, 2, "cannot use as the paraphrase cache"),
        "cache is IN": (cache_is_in, 2, "--cache would overwrite the input IN"),
        "cache is OUT": (cache_is_out, 2, "are the same file"),
        "config is OUT": (config_is_out, 2, "would overwrite the input --config"),
        "prompt file is the cache": (prompt_file_is_cache, 2, "the input --prompt-file"),
        "prompt without {text}": (prompt_without_placeholder, 2, "no {text} placeholder"),
        "ratio nan": (ratio_nan, 2, "--ratio must be between 0 and 1"),
        "lr inf": (lr_inf, 2, "--lr must be a number above 0"),
        "score over its input": (score_over_input, 2, "SCORES_OUT would overwrite the input"),
        "score over its config": (score_over_config, 2, "would overwrite the input --config"),
        "openai without endpoint": (openai_without_endpoint, 2, "needs --api-base"),
        "openai endpoint unreachable": (openai_unreachable, 1, "models failed after 1 attempts"),
        "audit report over an input": (audit_report_over_input, 2,
                                       "would overwrite the input --original"),
        "audit out-dir a file": (audit_out_dir_is_file, 2, "is a file"),
    }


CASES = _case_setups()


@pytest.mark.parametrize("name", list(CASES))
def test_refused_up_front_with_one_line_and_inputs_untouched(name, tmp_path, capsys,
                                                              monkeypatch, no_warm_up):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    write_jsonl(tmp_path / "in.jsonl", [{"text": s} for s in SENTENCES[:3]])
    setup, code, fragment = CASES[name]
    args = setup(tmp_path)
    before = snapshot(tmp_path)
    got, err = run_cli(args, capsys)
    assert got == code, err
    errors = [ln for ln in err.splitlines() if ln.lower().startswith("error")]
    assert len(errors) == 1 and "Traceback" not in err, err
    assert fragment in errors[0]
    assert snapshot(tmp_path) == before  # nothing written, nothing changed, no temp files


def test_credentials_never_reach_an_error_or_the_manifest(capsys, tmp_path, no_warm_up):
    from sanitize.manifest import _recorded_config

    write_jsonl(tmp_path / "in.jsonl", [{"text": SENTENCES[0]}])
    base = f"http://alice:s3cr3t-pw@127.0.0.1:{free_port()}/v1?api_key=k3y-v4lue"
    code, err = run_cli([tmp_path / "in.jsonl", tmp_path / "out.jsonl", "--paraphraser",
                         "openai", "--retries", "0", "--api-base", base], capsys)
    assert code == 1 and "127.0.0.1" in err
    assert "s3cr3t" not in err and "alice" not in err and "k3y-v4lue" not in err
    cfg = config(tmp_path)
    from dataclasses import replace
    cfg = replace(cfg, paraphrase=replace(cfg.paraphrase, api_base=base))
    recorded = json.dumps(_recorded_config(cfg))
    assert "s3cr3t" not in recorded and "k3y-v4lue" not in recorded and "127.0.0.1" in recorded


# -- a real run: permissions, and a failure at any write ------------------------------------------

def _run(tmp_path, tiny, embedder, **kw):
    from sanitize.pipeline import run

    return run(config(tmp_path, **kw), lm=tiny, embedder=embedder).manifest


def test_outputs_are_no_more_readable_than_the_input(tmp_path, tiny, embedder, monkeypatch):
    write_jsonl(tmp_path / "in.jsonl", [{"text": s} for s in SENTENCES[:4]])
    os.chmod(tmp_path / "in.jsonl", 0o600)
    monkeypatch.setenv("SOFT_SANITIZE_ECHO_MODE", "copy")  # every rewrite fails: a rejected file
    m = _run(tmp_path, tiny, embedder)
    assert m["counts"]["dropped"] == 2
    written = [p for p in tmp_path.iterdir() if p.name != "in.jsonl"]
    names = {p.name for p in written}
    assert {"out.jsonl", "out.jsonl.manifest.json", "out.jsonl.rejected.jsonl",
            "out.jsonl.private-cache.sqlite"} <= names
    for p in written:
        assert stat.S_IMODE(p.stat().st_mode) & 0o077 == 0, (p.name, oct(p.stat().st_mode))


def _fail_on_call(monkeypatch, module, name, k):
    """Make the k-th call of module.name raise OSError (disk full, say)."""
    real, calls = getattr(module, name), []

    def flaky(*a, **kw):
        calls.append(1)
        if len(calls) == k:
            raise OSError(28, "No space left on device")
        return real(*a, **kw)

    monkeypatch.setattr(module, name, flaky)


# The pipeline writes OUT and the rejected file with write_lines, the manifest with dump_json,
# then renames all three (os.replace) in that order.
FAULTS = [("write_lines", 1), ("write_lines", 2), ("dump_json", 1),
          ("replace", 1), ("replace", 2), ("replace", 3)]


@pytest.mark.parametrize("func,k", FAULTS, ids=[f"{f}-{k}" for f, k in FAULTS])
def test_a_failure_at_any_write_leaves_earlier_outputs_as_they_were(
        func, k, tmp_path, tiny, embedder, monkeypatch):
    import sanitize.pipeline as pipeline

    write_jsonl(tmp_path / "in.jsonl", [{"text": s} for s in SENTENCES[:4]])
    _run(tmp_path, tiny, embedder)  # a first, good run: OUT and manifest exist
    (tmp_path / "out.jsonl.rejected.jsonl").write_text("an earlier run's rejected file\n")
    before = {n: p for n, p in snapshot(tmp_path).items() if "cache" not in n}
    monkeypatch.setenv("SOFT_SANITIZE_ECHO_MODE", "copy")  # this run would change all three
    if func == "replace":
        _fail_on_call(monkeypatch, sio.os, "replace", k)
    else:
        _fail_on_call(monkeypatch, pipeline, func, k)
    with pytest.raises(OSError, match="No space left"):
        _run(tmp_path, tiny, embedder)
    monkeypatch.undo()
    after = {n: p for n, p in snapshot(tmp_path).items() if "cache" not in n}
    assert after == before  # every earlier output intact, no temp or backup file left
