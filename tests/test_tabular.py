"""Parquet files and save_to_disk folders in and out: every column, its order and its type
survive a run; a column that cannot round-trip is refused up front; a folder OUT replaces only
an earlier dataset folder."""
from __future__ import annotations

import json
import os
import stat

import pytest

from sanitize.config import GateConfig, ParaphraseConfig, SanitizeConfig, SelectConfig
from sanitize.errors import InputError

TEXTS = [
    "The old lighthouse keeper climbed the stairs every evening to light the lamp for ships.",
    "Our bakery opens at seven and sells fresh bread, croissants and strong black coffee.",
    "The hiking trail follows the river through a pine forest before reaching the lake.",
    "Students in the chemistry lab measured how quickly the salt dissolved in warm water.",
]


def table():
    import pyarrow as pa

    schema = pa.schema([("score", pa.float32()), ("text", pa.string()), ("id", pa.int64()),
                        ("tags", pa.list_(pa.string())),
                        ("meta", pa.struct([("source", pa.string()), ("page", pa.int32())]))])
    rows = [{"score": 0.5 * i, "text": t, "id": i, "tags": ["a", str(i)],
             "meta": {"source": "s", "page": i}} for i, t in enumerate(TEXTS)]
    return pa.Table.from_pylist(rows, schema=schema)


def run_on(tmp_path, src, out, tiny, embedder, **kw):
    from sanitize.config import ScoreConfig, TrainConfig
    from sanitize.pipeline import run

    cfg = SanitizeConfig(
        input=str(src), output=str(out),
        score=ScoreConfig(train=TrainConfig(batch_size=4, max_length=64), dedup=False),
        select=SelectConfig(ratio=0.5),
        paraphrase=ParaphraseConfig(backend="echo", candidates=1),
        gate=GateConfig(min_similarity=0.5, check_facts=False, on_fail="keep"), **kw)
    return run(cfg, lm=tiny, embedder=embedder).manifest


def check_same_shape(before, after, manifest):
    assert after.schema == before.schema  # names, order and types
    changed = {e["id"] for e in manifest["records"] if e["status"] == "obfuscated"}
    assert len(changed) == 2
    for old, new in zip(before.to_pylist(), after.to_pylist()):
        if str(old["id"]) in changed:
            assert new["text"] != old["text"] and sorted(new["text"].split()) == \
                sorted(old["text"].split())  # the echo paraphraser reverses the words
            assert {k: v for k, v in new.items() if k != "text"} == \
                {k: v for k, v in old.items() if k != "text"}
        else:
            assert new == old


def test_parquet_in_and_out_keeps_every_column(tmp_path, tiny, embedder):
    import pyarrow.parquet as pq

    src = tmp_path / "in.parquet"
    pq.write_table(table(), src)
    m = run_on(tmp_path, src, tmp_path / "out.parquet", tiny, embedder)
    check_same_shape(table(), pq.read_table(tmp_path / "out.parquet"), m)
    assert m["outputs"]["output"]["format"] == "parquet"


def test_folder_in_and_out_keeps_every_column_and_the_input_permissions(tmp_path, tiny,
                                                                         embedder):
    import datasets

    src = tmp_path / "in_ds"
    datasets.Dataset(table()).save_to_disk(str(src))
    for f in [src, *src.iterdir()]:
        os.chmod(f, 0o700 if f.is_dir() else 0o600)
    out = tmp_path / "out_ds"  # no suffix after a folder input: a folder
    m = run_on(tmp_path, src, out, tiny, embedder)
    check_same_shape(table(), datasets.load_from_disk(str(out)).data.table, m)
    for f in out.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) & 0o077 == 0  # no more readable than IN
    # A second run replaces the folder it wrote, as a file would be replaced.
    m = run_on(tmp_path, src, out, tiny, embedder)
    assert len(datasets.load_from_disk(str(out))) == 4
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out_ds")]


def test_jsonl_in_parquet_out_and_back(tmp_path, tiny, embedder):
    import pyarrow.parquet as pq

    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": f"r{i}", "text": t, "n": i}) + "\n"
                           for i, t in enumerate(TEXTS)))
    run_on(tmp_path, src, tmp_path / "out.parquet", tiny, embedder)
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.column_names == ["id", "text", "n"] and out.num_rows == 4
    m = run_on(tmp_path, tmp_path / "out.parquet", tmp_path / "back.jsonl", tiny, embedder,
               output_format="jsonl")
    assert m["input"]["records"] == 4
    assert [json.loads(x)["n"] for x in (tmp_path / "back.jsonl").read_text().splitlines()] \
        == [0, 1, 2, 3]


def test_columns_that_cannot_round_trip_are_refused_up_front(tmp_path, tiny, embedder):
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": TEXTS, "blob": [b"x"] * 4}), src)
    with pytest.raises(InputError, match=r"blob \(binary\)"):
        run_on(tmp_path, src, tmp_path / "out.parquet", tiny, embedder)
    assert not (tmp_path / "out.parquet").exists()


def test_a_folder_out_never_replaces_a_folder_that_is_not_a_dataset(tmp_path, tiny, embedder):
    import datasets

    src = tmp_path / "in_ds"
    datasets.Dataset(table()).save_to_disk(str(src))
    precious = tmp_path / "photos"
    precious.mkdir()
    (precious / "cat.jpg").write_bytes(b"meow")
    with pytest.raises(InputError, match="not a save_to_disk dataset folder"):
        run_on(tmp_path, src, precious, tiny, embedder)
    assert (precious / "cat.jpg").read_bytes() == b"meow"
    with pytest.raises(InputError, match="cannot go to stdout"):
        from sanitize.tabular import output_kind
        output_kind("-", "parquet")
