"""Members grouped by what the protection did to them, and the attacks on each group.

Why: a protection that removes members lowers the whole-set AUC while every member left in
training may stay as exposed as before; a removed member was never trained on, so it scores
like a non-member. The attacks on the members still in training (unchanged or rewritten),
against the same non-members, give the figure that removing records cannot lower.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from .metrics import AttackMetrics, evaluate

UNCHANGED, REWRITTEN, REMOVED = "unchanged", "rewritten", "removed"
CHANGED = "changed"  # rewritten or removed, when no per-record status tells which
IN_TRAINING = "in training"  # unchanged + rewritten
# The sanitize manifest's statuses (manifest.STATUSES) of member records. Rejected and
# other-shard lines are not records of a valid, whole input, so they have no group.
STATUS_GROUP = {"unchanged": UNCHANGED, "kept-original": UNCHANGED, "obfuscated": REWRITTEN,
                "partial": REWRITTEN, "dropped": REMOVED}


def verbatim(original: list, protected: list) -> list[bool]:
    """Per original record: does its exact line appear in `protected`? Counted as a multiset,
    so two identical lines need two copies. Ids are not used: a record without one gets a
    line-number id, and each removed line shifts the ids of every line after it."""
    left = Counter(r.raw for r in protected)
    found = []
    for r in original:
        found.append(left[r.raw] > 0)
        left[r.raw] -= 1
    return found


def member_groups(original, protected, statuses: dict[str, str] | None = None
                  ) -> tuple[list[str], str | None]:
    """One group per member (original order) and a note when `statuses` (the protection's
    status per record id: its manifest, or a Protection in memory) were given but do not
    describe these two datasets; then members are grouped by content: unchanged or changed."""
    same = verbatim(original.records, protected.records)
    note = None
    if statuses is not None:
        groups = [STATUS_GROUP.get(statuses.get(r.id)) for r in original.records]
        trained = sum(g in (UNCHANGED, REWRITTEN) for g in groups)
        if (all(g is not None and (g == UNCHANGED) == v for g, v in zip(groups, same))
                and trained == len(protected.records)):
            return groups, None
        note = ("the protection's per-record statuses (its manifest) do not match the "
                "original and protected data (another input or an edited output), so members "
                "are grouped by content only: unchanged or changed (rewritten or removed)")
    return [UNCHANGED if v else CHANGED for v in same], note


def groups_to_measure(groups: list[str]) -> dict[str, np.ndarray]:
    """Group name -> member mask, for each group present; `in training` when some member was
    removed and others were not (otherwise it is the whole set, or nothing)."""
    g = np.array(groups, dtype=object)
    masks = {name: g == name for name in (UNCHANGED, REWRITTEN, REMOVED, CHANGED)
             if (g == name).any()}
    if REMOVED in masks and not masks[REMOVED].all():
        masks[IN_TRAINING] = (g == UNCHANGED) | (g == REWRITTEN)
    return masks


def group_metrics(scores: dict[str, np.ndarray], labels: np.ndarray, groups: list[str],
                  n_boot: int, seed: int) -> dict[str, dict[str, AttackMetrics]]:
    """{group: {attack: metrics}}: each group's members against all non-members, with the
    audit's own estimator. `labels`: members (1, in `groups` order) then non-members (0)."""
    nonmember = labels == 0
    out = {}
    for name, mask in groups_to_measure(groups).items():
        keep = nonmember.copy()
        keep[labels == 1] = mask
        out[name] = {attack: evaluate(s[keep], labels[keep], n_boot=n_boot, seed=seed)
                     for attack, s in scores.items()}
    return out


def left_in_training(groups: list[str], n_protected: int) -> str | None:
    """The group that shows what removing records hides: `in training` where statuses tell
    it, else the members kept verbatim; None when no member was removed (the whole set is in
    training) or none is left."""
    present = groups_to_measure(groups)
    if IN_TRAINING in present:
        return IN_TRAINING
    removed_some = n_protected < len(groups)
    if removed_some and CHANGED in present and UNCHANGED in present:
        return UNCHANGED
    return None
