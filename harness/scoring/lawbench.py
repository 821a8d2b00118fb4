"""LawBench's task metrics (Fei et al. 2023): prison terms, amounts, articles, charges, labels.

Golds start with a label ("答案:", "回答:", "罪名:"), which is stripped before comparing content.
"""

from __future__ import annotations

import math
import re

from harness.scoring import text_metrics as tm
from harness.scoring.scored import Scored
from harness.suite.items import GenItem


def strip_gold(gold: str) -> str:
    """The content of a LawBench gold, without its leading label and final full stop."""
    return re.sub(r"^[^:：]{0,12}[:：]", "", gold.strip()).rstrip("。").strip()


def months(text: str) -> int | None:
    m = re.search(r"(\d+)\s*个?月", text)
    if m:
        return int(m.group(1))
    y = re.search(r"(\d+)\s*年", text)
    return int(y.group(1)) * 12 if y else None


def articles(text: str) -> set[str]:
    """Article numbers: "第264条", "第234、275条" → {"264"} / {"234", "275"}."""
    return {n for run in re.findall(r"第\s*([\d、,，\s]+?)\s*条", text) for n in re.findall(r"\d+", run)}


def items_of(text: str) -> set[str]:
    return {x.strip().removesuffix("罪") for x in re.split(r"[;；、,，\s]+", text) if x.strip()}


def label_f1(item: GenItem, output: str, exact: bool = False) -> Scored:
    """F1 between the task's labels named in the output and in the gold (exact: 1 only for the same set)."""
    gold = strip_gold(item.gold)
    labels = sorted(item.labels, key=len, reverse=True)
    gold_set = {lab for lab in labels if lab in gold} or {gold}
    pred = {lab for lab in labels if lab in output}
    pred = {p for p in pred if not any(p != q and p in q for q in pred)}
    f = tm.set_f1(pred, gold_set)
    ok = pred == gold_set
    return Scored("、".join(sorted(pred)) or None, ok, float(ok) if exact else f, {"f1": f})


def label_acc(item: GenItem, output: str) -> Scored:
    return label_f1(item, output, exact=True)


def article_f1(item: GenItem, output: str) -> Scored:
    gold_set, pred = articles(strip_gold(item.gold)), articles(output)
    f = tm.set_f1(pred, gold_set)
    return Scored(",".join(sorted(pred)) or None, bool(pred) and pred == gold_set, f, {"f1": f})


def set_f1(item: GenItem, output: str) -> Scored:
    gold_set = items_of(strip_gold(item.gold))
    m = re.search(r"(?:\[[^\]]*\]|[:：])\s*([^<\n]+)", output)
    pred = items_of(m.group(1) if m else output.strip().splitlines()[0] if output.strip() else "")
    f = tm.set_f1(pred, gold_set)
    return Scored(";".join(sorted(pred)) or None, pred == gold_set, f, {"f1": f})


def log_distance(item: GenItem, output: str) -> Scored:
    """LawBench's prison-term score 1 - |log(pred+1) - log(gold+1)| / log(216), in months."""
    want, got = months(strip_gold(item.gold)), months(output)
    if want is None:  # death penalty / life imprisonment: LawBench skips these
        return Scored(got, False, 0.0, {"skipped": True})
    dist = math.log(216) if got is None else abs(math.log(want + 1) - math.log(got + 1))
    return Scored(got, got == want, max(0.0, 1.0 - dist / math.log(216)), {"log_distance": dist})


def amount_acc(item: GenItem, output: str) -> Scored:
    """Correct when the gold amount appears among the output's numbers."""
    want = float(re.findall(r"\d+\.?\d*", strip_gold(item.gold))[0])
    nums = [float(x) for x in re.findall(r"\d+\.?\d*", output)]
    ok = want in nums
    return Scored(nums[0] if nums else None, ok, float(ok))
