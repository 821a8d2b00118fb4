"""The smaller guarantees of issue #16, each through the CLI: CRLF data gives the same protocol as LF
data, an unwritable --output is one line, `leaderboard --out` neither clobbers a foreign folder nor
keeps stale pages, and a saved baseline keeps the evidence its records are checked against."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from fault_cases import RUN_ARGS

from harness.cli import main


def _write_ceval(root: Path, newline: str) -> Path:
    """One subject in C-Eval's layout, a question spanning two lines, every line ending `newline`."""
    (root / "val").mkdir(parents=True)
    rows = [["id", "question", "A", "B", "C", "D", "answer"],
            ["0", "下列说法：\n甲、乙两者哪个正确？", "甲", "乙", "都对", "都错", "A"],
            ["1", "计算机网络中，TCP属于哪一层？", "传输层", "网络层", "应用层", "物理层", "A"]]
    with open(root / "val" / "computer_network_val.csv", "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    path = root / "val" / "computer_network_val.csv"
    path.write_bytes(path.read_bytes().replace(b"\n", newline.encode()))  # as a Windows checkout converts it
    return root


def test_crlf_data_gives_the_same_protocol(tiny_model, tmp_path):
    results, records = {}, {}
    for name, newline in (("lf", "\n"), ("crlf", "\r\n")):
        data = _write_ceval(tmp_path / f"data-{name}", newline)
        out = tmp_path / name
        assert main(["run", "--suite", "ceval", "--model", str(tiny_model), "--data-dir", str(data), "--subjects",
                     "computer_network", "--shots", "0", "--output", str(out), "--quiet"]) == 0
        results[name] = json.loads((out / "results.json").read_text(encoding="utf-8"))
        records[name] = (out / "records.jsonl").read_text(encoding="utf-8")
    assert b"\r\n" in (tmp_path / "data-crlf" / "val" / "computer_network_val.csv").read_bytes()
    for field in ("data_hash", "prompt_hash"):
        assert results["lf"]["card"]["protocol"][field] == results["crlf"]["card"]["protocol"][field]
    assert results["lf"]["card"]["protocol_id"] == results["crlf"]["card"]["protocol_id"]
    assert records["lf"] == records["crlf"] and "\\r" not in records["crlf"]


def test_unwritable_output_folder_is_one_line(tmp_path, capsys):
    """An existing folder the user cannot write in: one line, exit 2, before any model is loaded."""
    out = tmp_path / "locked"
    out.mkdir()
    out.chmod(0o555)
    try:
        if os.geteuid() != 0:
            code = main([*RUN_ARGS, "--model", "no-such-model-needed", "--output", str(out)])
            err = capsys.readouterr().err
        else:  # root writes anywhere: run the command without the capabilities that let it
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                pytest.skip("running as root, and setpriv (util-linux) is not there to drop root's file capabilities")
            proc = subprocess.run([setpriv, "--bounding-set=-dac_override,-dac_read_search", sys.executable, "-m",
                                   "harness.cli", *RUN_ARGS, "--model", "no-such-model-needed", "--output", str(out)],
                                  capture_output=True, text=True, cwd=REPO)
            code, err = proc.returncode, proc.stderr
    finally:
        out.chmod(0o755)
    assert code == 2, err
    assert "Traceback" not in err and err.strip().count("\n") == 0
    assert f"cannot write in output folder {out}" in err and "Permission denied" in err


def _site_runs(tiny_model: Path, root: Path) -> list[Path]:
    from site_fixtures import derive_run, real_run

    base = real_run(tiny_model, root / "tiny", "--subjects", "arithmetic")
    return [base, derive_run(base, root / "other", "other-model", flip=lambda i, rec: i % 2 == 0)]


def test_leaderboard_out_refuses_foreign_folder_and_drops_stale_pages(tiny_model, tmp_path, capsys):
    runs = _site_runs(tiny_model, tmp_path / "runs")
    foreign = tmp_path / "docs"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("mine", encoding="utf-8")
    assert main(["leaderboard", "--results", str(runs[0]), "--out", str(foreign)]) == 2
    err = capsys.readouterr().err
    assert "not a site built by harness" in err and "--overwrite" in err and not (foreign / "index.html").exists()
    assert main(["leaderboard", "--results", str(runs[0]), "--out", str(foreign), "--overwrite"]) == 0
    assert (foreign / "index.html").is_file() and (foreign / "thesis.tex").read_text(encoding="utf-8") == "mine"

    site = tmp_path / "site"
    assert main(["leaderboard", "--results", *map(str, runs), "--out", str(site)]) == 0
    (site / "CNAME").write_text("example.org", encoding="utf-8")  # a file the user added to the site
    pages = {p.name for p in (site / "models").iterdir()}
    assert len(pages) == 2
    assert main(["leaderboard", "--results", str(runs[0]), "--out", str(site)]) == 0  # a rebuild, one model fewer
    now = {p.name for p in (site / "models").iterdir()}
    assert len(now) == 1 and now < pages
    assert "other-model" not in (site / "index.html").read_text(encoding="utf-8")
    assert (site / "CNAME").is_file()


def test_saved_baseline_keeps_evidence_and_edits_are_refused(tiny_model, tmp_path, capsys):
    run = tmp_path / "run"
    assert main([*RUN_ARGS, "--model", str(tiny_model), "--output", str(run)]) == 0
    assert main(["baseline", "save", str(run), "--name", "b", "--dir", str(tmp_path)]) == 0
    saved = tmp_path / "b"
    lines = (saved / "records.jsonl").read_text(encoding="utf-8").split("\n")
    rec = json.loads(lines[0])
    assert "logprobs" in rec and "question" not in rec and "options" not in rec
    assert main(["gate", "--baseline", str(saved), "--candidate", str(run)]) == 0
    # a hand edit of the baseline (another answer, rescored) is refused, naming file and line
    rec["pred"] = next(x for x in "ABCD" if x != rec["pred"])
    rec["correct"] = rec["pred"] == rec["gold"]
    (saved / "records.jsonl").write_text("\n".join([json.dumps(rec, ensure_ascii=False), *lines[1:]]), encoding="utf-8")
    capsys.readouterr()
    assert main(["gate", "--baseline", str(saved), "--candidate", str(run)]) == 2
    err = capsys.readouterr().err
    assert f"{saved / 'records.jsonl'}: line 1" in err and "Traceback" not in err
