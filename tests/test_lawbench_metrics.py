"""LawBench metrics as LawBench's own evaluation computes them, through `harness score` on a LawBench layout.

EXPECTED holds, for outputs written in the style of LawBench's published predictions, the per-item score
that LawBench's evaluation/evaluation_functions (open-compass/LawBench, commit e30981b) gives — computed by
running those functions on exactly these (gold, output) pairs. For the single-choice tasks that is its
letter-count judge, which harness keeps beside its own answer reading (`values.lawbench`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from harness.cli import main

LABELS = {
    "2-2": "类别包括:诉讼主体、租金情况、利息、本金争议、责任认定、责任划分、损失认定及处理、原审判决是否适当、合同效力、财产分割、"
           "责任承担、鉴定结论采信问题、诉讼时效、违约、合同解除、肇事逃逸。",
    "2-3": "标签包括：婚后有子女、限制行为能力子女抚养、有夫妻共同财产、支付抚养费、不动产分割、婚后分局、二次起诉离婚、按月给付抚养费、"
           "准予离婚、有夫妻共同债务、婚前个人财产、法定离婚、不履行家庭义务、存在非婚生子、适当帮助、不履行离婚协议、损害赔偿、"
           "感情不和分居满二年、子女随非抚养权人生活、婚后个人财产。",
    "2-4": "类别包括：婚姻家庭、劳动纠纷、交通事故、债权债务、刑事辩护、合同纠纷、房产纠纷、侵权、公司法、医疗纠纷、拆迁安置、行政诉讼、"
           "建设工程、知识产权、综合咨询、人身损害、涉外法律、海事海商、消费权益、抵押担保。",
    "2-6": "实体类型包括:犯罪嫌疑人、受害人、被盗货币、物品价值、盗窃获利、被盗物品、作案工具、时间、地点、组织机构。",
    "2-9": "事件包括：支付/给付，欺骗，搜查/扣押，要求/请求，卖出，买入，获利，拘捕，鉴定，同意/接受，供述，联络，帮助/救助，租用/借用，"
           "受伤，伪造，卖淫，伤害人身，赔偿，归还/偿还。",
}

# (task, gold as in LawBench's data, output, LawBench's score for it)
EXPECTED = [
    ("1-2", "正确答案：B。", "[正确答案]B<eoa>", 1.0),
    ("1-2", "正确答案：B。", "选项A说法错误，选项B正确。[正确答案]B<eoa>", 0.0),
    ("1-2", "正确答案：D。", "我认为答案是C", 0.0),
    ("3-6", "正确答案:C。", "[正确答案]C<eoa>", 1.0),
    ("3-6", "正确答案:A。", "B和C都不对，A对", 0.0),
    ("2-8", "[正确答案]E<eoa>", "[正确答案]E<eoa>", 1.0),
    ("2-8", "[正确答案]C<eoa>", "C", 1.0),
    ("2-2", "争议焦点类别：责任认定。", "[争议焦点]责任认定<eoa>", 1.0),
    ("2-2", "争议焦点类别：责任认定。", "[争议焦点]责任认定、违约<eoa>", 0.0),
    ("2-3", "类别:婚后有子女、限制行为能力子女抚养。", "[类别]婚后有子女<eoa>", 2 / 3),
    ("2-3", "类别:不动产分割、有夫妻共同财产。", "[类别]准予离婚、不动产分割、有夫妻共同财产<eoa>", 0.8),
    ("2-4", "婚姻家庭", "[类别]婚姻家庭<eoa>", 1.0),
    ("2-4", "婚姻家庭", "婚姻家庭或债权债务", 0.0),
    ("2-9", "帮助/救助;赔偿", "帮助/救助；赔偿", 1.0),
    ("2-9", "支付/给付;卖出", "支付/给付", 2 / 3),
    ("2-10", "争议;占用;偷;砸毁", "争议;占用;偷", 0.857143),
    ("2-10", "查扣;退给", "查扣;退还", 0.75),
    ("2-5", "回答:21万元借款,律师费4000元", "21万元借款", 0.6),
    ("2-5", "回答:二轮摩托车,教练车", "二轮摩托车,教练车", 1.0),
    ("2-6", "犯罪嫌疑人:黄某某;受害人:戚某某;物品价值:人民币352元", "犯罪嫌疑人:黄某某 受害人:戚某 物品价值:人民币352元", 0.933333),
    ("2-6", "受害人:戚某某", "受害人：戚某某\n犯罪嫌疑人：无", 1.0),
    ("2-6", "", "未提及", 1.0),
    ("3-1", "法条:刑法第264条", "[法条]刑法第二百六十四条<eoa>", 1.0),
    ("3-1", "法条:刑法第234条", "[法条]刑法第234条、刑法第67条第一款<eoa>", 1.0),
    ("3-3", "罪名:强奸;故意伤害", "[罪名]强奸;故意伤害<eoa>", 1.0),
    ("3-3", "罪名:走私、贩卖、运输、制造毒品", "[罪名]走私、贩卖、运输、制造毒品<eoa>", 1.0),
    ("3-3", "罪名:盗窃", "[罪名]盗窃;诈骗<eoa>", 2 / 3),
    ("3-4", "刑期:144个月", "[刑期]十二年<eoa>", 1.0),
    ("3-4", "刑期:21个月", "[刑期]21月<eoa>", 1.0),
    ("3-4", "刑期:4个月", "不清楚", 0.0),
    ("3-7", "上文涉及到的犯罪金额:8500.0元。", "[金额]8500元<eoa>", 1.0),
    ("3-7", "上文涉及到的犯罪金额:3900.0元。", "[金额]3,900元<eoa>", 0.0),
]


def _layout(root: Path, rows: list[tuple[str, str, str]]) -> tuple[Path, Path]:
    """A LawBench data folder with one record per (task, gold) and the predictions file for the outputs."""
    by_task: dict[str, list[dict]] = {}
    preds = []
    for task, gold, output in rows:
        records = by_task.setdefault(task, [])
        instruction = f"请回答。{LABELS.get(task, '')}将答案写在[答案]和<eoa>之间。"
        preds.append({"subject": task, "id": len(records), "output": output})
        records.append({"instruction": instruction, "question": f"问题{len(records)}", "answer": gold})
    folder = root / "lawbench" / "data" / "zero_shot"
    folder.mkdir(parents=True)
    for task, records in by_task.items():
        (folder / f"{task}.json").write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    path = root / "preds.jsonl"
    path.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in preds), encoding="utf-8")
    return root / "lawbench", path


def _score(root: Path, rows: list[tuple[str, str, str]]) -> tuple[list[dict], dict]:
    data, preds = _layout(root, rows)
    out = root / "run"
    assert main(["score", "--suite", "law", "--data-dir", str(data), "--predictions", str(preds), "--output", str(out),
                 "--quiet"]) == 0
    records = [json.loads(x) for x in (out / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    return records, json.loads((out / "results.json").read_text(encoding="utf-8"))


def test_each_task_scores_as_lawbench_evaluation_does(tmp_path) -> None:
    records, results = _score(tmp_path, [(t, g, o) for t, g, o, _ in EXPECTED])
    by_id = {(r["subject"], r["id"].rsplit("/", 1)[1]): r for r in records}
    counters: dict[str, int] = {}
    for task, _, output, want in EXPECTED:
        index = counters.get(task, 0)
        counters[task] = index + 1
        rec = by_id[(task, str(index))]
        got = rec["values"]["lawbench"] if rec["metric"] == "lawbench_choice" else rec["score"]
        assert math.isclose(got, want, abs_tol=1e-6), (task, output, got, want)
    # harness's own reading of a choice answer stands beside LawBench's letter count
    second = by_id[("1-2", "1")]
    assert second["extracted"] == "B" and second["correct"] and second["values"]["lawbench"] == 0
    assert results["scores"]["subjects"]["1-2"]["lawbench_acc"] == 1 / 3
    assert results["card"]["protocol"]["method"] == "score"


def test_skipped_items_leave_the_average_and_terms_read_years_and_months(tmp_path) -> None:
    rows = [
        ("3-4", "刑期:死刑", "[刑期]死刑<eoa>"),  # LawBench skips death penalty and life terms
        ("3-4", "刑期:无期", "[刑期]无期徒刑<eoa>"),
        ("3-4", "刑期:18个月", "[刑期]一年六个月<eoa>"),
        ("3-4", "刑期:18个月", "判处有期徒刑1年6个月"),
        ("3-4", "刑期:6个月", "不知道"),
        ("3-7", "上文涉及到的犯罪金额:不详。", "[金额]100元<eoa>"),  # a gold with no number: skipped, no crash
        ("3-7", "上文涉及到的犯罪金额:100.0元。", "[金额]100元<eoa>"),
        ("2-2", "争议焦点类别：赔偿。", "[争议焦点]赔偿<eoa>"),  # outside 2-2's labels: LawBench skips it
        ("2-2", "争议焦点类别：利息。", "[争议焦点]利息<eoa>"),
    ]
    records, results = _score(tmp_path, rows)
    subjects = results["scores"]["subjects"]
    term = subjects["3-4"]
    assert term["n"] == 3 and term["skipped"] == 2
    assert math.isclose(term["score"], (1.0 + 1.0 + 0.0) / 3)  # "1年6个月" is 18 months, both spellings
    assert term["acc"] == 2 / 3
    assert subjects["3-7"]["n"] == 1 and subjects["3-7"]["skipped"] == 1 and subjects["3-7"]["acc"] == 1.0
    assert subjects["2-2"]["n"] == 1 and subjects["2-2"]["skipped"] == 1 and subjects["2-2"]["acc"] == 1.0
    assert results["scores"]["overall"]["micro"]["skipped"] == 4 and results["scores"]["overall"]["micro"]["n"] == 5
    skipped = [r for r in records if r.get("values", {}).get("skipped")]
    assert len(skipped) == 4 and all(r["correct"] is False for r in skipped)
    assert {r["extracted"] for r in records if r["subject"] == "3-4" and not r.get("values", {}).get("skipped")} == {18, None}
