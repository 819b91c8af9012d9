"""The config layer: choice registries in one place, each config validating itself once."""
from __future__ import annotations

import pytest

from sanitize.config import (BackendName, ContentType, GateConfig, OnFail, OutputFormat,
                             ParaphraseConfig, Pick, SanitizeConfig, ScoreConfig, ScoreKind,
                             choices)
from sanitize.errors import InputError


def test_the_registries_agree_with_the_choice_types():
    from sanitize.paraphrase import BACKENDS
    from sanitize.scoring import RISK_RULES

    assert tuple(BACKENDS) == choices(BackendName)
    assert (*RISK_RULES, "random") == choices(ScoreKind)  # random is drawn, not a loss rule


def test_cli_choice_lists_come_from_the_choice_types():
    from sanitize.commands.sanitize_cmd import command

    by_name = {p.name: p for p in command.params}
    for name, kind in (("paraphraser", BackendName), ("score_kind", ScoreKind),
                       ("content_type", ContentType), ("pick", Pick), ("on_fail", OnFail),
                       ("output_format", OutputFormat)):
        assert tuple(by_name[name].type.choices) == choices(kind), name


@pytest.mark.parametrize("build, message", [
    (lambda: ParaphraseConfig(backend="gpt"), r"--paraphraser must be local, openai, vllm or "
                                              r"echo, got 'gpt'"),
    (lambda: ScoreConfig(score="entropy"), r"--score must be loss, loss-drop, base-loss or random"),
    (lambda: GateConfig(on_fail="skip"), r"--on-fail must be drop, keep or partial"),
    (lambda: SanitizeConfig(output_format="csv"), r"--output-format must be auto, jsonl, "),
    # The default rule is the secret random draw, which each machine would draw differently.
    (lambda: SanitizeConfig(shard=(0, 2), scores_path="s.jsonl"),
     r"--score random \(the default\) cannot be sharded.*--score loss"),
])
def test_a_bad_choice_is_refused_when_the_config_is_built(build, message):
    with pytest.raises(InputError, match=message):
        build()


def test_typed_counts_name_every_manifest_status():
    from dataclasses import fields

    from sanitize.manifest import STATUSES
    from sanitize.results import Counts

    assert [f.name.replace("_", "-") for f in fields(Counts)] == list(STATUSES)
