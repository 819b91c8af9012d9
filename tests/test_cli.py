"""CLI shape: help for every command, default subcommand, exit codes, one-line errors."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from sanitize.cli import COMMANDS, cli, main


def run_main(args, monkeypatch=None):
    """Run the real entry point (with its error handling) and capture exit code and stderr."""
    proc = subprocess.run([sys.executable, "-m", "sanitize", *args], capture_output=True,
                          text=True, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_has_help_with_an_example(name):
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output
    assert "soft-sanitize" in result.output


def test_top_level_help_lists_commands():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and "soft-sanitize" in result.output


BAD_INPUTS = [
    ("invalid json", '{"text": "a"}\n{oops\n', ":2: invalid JSON"),
    ("empty", "", ": empty file"),
    ("no trainable", '{"prompt": "p", "completion": "  "}\n', ":1: record has no trainable text"),
    ("unknown schema", '{"foo": 1}\n', ":1: cannot detect the record format"),
]


@pytest.mark.parametrize("name,content,fragment", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
@pytest.mark.parametrize("command", [[], ["score"]], ids=["default", "score"])
def test_bad_input_exit_2_one_line_no_output(tmp_path, name, content, fragment, command):
    src = tmp_path / "in.jsonl"
    src.write_text(content)
    out = tmp_path / "out.jsonl"
    code, stdout, stderr = run_main([*command, str(src), str(out)])
    assert code == 2, stderr
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ") and str(src) + fragment in lines[0]
    assert "Traceback" not in stderr
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]  # nothing left behind
    assert src.read_text() == content  # input untouched


def test_debug_shows_traceback(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("{oops\n")
    code, _, stderr = run_main(["--debug", str(src), str(tmp_path / "o.jsonl")])
    assert code != 0 and "Traceback" in stderr


def test_unknown_option_is_usage_error(tmp_path):
    code, _, stderr = run_main(["score", "--no-such-flag"])
    assert code == 2 and "No such option" in stderr


def test_config_file_sets_defaults_and_flags_win(tmp_path):
    """--config fills options; an explicit flag overrides the file."""
    import click

    from sanitize.cli_common import config_option

    seen = {}

    @click.command("demo")
    @config_option
    @click.option("--ratio", type=float, default=0.5)
    @click.option("--seed", type=int, default=0)
    def demo(ratio, seed):
        seen.update(ratio=ratio, seed=seed)

    cfg = tmp_path / "c.toml"
    cfg.write_text("ratio = 0.2\n[demo]\nseed = 7\n")
    assert CliRunner().invoke(demo, ["--config", str(cfg)]).exit_code == 0
    assert seen == {"ratio": 0.2, "seed": 7}
    assert CliRunner().invoke(demo, ["--config", str(cfg), "--ratio", "0.9"]).exit_code == 0
    assert seen == {"ratio": 0.9, "seed": 7}
    cfg.write_text("nope = 1\n")
    result = CliRunner().invoke(demo, ["--config", str(cfg)])
    assert result.exit_code == 2 and "unknown option 'nope'" in result.output


def test_main_entry_point_maps_errors(monkeypatch, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["score", str(tmp_path / "missing.jsonl"), str(tmp_path / "o.jsonl")])
    assert exc.value.code == 2
    assert "no such file" in capsys.readouterr().err


def test_refused_output_exits_1_and_json_still_reports_the_verdict(monkeypatch, capsys, tmp_path):
    import json

    import sanitize.pipeline
    from sanitize.errors import OutputRefused

    (tmp_path / "in.jsonl").write_text('{"text": "a"}\n')
    verdict = {"ok": False, "reason": "OUT would hold no record", "left_out": 1}

    def refuse(cfg, **_):
        raise OutputRefused(verdict["reason"], {"counts": {"dropped": 1}, "verdict": verdict,
                                                "records": [{"status": "dropped"}]})

    monkeypatch.setattr(sanitize.pipeline, "run", refuse)
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path / "in.jsonl"), str(tmp_path / "out.jsonl"), "--json"])
    assert exc.value.code == 1
    out, err = capsys.readouterr()
    assert json.loads(out) == {"counts": {"dropped": 1}, "verdict": verdict}
    assert err.strip().count("\n") == 0 and "OUT would hold no record" in err


def test_stdout_output_without_side_files_is_a_usage_error(capsys, tmp_path):
    (tmp_path / "in.jsonl").write_text('{"text": "a"}\n')
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path / "in.jsonl"), "-"])
    assert exc.value.code == 2
    assert "--manifest, --cache, --rejected" in capsys.readouterr().err
    assert not list(Path.cwd().glob("stdout.*"))
