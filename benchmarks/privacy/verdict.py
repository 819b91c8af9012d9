"""Judgements computed from the measurements only: the strongest attack of a setting, its
perplexity cost, whether it meets the target, and the best SOFT setting of a domain."""
from __future__ import annotations

from .attacks import strongest

TARGET_AUC_MARGIN = 0.05  # the target (README): strongest AUC within 0.05 of 0.5 ...
TARGET_PPL_RISE = 0.10  # ... with validation perplexity at most +10% over no-defense


def attacks_of(res: dict) -> dict:
    """Every attack measured for a setting: the full suite where it ran, else the cheap set."""
    out = dict(res.get("attacks", {}))
    out.update(res.get("full", {}).get("attacks", {}))
    return out


def ppl_change(res: dict, ref: dict | None) -> float | None:
    if not ref or res.get("perplexity") is None or ref.get("perplexity") is None:
        return None
    return res["perplexity"] / ref["perplexity"] - 1


def meets_target(res: dict, ref: dict | None) -> bool:
    dp = ppl_change(res, ref)
    return meets_band(res) and dp is not None and dp <= TARGET_PPL_RISE


def best_soft(results: dict) -> str | None:
    """Among soft-* settings: closest strongest AUC to 0.5 within the perplexity budget, else the
    lowest strongest AUC. Judged on the cheap attacks, which every setting has: counting the
    full suite would penalise the setting it ran on, so the pick would move to another setting
    (and a rerun would buy it a full suite too) instead of staying put."""
    ref = results.get("no-defense")
    soft = {k: v for k, v in results.items() if v.get("kind") == "soft" and v.get("attacks")}
    if not soft:
        return None

    def auc(v):  # the strongest attack's leakage, 0.5 + |AUC - 0.5|
        from sanitize.auditing.metrics import leakage

        a = v["attacks"]
        return leakage(a[strongest(a)]["auc"])

    within = {k: v for k, v in soft.items()
              if (ppl_change(v, ref) is not None and ppl_change(v, ref) <= TARGET_PPL_RISE)}
    if within:
        return min(within, key=lambda k: abs(auc(within[k]) - 0.5))
    return min(soft, key=lambda k: auc(soft[k]))


def target_verdict(dom: dict) -> dict:
    res = dom["settings"]
    ref = res.get("no-defense")
    if ref is None:
        return {"reached": None, "text": "not judged: no-defense was not run"}
    hits = [k for k, v in res.items() if k != "no-defense" and meets_target(v, ref)]
    if hits:
        cheap = [k for k in hits if not res[k].get("full")]
        return {"reached": True, "settings": hits,
                "text": f"reached by {', '.join(hits)}"
                        + (f" ({', '.join(cheap)}: cheap attacks only, a lower bound)"
                           if cheap else "")}
    # Settings are ranked on the cheap attacks, which every setting has: ranking on all that
    # was measured would favour the settings that got fewer attacks (the full suite runs on
    # no-defense and the best SOFT setting only, and its ensemble is often the strongest).
    # The chosen setting is then reported with everything measured on it.
    rows = []  # (cheap AUC excess over the band, perplexity rise, setting)
    for k, v in res.items():
        s = strongest(v.get("attacks", {}))
        dp = ppl_change(v, ref)
        if k != "no-defense" and s is not None and dp is not None:
            rows.append((_excess(v["attacks"][s]["auc"]), dp, k))
    if not rows:
        return {"reached": False, "text": "not reached (no defended setting measured)"}
    within = [r for r in rows if r[1] <= TARGET_PPL_RISE]
    # The most private setting that keeps utility, else the smallest perplexity rise.
    _, dp, k = min(within) if within else min(rows, key=lambda r: (r[1], r[0], r[2]))
    auc = _strongest_auc(res[k])
    what = "with the full suite" if res[k].get("full") else "on the cheap attacks"
    g = _excess(auc)
    if within:  # how far its AUC is from the band
        text = (f"not reached; closest within the +{TARGET_PPL_RISE * 100:.0f}% perplexity "
                f"budget: {k} (strongest AUC {auc:.3f} {what}, {g:.3f} above the "
                f"0.5±{TARGET_AUC_MARGIN} band; perplexity {dp * 100:+.1f}%)")
    else:
        text = (f"not reached; no defended setting stays within +{TARGET_PPL_RISE * 100:.0f}% "
                f"perplexity; smallest rise: {k} ({dp * 100:+.1f}%, strongest AUC {auc:.3f} "
                f"{what})")
    left = left_in_training_auc(res[k])
    if left is not None:
        text += f"; strongest AUC on the members it left in training {left:.3f}"
    private = [r[2] for r in rows if meets_band(res[r[2]])]
    if private:
        text += f"; AUC band reached only at a higher perplexity cost by {', '.join(private)}"
    return {"reached": False, "closest": k, "auc_excess": round(g, 4),
            "ppl_change": round(dp, 4), "text": text}


def _excess(auc: float) -> float:
    """How far an AUC lies outside the 0.5±margin band, either way."""
    return max(abs(auc - 0.5) - TARGET_AUC_MARGIN, 0.0)


def meets_band(res: dict) -> bool:
    """The strongest of every attack measured on the setting is within the band, on all
    members and, where members were removed and that was measured, on those left in
    training: removing records lowers the whole-set AUC without protecting the rest."""
    auc, left = _strongest_auc(res), left_in_training_auc(res)
    return (auc is not None and _excess(auc) == 0.0
            and (left is None or _excess(left) == 0.0))


def by_protection_of(res: dict) -> dict | None:
    """A result's attacks per group of members (attacks.groups_json): the full suite's where
    it ran, like `attacks_of`; None where no member was removed or the result predates them."""
    return (res.get("full") or {}).get("by_protection") or res.get("by_protection")


def left_in_training_auc(res: dict) -> float | None:
    """The strongest attack's AUC on the members left in training (`by_protection_of`)."""
    a = (by_protection_of(res) or {}).get("groups", {}).get("in training")
    return None if not a else a[strongest(a)]["auc"]


def _strongest_auc(res: dict) -> float | None:
    """The strongest attack's AUC among everything measured on a setting (None: nothing)."""
    a = attacks_of(res)
    s = strongest(a)
    return None if s is None else a[s]["auc"]
