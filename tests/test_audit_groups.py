"""Members grouped by what the protection did (sanitize/auditing/groups.py): by content when
nothing else is known, by the protection's own statuses when they describe the two files."""
import numpy as np

from sanitize.api import as_dataset
from sanitize.auditing.groups import (CHANGED, IN_TRAINING, REMOVED, REWRITTEN, UNCHANGED,
                                      group_metrics, left_in_training, member_groups)


def _rows(texts):
    return [{"text": t} for t in texts]


def test_grouping_by_content_ignores_line_number_ids():
    """Records without an id get line-number ids; removing line 1 shifts every later id. Only
    the removed record and the rewritten one count as changed, not every later line."""
    original = as_dataset(_rows(["a one", "b two", "c three", "d four", "e five"]))
    protected = as_dataset(_rows(["b two", "C THREE", "d four", "e five"]))
    groups, note = member_groups(original, protected)
    assert groups == [CHANGED, UNCHANGED, CHANGED, UNCHANGED, UNCHANGED] and note is None


def test_identical_lines_are_counted_as_a_multiset():
    original = as_dataset(_rows(["same", "same", "other"]))
    protected = as_dataset(_rows(["same", "other"]))
    assert member_groups(original, protected)[0] == [UNCHANGED, CHANGED, UNCHANGED]


def test_statuses_split_changed_into_rewritten_and_removed():
    original = as_dataset(_rows(["a one", "b two", "c three", "d four"]))
    protected = as_dataset(_rows(["a one", "B TWO", "d four"]))
    ids = [r.id for r in original.records]
    statuses = dict(zip(ids, ["unchanged", "obfuscated", "dropped", "kept-original"]))
    groups, note = member_groups(original, protected, statuses)
    assert groups == [UNCHANGED, REWRITTEN, REMOVED, UNCHANGED] and note is None
    assert left_in_training(groups, len(protected.records)) == IN_TRAINING


def test_statuses_that_do_not_describe_the_files_are_not_trusted():
    """A manifest of another run (here: it says record 2 was dropped, but it is in the file)
    falls back to the content grouping, with a note saying why."""
    original = as_dataset(_rows(["a one", "b two", "c three"]))
    protected = as_dataset(_rows(["a one", "b two", "c three"]))
    ids = [r.id for r in original.records]
    groups, note = member_groups(original, protected,
                                 dict(zip(ids, ["unchanged", "dropped", "unchanged"])))
    assert groups == [UNCHANGED] * 3 and "grouped by content only" in note
    assert left_in_training(groups, 3) is None  # nothing removed: the whole set is the figure


def test_kept_verbatim_stands_in_when_removed_and_rewritten_are_not_told_apart():
    assert left_in_training([UNCHANGED, CHANGED, CHANGED], 2) == UNCHANGED
    assert left_in_training([UNCHANGED, CHANGED, CHANGED], 3) is None  # all rewritten


def test_group_metrics_attack_each_group_against_all_nonmembers():
    labels = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    groups = [UNCHANGED, UNCHANGED, REMOVED, REMOVED]
    scores = {"loss": np.array([9.0, 8.0, 0.5, 1.5, 0.0, 1.0, 2.0, 3.0])}
    out = group_metrics(scores, labels, groups, n_boot=0, seed=0)
    assert set(out) == {UNCHANGED, REMOVED, IN_TRAINING}
    assert out[UNCHANGED]["loss"].auc.value == 1.0
    assert out[IN_TRAINING]["loss"].n_members == 2 and out[IN_TRAINING]["loss"].n_nonmembers == 4
    assert out[REMOVED]["loss"].auc.value == 0.375  # they beat 1 and 2 of 4 non-members


def test_the_manifest_is_found_beside_the_protected_file_or_named(tmp_path):
    import json

    import pytest

    from sanitize.auditing.config import AuditConfig
    from sanitize.auditing.run import manifest_statuses
    from sanitize.datafile import read_dataset
    from sanitize.errors import InputError

    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "a", "text": "one"}\n{"id": "b", "text": "two"}\n')
    original = read_dataset(str(src))
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "a", "text": "one"}\n')
    manifest = {"input": {"sha256": original.sha256},
                "records": [{"id": "a", "status": "unchanged"}, {"id": "b", "status": "dropped"}]}
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps(manifest))
    cfg = AuditConfig(out_dir="x", original=str(src), protected=str(out))
    assert manifest_statuses(cfg, original) is None  # none beside OUT, none named
    named = AuditConfig(out_dir="x", original=str(src), protected=str(out),
                        manifest=str(elsewhere))
    assert manifest_statuses(named, original) == {"a": "unchanged", "b": "dropped"}
    (tmp_path / "out.jsonl.manifest.json").write_text(json.dumps(manifest))
    assert manifest_statuses(cfg, original) == {"a": "unchanged", "b": "dropped"}
    # A manifest of another input: ignored beside OUT, an input error when named.
    manifest["input"]["sha256"] = "0" * 64
    (tmp_path / "out.jsonl.manifest.json").write_text(json.dumps(manifest))
    assert manifest_statuses(cfg, original) is None
    elsewhere.write_text(json.dumps(manifest))
    with pytest.raises(InputError, match=r"elsewhere.json: cannot use this manifest: it was "
                                         r"made from another input"):
        manifest_statuses(named, original)
