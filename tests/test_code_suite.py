"""Code scoring through `harness score`: reference solutions pass, answers are read the way each prompt
style needs, an exit before the tests fails, and a bad predictions file is refused line by line."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from harness.cli import main
from tests.conftest import shared_data

ADD = {"task_id": "Demo/0", "entry_point": "add",
       "prompt": 'from typing import List\n\n\ndef add(a: int, b: int) -> int:\n    """Add two numbers."""\n',
       "canonical_solution": "    return a + b\n", "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n"}
TOTAL = {"task_id": "Demo/1", "entry_point": "total",
         "prompt": 'from typing import List\n\n\ndef total(xs: List[int]) -> int:\n    """Sum a list."""\n',
         "canonical_solution": "    return sum(xs)\n", "test": "def check(candidate):\n    assert candidate([1, 2]) == 3\n"}
MBPP = {"task_id": 7, "text": "Write a function to add two numbers after doubling the first.",
        "code": "def double(x):\r\n  return 2 * x\r\ndef add_double(a, b):\r\n  return double(a) + b",
        "test_list": ["assert add_double(1, 2) == 4", "assert add_double(0, 5) == 5"], "test_setup_code": ""}

CHAT = '''Here is a solution with a small helper:

```python
# helper: adds one value to another
def _plus(x, y):
    return x + y  # the real work


def add(a: int, b: int) -> int:
    # delegate to the helper
    return _plus(a, b)
```

It works because `_plus` adds its arguments.'''
EARLY_EXIT = "    import sys\n    sys.exit(0)\n"  # leaves before check() has run


def _data(root: Path) -> Path:
    root.mkdir(exist_ok=True)
    (root / "HumanEval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in (ADD, TOTAL)), encoding="utf-8")
    (root / "mbpp.jsonl").write_text(json.dumps(MBPP) + "\n", encoding="utf-8")
    return root


def _score(tmp_path: Path, lines: list[dict], *extra: str, name: str = "run") -> tuple[int, Path]:
    preds = tmp_path / f"{name}.jsonl"
    preds.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    out = tmp_path / name
    data = _data(tmp_path / "data")
    code = main(["score", "--suite", "code", "--data-dir", str(data), "--predictions", str(preds), "--output", str(out),
                 "--quiet", *extra])
    return code, out


def _records(out: Path) -> dict[str, dict]:
    recs = [json.loads(x) for x in (out / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    return {r["id"]: r for r in recs}


def test_outputs_are_read_as_their_prompt_style_needs(tmp_path) -> None:
    base = [
        # a base completion running on into the next function: cut at HumanEval's "\ndef"
        {"subject": "humaneval", "id": "Demo/0", "output": "    return a + b\n\n\ndef unrelated():\n    raise SystemExit(3)\n"},
        {"subject": "humaneval", "id": "Demo/1", "output": TOTAL["canonical_solution"]},
        # MBPP's whole program with a helper defined first: never cut at "\ndef", only at lm-eval's [DONE]
        {"subject": "mbpp", "id": 7, "output": MBPP["code"] + "\n[DONE]\nThis is how it works."},
    ]
    code, out = _score(tmp_path, base, name="base")
    assert code == 0
    recs = _records(out)
    assert all(r["correct"] for r in recs.values()), {k: r.get("values", {}).get("error") for k, r in recs.items()}
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["card"]["protocol"]["method"] == "score"
    assert results["card"]["protocol"]["generation"]["stop"]["mbpp"][0] == "[DONE]"

    chat = [{"subject": "humaneval", "id": "Demo/0", "output": CHAT},
            {"subject": "humaneval", "id": "Demo/1", "output": "```python\ndef total(xs):\n    # sum them\n    return sum(xs)\n```"},
            {"subject": "mbpp", "id": "7", "output": "```python\n" + MBPP["code"] + "\n```"}]
    code, out = _score(tmp_path, chat, "--chat-template", name="chat")
    assert code == 0
    recs = _records(out)
    assert all(r["correct"] for r in recs.values()), {k: r.get("values", {}).get("error") for k, r in recs.items()}
    assert json.loads((out / "results.json").read_text(encoding="utf-8"))["card"]["protocol"]["generation"]["stop"] == {}

    code = main(["compare", str(tmp_path / "base"), str(tmp_path / "chat")])
    assert code == 2  # chat and base prompts are different protocols: refused, not silently compared


def test_an_exit_before_the_tests_fails(tmp_path) -> None:
    lines = [{"subject": "humaneval", "id": "Demo/0", "output": EARLY_EXIT},
             {"subject": "humaneval", "id": "Demo/1", "output": "    import os\n    os._exit(0)\n"},
             {"subject": "mbpp", "id": 7, "output": MBPP["code"] + "\nraise SystemExit(0)\n"}]
    code, out = _score(tmp_path, lines)
    assert code == 0
    assert not any(r["correct"] for r in _records(out).values())


def test_a_bad_predictions_file_is_one_line_per_problem(tmp_path, capsys) -> None:
    lines = [{"subject": "humaneval", "id": "Demo/0", "output": "x"},
             {"subject": "humaneval", "id": "Demo/0", "output": "y"},
             {"subject": "humaneval", "id": "Demo/9", "output": "z"},
             {"subject": "nope", "id": "1", "output": "z"}]
    code, out = _score(tmp_path, lines)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert any("line 2: duplicate of line 1" in x for x in err)
    assert any("line 3: unknown id 'Demo/9'" in x for x in err)
    assert any("line 4: subject 'nope'" in x for x in err)
    assert any("missing" in x and "Demo/1" in x for x in err) and any("missing" in x and "'7'" in x for x in err)
    assert err[-1].startswith("harness: error:") and "5 problem(s)" in err[-1]
    assert not (out / "records.jsonl").exists()


def _reference(tmp_path: Path, subject: str, rows: list[dict], key: str, answer: str) -> dict:
    lines = [{"subject": subject, "id": r[key], "output": r[answer]} for r in rows]
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    assert main(["score", "--suite", "code", "--data-dir", str(tmp_path / "data"), "--subjects", subject,
                 "--predictions", str(preds), "--output", str(tmp_path / "run"), "--quiet"]) == 0
    return json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))["scores"]["subjects"][subject]


def test_humaneval_canonical_solutions_all_pass(tmp_path) -> None:
    source = shared_data("humaneval", "data", "HumanEval.jsonl.gz")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "HumanEval.jsonl.gz").write_bytes(source.read_bytes())
    rows = [json.loads(x) for x in gzip.decompress(source.read_bytes()).decode().splitlines() if x.strip()]
    scores = _reference(tmp_path, "humaneval", rows, "task_id", "canonical_solution")
    assert (scores["n"], scores["correct"]) == (164, 164)


def test_mbpp_reference_code_all_pass(tmp_path) -> None:
    source = shared_data("mbpp", "mbpp.jsonl")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mbpp.jsonl").write_bytes(source.read_bytes())
    rows = [json.loads(x) for x in source.read_text(encoding="utf-8").splitlines() if x.strip()]
    scores = _reference(tmp_path, "mbpp", rows, "task_id", "code")
    assert (scores["n"], scores["correct"]) == (974, 974)


def test_without_isolation_code_suites_refuse_unless_unsafe_exec(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no bubblewrap on PATH
    data = _data(tmp_path / "data")
    code = main(["run", "--suite", "code", "--data-dir", str(data), "--model", str(tmp_path / "no-such-model"),
                 "--output", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "bubblewrap" in err and "--unsafe-exec" in err and "\n" not in err  # before the model
    lines = [{"subject": "humaneval", "id": "Demo/0", "output": ADD["canonical_solution"]},
             {"subject": "humaneval", "id": "Demo/1", "output": TOTAL["canonical_solution"]},
             {"subject": "mbpp", "id": 7, "output": MBPP["code"]}]
    code, out = _score(tmp_path, lines, "--unsafe-exec")
    assert code == 0 and all(r["correct"] for r in _records(out).values())
    sandbox = json.loads((out / "results.json").read_text(encoding="utf-8"))["card"]["protocol"]["sandbox"]
    assert sandbox["unsafe"] is True and sandbox["unsafe_exec_allowed"] is True
