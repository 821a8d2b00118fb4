"""Ours against the published number: the first question anyone asks of a score is why it differs from the
model card. A number beside a number does not answer it; the protocol differences do (split, shots,
base or chat weights and chat template, scoring method, micro or macro average, how much of the suite
was run), so each comparison lists them, with what each one changes.

The published scores come from the catalogue (`published:` of a model entry, harness/registry/models.yaml),
each with its source URL; `None` there means the source does not say, and we say so rather than guess.
"""

from __future__ import annotations

from typing import Any

from harness.render.site_data import Entry, Model

METHODS = {
    "letter": "log-probability of the answer letter after the prompt (A-D compared; the model never writes)",
    "choice": "log-likelihood of each option's continuation, as lm-eval's multiple_choice scores it",
    "generate": "the model writes an answer and a letter is read from the text",
}


def _release(m: Model) -> str | None:
    """Which weights our runs used: the catalogue's chat weights (KEY:chat, or a model with only chat
    weights) or its base weights."""
    if m.registry is None:
        return None
    hf = m.registry.get("hf") or {}
    if m.name.endswith(":chat") or (not hf.get("base") and hf.get("chat")):
        return "chat"
    return "base"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}"


def differences(e: Entry, m: Model, pub: dict[str, Any], suite_subjects: int | None) -> list[dict[str, str]]:
    """The protocol differences between our run and the published number, each with what it changes."""
    proto, scores = e.protocol, e.run.results["scores"]["overall"]
    rows: list[dict[str, str]] = []

    def add(aspect: str, ours: Any, theirs: Any, why: str, differs: bool | None = None) -> None:
        if theirs is None:
            status = "unknown"
        else:
            status = "differs" if (str(ours) != str(theirs) if differs is None else differs) else "same"
        rows.append({"aspect": aspect, "ours": str(ours), "theirs": "not stated" if theirs is None else str(theirs),
                     "why": why, "status": status})

    split = proto.get("split")
    add("split", f"{split} ({scores['micro']['n']} questions)", pub.get("split"),
        "different questions; the C-Eval leaderboard scores the hidden test split, model cards often the public val split"
        if e.suite == "ceval" else "different questions", differs=pub.get("split") not in (None, split))
    shots = proto.get("shots")
    add("shots", shots, pub.get("shots"), "solved examples before the question change scores, most of all for base models")
    release, chat = _release(m), bool(proto.get("chat_template"))
    ours_release = f"{release or 'unknown'} weights, {'with' if chat else 'without'} chat template"
    why = "chat and base releases are different weights; a chat model on a raw prompt (or a base model in a chat template) scores differently"
    add("weights · chat template", ours_release, f"{pub['release']} release" if pub.get("release") else None, why,
        differs=bool(pub.get("release") and release and pub["release"] != release))
    add("method", f"{proto.get('method')}: {METHODS.get(str(proto.get('method')), '')}".rstrip(": "), pub.get("method"),
        "how an answer is read changes scores, most for chat models that do not start with the letter",
        differs=pub.get("method") is not None and str(pub.get("method")) != str(proto.get("method")))
    micro, macro = scores["micro"]["acc"], scores["macro"]["acc"]
    apart = abs(100 * (micro - macro))
    add("average", f"micro {_pct(micro)} (every question weighs the same) · macro {_pct(macro)} (mean of subjects)",
        None, f"our two averages differ by {apart:.1f} points; a source that does not say which it reports can be either"
        if apart >= 0.05 else "our two averages agree, so which one the source reports cannot explain a gap")
    if apart < 0.05:
        rows[-1]["status"] = "same"
    covered = scores["macro"].get("subjects")
    partial = proto.get("limit") or (suite_subjects and covered and covered < suite_subjects)
    if partial:
        what = (f"first {proto['limit']} questions per subject" if proto.get("limit") else "") + (
            f"{', ' if proto.get('limit') else ''}{covered} of {suite_subjects} subjects" if suite_subjects and covered
            and covered < suite_subjects else "")
        add("coverage", what, "whole benchmark", "a part of the benchmark is another (smaller, noisier) test",
            differs=True)
    return rows


def alignment(m: Model, suite_subjects: dict[str, int]) -> list[dict[str, Any]]:
    """For each of the model's runs on a benchmark with a published score: both numbers, the gap, whether
    the published number lies inside our 95% interval, and the protocol differences."""
    published = (m.registry or {}).get("published") or {}
    out = []
    for e in sorted(m.entries, key=lambda x: (x.suite, x.protocol_id)):
        pub = published.get(e.suite)
        if not pub:
            continue
        micro = e.run.results["scores"]["overall"]["micro"]
        ours = 100 * micro["acc"]
        low, high = (100 * x for x in micro["ci95"])
        diffs = differences(e, m, pub, suite_subjects.get(e.suite))
        out.append({
            "suite": e.suite, "protocol_id": e.protocol_id, "ours": ours, "ci95": (low, high),
            "published": pub["score"], "gap": ours - pub["score"], "inside": low <= pub["score"] <= high,
            "source": pub.get("source"), "note": pub.get("note"), "differences": diffs,
            "n_differ": sum(d["status"] == "differs" for d in diffs),
            "n_unknown": sum(d["status"] == "unknown" for d in diffs),
        })
    return out
