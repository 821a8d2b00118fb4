"""The README's worked example of a generation suite with a new metric runs as written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.cli import main
from harness.scoring import metrics

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(kind: str) -> list[str]:
    section = README.read_text(encoding="utf-8").split("### Adding a suite", 1)[1].split("\n### ", 1)[0]
    return re.findall(rf"```{kind}\n(.*?)```", section, re.S)


@pytest.fixture
def keyword_recall():
    (code,) = _blocks("python")
    namespace = vars(metrics).copy()
    exec(code, namespace)  # defines the function and adds the table line, as the README says
    metrics.METRICS["keyword_recall"] = namespace["METRICS"]["keyword_recall"]
    yield namespace["keyword_recall"]
    metrics.METRICS.pop("keyword_recall", None)


def test_readme_generation_suite_with_a_new_metric(tiny_model, tmp_path, keyword_recall):
    (suite,) = _blocks("yaml")
    (tmp_path / "faq.yaml").write_text(suite, encoding="utf-8")
    data = tmp_path / "data"
    data.mkdir()
    rows = [{"instruction": "退货需要几天？", "output": "7天 无理由 退货"}, {"instruction": "运费谁出？", "output": "卖家 包邮"}]
    (data / "faq_test.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "run"
    assert main(["run", "--suite", str(tmp_path / "faq.yaml"), "--data-dir", str(data), "--model", str(tiny_model),
                 "--max-new-tokens", "6", "--output", str(out), "--quiet"]) == 0
    records = [json.loads(x) for x in (out / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["metric"] for r in records] == ["keyword_recall"] * 2
    from harness.suite.items import GenItem

    for rec, row in zip(records, rows, strict=True):
        expected = keyword_recall(GenItem(rec["id"], "faq", "", row["output"], "keyword_recall"), rec["output"])
        assert rec["score"] == expected.score and rec["correct"] == expected.correct
    subject = json.loads((out / "results.json").read_text(encoding="utf-8"))["scores"]["subjects"]["faq"]
    assert subject["metric"] == "keyword_recall" and "extraction_rate" in subject


def test_a_misspelt_metric_is_one_line_before_any_model_loads(tmp_path, capsys):
    (suite,) = _blocks("yaml")
    (tmp_path / "faq.yaml").write_text(suite.replace("keyword_recall", "keyword_recal"), encoding="utf-8")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "faq_test.jsonl").write_text('{"instruction": "q", "output": "a"}\n', encoding="utf-8")
    code = main(["run", "--suite", str(tmp_path / "faq.yaml"), "--data-dir", str(tmp_path / "data"),
                 "--model", str(tmp_path / "no-model"), "--output", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "unknown metric 'keyword_recal'" in err and "\n" not in err
