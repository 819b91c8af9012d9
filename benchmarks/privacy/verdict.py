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
    atk = attacks_of(res)
    s = strongest(atk)
    dp = ppl_change(res, ref)
    return (s is not None and dp is not None and abs(atk[s]["auc"] - 0.5) <= TARGET_AUC_MARGIN
            and dp <= TARGET_PPL_RISE)


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
        return {"reached": True, "settings": hits,
                "text": f"reached by {', '.join(hits)}"}
    rows = []  # (AUC excess over the band, perplexity rise, setting, strongest AUC)
    for k, v in res.items():
        a = attacks_of(v)
        s = strongest(a)
        dp = ppl_change(v, ref)
        if k != "no-defense" and s is not None and dp is not None:
            rows.append((max(abs(a[s]["auc"] - 0.5) - TARGET_AUC_MARGIN, 0.0), dp, k, a[s]["auc"]))
    if not rows:
        return {"reached": False, "text": "not reached (no defended setting measured)"}
    within = [r for r in rows if r[1] <= TARGET_PPL_RISE]
    if within:  # the most private setting that keeps utility: how far its AUC is from the band
        g, dp, k, auc = min(within)
        text = (f"not reached; closest within the +{TARGET_PPL_RISE * 100:.0f}% perplexity "
                f"budget: {k} (strongest AUC {auc:.3f}, {g:.3f} above the "
                f"0.5±{TARGET_AUC_MARGIN} band; perplexity {dp * 100:+.1f}%)")
    else:  # nothing keeps utility: the smallest perplexity rise
        dp, g, k, auc = min((r[1], r[0], r[2], r[3]) for r in rows)
        text = (f"not reached; no defended setting stays within +{TARGET_PPL_RISE * 100:.0f}% "
                f"perplexity; smallest rise: {k} ({dp * 100:+.1f}%, strongest AUC {auc:.3f})")
    private = [r[2] for r in rows if r[0] == 0.0]
    if private:
        text += f"; AUC band reached only at a higher perplexity cost by {', '.join(private)}"
    return {"reached": False, "closest": k, "auc_excess": round(g, 4),
            "ppl_change": round(dp, 4), "text": text}
