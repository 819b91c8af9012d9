"""Score once, rewrite on N machines (--shard i/N), merge: the merged OUT, rejected file and
per-record manifest are what one run writes, byte for byte, with a per-request deterministic
paraphraser; shards that do not belong together are refused."""
from __future__ import annotations

from dataclasses import replace

import pytest

from sanitize.errors import InputError
from test_pipeline import SENTENCES, config, write_jsonl


@pytest.fixture
def scored(tmp_path, tiny, embedder):
    """IN (12 records and one invalid line) and its scores, as `soft-sanitize score` writes."""
    from sanitize.datafile import read_dataset, write_json, write_jsonl_lines
    from sanitize.scoring import meta_path, score_lines, score_records, scores_meta
    from sanitize.selection import decide

    write_jsonl(tmp_path / "in.jsonl", [{"id": f"r{i}", "text": s}
                                        for i, s in enumerate(SENTENCES)])
    with open(tmp_path / "in.jsonl", "a") as fh:
        fh.write("not json\n")
    # The fact check rejects the echo rewrite of "two hundred" (reversed): one drop.
    cfg = config(tmp_path, ratio=0.75, skip_invalid=True, max_drop=1.0, score="loss")
    cfg = replace(cfg, gate=replace(cfg.gate, check_facts=True))
    data = read_dataset(cfg.input, skip_invalid=True)
    scores = decide(score_records(data.records, cfg.score, lm=tiny, embedder=embedder),
                    cfg.select)
    path = str(tmp_path / "scores.jsonl")
    write_jsonl_lines(path, score_lines(scores))
    write_json(meta_path(path), scores_meta(data, cfg.score))
    return replace(cfg, scores_path=path)


def test_merged_shards_are_byte_identical_to_one_run(tmp_path, tiny, embedder, scored):
    from sanitize.merge import merge
    from sanitize.pipeline import run

    one = run(replace(scored, output=str(tmp_path / "one.jsonl")), lm=tiny, embedder=embedder).manifest
    assert one["counts"]["dropped"] == 1 and one["counts"]["obfuscated"] >= 6
    parts = []
    for i in range(3):
        part = str(tmp_path / f"part{i}.jsonl")
        m = run(replace(scored, output=part, shard=(i, 3)), lm=tiny, embedder=embedder).manifest
        assert m["counts"]["other-shard"] == 8  # 12 records, 4 owned by each shard
        parts.append(part)
    merged = merge(scored.input, str(tmp_path / "merged.jsonl"), parts[::-1], max_drop=1.0)
    assert (tmp_path / "merged.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()
    assert (tmp_path / "merged.jsonl.rejected.jsonl").read_bytes() == \
        (tmp_path / "one.jsonl.rejected.jsonl").read_bytes()
    assert merged["records"] == one["records"] and merged["counts"] == one["counts"]
    assert [s["shard"] for s in merged["shards"]] == ["0/3", "1/3", "2/3"]

    with pytest.raises(InputError, match="2 shard outputs given, but their manifests say"):
        merge(scored.input, str(tmp_path / "m2.jsonl"), parts[:2])
    with pytest.raises(InputError, match="shard 1 is given twice"):
        merge(scored.input, str(tmp_path / "m3.jsonl"), [parts[0], parts[1], parts[1]])
    other = tmp_path / "other.jsonl"
    other.write_text((tmp_path / "in.jsonl").read_text() + '{"text": "one more"}\n')
    with pytest.raises(InputError, match="made from another input"):
        merge(str(other), str(tmp_path / "m4.jsonl"), parts)
    assert not list(tmp_path.glob("m[234].jsonl*"))


def test_shards_need_scores_and_a_valid_index():
    from sanitize.config import SanitizeConfig

    with pytest.raises(InputError, match="--shard needs --scores"):
        SanitizeConfig(input="a", output="b", shard=(0, 2))
    with pytest.raises(InputError, match="--shard"):
        SanitizeConfig(input="a", output="b", shard=(2, 2), scores_path="s")


def test_merge_command_exit_codes(tmp_path, capsys):
    from sanitize.cli import main

    (tmp_path / "in.jsonl").write_text('{"text": "a"}\n')
    (tmp_path / "part0.jsonl").write_text('{"text": "a"}\n')
    with pytest.raises(SystemExit) as exc:
        main(["merge", str(tmp_path / "in.jsonl"), str(tmp_path / "out.jsonl"),
              str(tmp_path / "part0.jsonl")])
    assert exc.value.code == 2
    assert "no manifest beside this shard output" in capsys.readouterr().err


def test_a_shard_may_hold_no_record_and_the_merge_judges_the_whole(tmp_path, tiny, embedder,
                                                                   scored, monkeypatch):
    """Every rewrite fails: each shard writes its (empty) part, and the merge, which sees the
    whole, refuses to write an OUT with no record."""
    from sanitize.errors import OutputRefused
    from sanitize.merge import merge
    from sanitize.pipeline import run

    monkeypatch.setenv("SOFT_SANITIZE_ECHO_MODE", "copy")
    every = replace(scored, select=replace(scored.select, ratio=1.0))
    parts = []
    for i in range(12):  # one record per shard, and it fails the gate
        part = str(tmp_path / f"part{i}.jsonl")
        m = run(replace(every, output=part, shard=(i, 12)), lm=tiny, embedder=embedder).manifest
        assert m["counts"]["dropped"] == 1 and m["verdict"]["ok"]
        parts.append(part)
    with pytest.raises(OutputRefused, match="OUT would hold no record"):
        merge(every.input, str(tmp_path / "merged.jsonl"), parts)
    assert not (tmp_path / "merged.jsonl").exists()
