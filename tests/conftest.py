"""Shared fixtures: a tiny random-weight Qwen2 model and small data folders in each release layout.

Everything is written by the tests themselves; nothing is downloaded (HF offline variables are set).
"""

from __future__ import annotations

import csv
import os
import random
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
REPO = Path(__file__).resolve().parents[1]


def shared_data(*parts: str) -> Path:
    """A folder of ../shared/data, or skip the test when it is absent (a user's clone has none)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not present (real benchmark data lives beside the checkout only)")
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from harness.demo.tiny import build_tiny_model, suite_texts

    out = tmp_path_factory.mktemp("models") / "tiny"
    texts = suite_texts(REPO / "suites" / "sample") + [FIXTURE_TEXT]
    return build_tiny_model(out, texts, vocab_size=1500, seed=1)


FIXTURE_TEXT = "以下是中国关于考试的单项选择题，请选出其中的正确答案。答案： The following are multiple choice questions Answer:"

SUBJECT_QUESTIONS = {
    "computer_network": ["计算机网络中，TCP属于哪一层？", "IP地址的长度是多少位？", "HTTP默认端口是____。", "以太网使用的介质访问控制方法是____。"],
    "law": ["我国的根本大法是____。", "民事行为能力的年龄界限是____。", "合同成立的时间一般是____。"],
    "high_school_physics": ["光在真空中的速度约为____。", "牛顿第一定律又称为____。", "电阻的国际单位是____。", "动能的表达式是____。", "重力加速度约为____。"],
}


def _rows(subject: str, n: int, seed: int) -> list[list[str]]:
    rng = random.Random(f"{subject}-{seed}")
    base = SUBJECT_QUESTIONS[subject]
    rows = []
    for i in range(n):
        q = base[i % len(base)] + ("" if i < len(base) else f"（第{i}题）")
        opts = [f"选项{rng.randint(1, 99)}" for _ in range(4)]
        rows.append([q, *opts, "ABCD"[rng.randrange(4)]])
    return rows


def write_ceval_layout(root: Path, n_val: int = 6, n_dev: int = 5) -> Path:
    """C-Eval release layout: {dev,val}/<subject>_<split>.csv with header id,question,A,B,C,D,answer[,explanation]."""
    for split, n in (("dev", n_dev), ("val", n_val)):
        (root / split).mkdir(parents=True, exist_ok=True)
        for subject in SUBJECT_QUESTIONS:
            with open(root / split / f"{subject}_{split}.csv", "w", encoding="utf-8", newline="") as fh:
                w = csv.writer(fh)
                header = ["id", "question", "A", "B", "C", "D", "answer"] + (["explanation"] if split == "dev" else [])
                w.writerow(header)
                for i, row in enumerate(_rows(subject, n, seed=len(split))):
                    w.writerow([i, *row] + (["解析"] if split == "dev" else []))
    return root


@pytest.fixture
def ceval_dir(tmp_path) -> Path:
    return write_ceval_layout(tmp_path / "ceval")
