"""LawBench's task metrics (Fei et al. 2023), as its evaluation/evaluation_functions compute them.

Each function scores one output against one item; averaging over a subject's records gives LawBench's
task score. The gold's label ("刑期:", "罪名:", …) is removed when the suite loads (`gold_prefix` in
suites/law.yaml), so `item.gold` is the content. Where LawBench's evaluation skips an item (death penalty
and life terms in prison-term prediction, 2-2 golds outside its label list) the result says
`skipped`, and the item is left out of the subject's averages instead of counting as 0; a gold with
no number is skipped the same way instead of crashing.

One deliberate difference from LawBench's code, a bug there: "1年6个月" is 18 months (LawBench takes
the first "N个月" it finds: 6). Everything else follows it, including its plain substring matching of
labels and charge names. ROUGE-L (harness/scoring/text_metrics.py) is character level, where LawBench
segments words with jieba.
"""

from __future__ import annotations

import math
import re
from collections import Counter

from harness.scoring.scored import Scored
from harness.suite.items import GenItem

LOG_216 = math.log(216)  # LawBench's normalisation: 18 years (216 months) is the largest distance that scores 0


def skipped(reason: str, extracted: object = None) -> Scored:
    """An item LawBench's evaluation leaves out: not counted in the subject's score or accuracy."""
    return Scored(extracted, False, 0.0, {"skipped": reason})


def arabic(text: str) -> str:
    """Chinese numerals as digits ("一年六个月" → "1年6个月"), with cn2an as LawBench does."""
    try:
        import cn2an

        return cn2an.transform(text, "cn2an")
    except Exception:  # noqa: BLE001 - cn2an raises on some odd inputs; then the digits already there count
        return text


# -- choice (1-2, 3-6, 2-8) -------------------------------------------------------------------
def multi_choice_judge(output: str, options: list[str], gold: str) -> int:
    """LawBench's judge: 1 when the gold option occurs in the output and no other option does."""
    named = {o for o in options if o in output}
    return int(named == {gold})


# -- labels (2-2, 2-3, 2-4, 2-9) and charges (3-3) ------------------------------------------------
def _gold_set(gold: str, separators: str = ";；、") -> set[str]:
    return {x.strip() for x in re.split(f"[{separators}]", gold) if x.strip()}


def label_f1(item: GenItem, output: str) -> Scored:
    """F1 between the task's labels found in the output and the gold labels (LawBench 2-3 WBFL, 2-9 SJJC)."""
    gold = _gold_set(item.gold)
    pred = {lab for lab in item.labels if lab in output}
    f = _f1(pred, gold)
    return Scored("、".join(sorted(pred)) or None, pred == gold, f, {"f1": f})


def label_acc(item: GenItem, output: str) -> Scored:
    """1 when the output names the gold label and no other label (LawBench 2-2 JDZY, 2-4 ZXFL). A gold
    outside the task's labels is skipped, as LawBench skips 2-2's "赔偿"."""
    gold = item.gold.strip()
    pred = {lab for lab in item.labels if lab in output}
    found = "、".join(sorted(pred)) or None
    if item.labels and gold not in item.labels:
        return skipped(f"gold label '{gold}' is not one of the task's labels", found)
    ok = pred == {gold}
    return Scored(found, ok, float(ok))


def set_f1(item: GenItem, output: str) -> Scored:
    """3-3: F1 between the charge names (the subject's `labels`) found in the output and the gold's
    ';'-separated charges. Without labels, the first answer line split on separators is the prediction."""
    gold = _gold_set(item.gold, ";；") if item.labels else _gold_set(item.gold, ";；、,，")
    if item.labels:
        pred = {lab for lab in item.labels if lab in output}
    else:
        m = re.search(r"(?:\[[^\]]*\]|[:：])\s*([^<\n]+)", output)
        line = m.group(1) if m else (output.strip().splitlines() or [""])[0]
        pred = {x.strip().removesuffix("罪") for x in re.split(r"[;；、,，\s]+", line) if x.strip()}
        gold = {g.removesuffix("罪") for g in gold}
    f = _f1(pred, gold)
    return Scored(";".join(sorted(pred)) or None, pred == gold, f, {"f1": f})


def _f1(pred: set[str], gold: set[str]) -> float:
    same = len(pred & gold)
    if not same:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


# -- articles (3-1) ------------------------------------------------------------------------------
def article_numbers(output: str) -> set[int]:
    """LawBench 3-1: the output split at "、", each piece's first number ("第N款" dropped, "第N条" kept,
    Chinese numerals read)."""
    found = set()
    for chunk in output.split("、"):
        chunk = re.sub(r"第(.*?)款", "", chunk.replace("万元", "元"))
        chunk = arabic(re.sub(r"第(.*?)条", r"\1", chunk))
        numbers = re.findall(r"\d+", chunk)
        if numbers:
            found.add(int(numbers[0]))
    return found


def article_f1(item: GenItem, output: str) -> Scored:
    gold = {int(n) for n in re.findall(r"\d+", item.gold)}
    if not gold:
        return skipped("gold names no article number")
    pred = article_numbers(output)
    f = _f1(pred, gold)
    return Scored(",".join(map(str, sorted(pred))) or None, pred == gold, f, {"f1": f})


# -- prison term (3-4, 3-5) and amount (3-7) --------------------------------------------------------
def months(text: str) -> int | None:
    """A prison term in months: "1年6个月" → 18, "十八个月" → 18, "3年" → 36, "12月" → 12; None when none."""
    text = arabic(text)
    both = re.search(r"(\d+)\s*年\s*零?\s*(\d+)\s*个?月", text)
    if both:
        return int(both.group(1)) * 12 + int(both.group(2))
    half = re.search(r"(\d+)\s*年半", text)
    if half:
        return int(half.group(1)) * 12 + 6
    month = re.search(r"(\d+)\s*个?月", text)
    if month:
        return int(month.group(1))
    year = re.search(r"(\d+)\s*年", text)
    return int(year.group(1)) * 12 if year else None


def log_distance(item: GenItem, output: str) -> Scored:
    """LawBench's prison-term score: 1 - |log(pred+1) - log(gold+1)| / log 216, in months; no answer
    scores as the full distance log 216 (0). Not clipped at 0, so the subject mean equals LawBench's."""
    got = months(output)
    if "死刑" in item.gold or "无期" in item.gold:
        return skipped("death penalty or life imprisonment (LawBench skips these)", got)
    want = months(item.gold)
    if want is None:
        return skipped("gold has no term in months", got)
    dist = LOG_216 if got is None else abs(math.log(want + 1) - math.log(got + 1))
    return Scored(got, got == want, 1.0 - dist / LOG_216, {"log_distance": dist})


def amount_acc(item: GenItem, output: str) -> Scored:
    """LawBench 3-7: correct when the gold amount is among the numbers in the output."""
    gold = re.findall(r"\d+\.?\d*", item.gold)
    nums = [float(x) for x in re.findall(r"\d+\.?\d*", output)]
    if not gold:
        return skipped("gold has no amount", nums[0] if nums else None)
    ok = float(gold[0]) in nums
    return Scored(nums[0] if nums else None, ok, float(ok))


# -- reading comprehension (2-5), entities (2-6), trigger words (2-10) --------------------------------
def _cjrc_tokens(text: str) -> list[str]:
    return [ch for ch in text.lower() if ch.isdigit() or ch.isalpha()]


def cjrc_f1(gold: str, pred: str) -> float:
    """CAIL 2021's character F1 (LawBench utils/rc_f1.py CJRCEvaluator.compute_f1)."""
    g, p = _cjrc_tokens(gold), _cjrc_tokens(pred)
    if not g or not p:
        return float(g == p)
    same = sum((Counter(g) & Counter(p)).values())
    if not same:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def rc_f1(item: GenItem, output: str) -> Scored:
    f = cjrc_f1(item.gold, output)
    return Scored(output.strip() or None, f == 1.0, f, {"f1": f})


def _entities_pred(output: str, types: tuple[str, ...]) -> dict[str, str]:
    """LawBench's reading of "类型:实例" from an output (the last mention of a type wins; 无/未提及 do not count)."""
    found: dict[str, str] = {}
    for etype in types:
        for m in re.finditer(re.escape(etype), output):
            end = m.end()
            if end >= len(output) - 2 or output[end] not in ":：":
                continue
            instance = re.split("\n| ", output[end + 1:].strip())[0].strip()
            if instance not in ("无", "未提及"):
                found[etype] = instance
    return found


def ie_f1(item: GenItem, output: str) -> Scored:
    """LawBench 2-6: F1 over entity types, each matched type weighted by its instance's character F1."""
    ref = {}
    for seg in item.gold.split(";") if item.gold.strip() else []:
        etype, sep, instance = seg.partition(":")
        if sep:
            ref[etype] = instance
    hyp = _entities_pred(output, item.labels)
    extracted = ";".join(f"{k}:{v}" for k, v in hyp.items()) or None
    if not ref:
        return Scored(extracted, not hyp, float(not hyp), {"f1": float(not hyp)})
    same = [cjrc_f1(ref[t], v) for t, v in hyp.items() if t in ref]
    prec = sum(same) / len(hyp) if hyp else 0.0
    rec = sum(same) / len(ref)
    f = 2 * prec * rec / (prec + rec + 1e-10)
    return Scored(extracted, f > 1 - 1e-6, f, {"f1": f})


def trigger_f1(item: GenItem, output: str) -> Scored:
    """LawBench 2-10: the i-th predicted word (';'-separated) against the i-th gold word, character F1."""
    answers, preds = item.gold.split(";"), output.split(";")
    same = [cjrc_f1(a, p) for a, p in zip(answers, preds, strict=False)]
    prec, rec = sum(same) / len(preds), sum(same) / len(answers)
    f = 2 * prec * rec / (prec + rec + 1e-10)
    return Scored(output.strip() or None, f > 1 - 1e-6, f, {"f1": f})
