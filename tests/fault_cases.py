"""Damaged run folders × the commands that read them: the table tests/test_faults.py asserts, and that
`python tests/fault_cases.py --code CHECKOUT --model TINY` prints (exit codes of any checkout of harness,
run as a user runs it), for notes comparing versions.

Each damage turns a copy of a finished run folder into what a crash, a disk fault or a hand edit leaves.
Every reader must exit 2 with one line naming the file (and line); resume (`harness run` again into the
folder) recovers from what a crash can produce and refuses the rest the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

RECORDS, RESULTS, LOCK = "records.jsonl", "results.json", "run.lock.json"
# a small run of the bundled sample suite (Chinese questions)
RUN_ARGS = ["run", "--suite", "sample", "--subjects", "arithmetic,word_kind", "--limit", "3", "--shots", "0",
            "--batch-size", "4", "--quiet"]


def _lines(folder: Path) -> list[bytes]:
    return (folder / RECORDS).read_bytes().split(b"\n")  # the last item is b"" (the file ends with a newline)


def _set_line(folder: Path, number: int, content: bytes) -> None:
    lines = _lines(folder)
    lines[number - 1] = content
    (folder / RECORDS).write_bytes(b"\n".join(lines))


def _cut_in_character(line: bytes) -> bytes:
    """`line` cut after the first byte of its first multi-byte (Chinese) character."""
    start = next(i for i, b in enumerate(line) if b >= 0xE0)
    return line[: start + 1]


def _edit_record(folder: Path, number: int, edit: Callable[[dict], None]) -> None:
    rec = json.loads(_lines(folder)[number - 1])
    edit(rec)
    _set_line(folder, number, json.dumps(rec, ensure_ascii=False).encode())


def _flip_pred(rec: dict) -> None:
    """What a hand edit does: another answer, rescored, log-probs left as they were."""
    rec["pred"] = next(x for x in "ABCD" if x != rec["pred"])
    rec["correct"] = rec["pred"] == rec["gold"]


def _flip_with_evidence(rec: dict) -> None:
    """A careful edit: the log-probs swapped too, so the record agrees with itself."""
    new = next(x for x in "ABCD" if x != rec["pred"])
    lp = rec["logprobs"]
    lp[new], lp[rec["pred"]] = lp[rec["pred"]], lp[new]
    rec["pred"] = new
    rec["correct"] = new == rec["gold"]


def crash_state(folder: Path) -> None:
    """What a kill -9 mid-run leaves: the lock naming the run, no results.json."""
    results = json.loads((folder / RESULTS).read_text(encoding="utf-8"))
    lock = {"run_key": results["run_key"], "suite": results["suite"], "model": results["model"]}
    if "settings" in results:
        lock["settings"] = results["settings"]
    (folder / LOCK).write_text(json.dumps(lock), encoding="utf-8")
    (folder / RESULTS).unlink()


def _torn_last_line(folder: Path) -> None:
    crash_state(folder)
    lines = _lines(folder)
    (folder / RECORDS).write_bytes(b"\n".join(lines[:-2]) + b"\n" + _cut_in_character(lines[-2]))


def _bad_lock(folder: Path) -> None:
    crash_state(folder)
    (folder / LOCK).write_text('{"run_key": ', encoding="utf-8")


def _folder_instead(name: str) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        (folder / name).unlink()
        (folder / name).mkdir()
    return damage


@dataclass(frozen=True)
class Damage:
    name: str
    apply: Callable[[Path], None]
    names: str  # what every message must name: a file of the run folder, or "" for the folder itself
    line: int | None  # the line readers must name
    resume: int  # the exit code of `harness run` into the folder again (0: recovered)


DAMAGES = [
    Damage("garbage line", lambda f: _set_line(f, 2, b"this is not json"), RECORDS, 2, 2),
    Damage("line `42`", lambda f: _set_line(f, 2, b"42"), RECORDS, 2, 2),
    Damage("line `{}`", lambda f: _set_line(f, 2, b"{}"), RECORDS, 2, 2),
    Damage("line cut inside a character", lambda f: _set_line(f, 2, _cut_in_character(_lines(f)[1])), RECORDS, 2, 2),
    Damage("pred edited", lambda f: _edit_record(f, 3, _flip_pred), RECORDS, 3, 2),
    Damage("pred and log-probs edited", lambda f: _edit_record(f, 3, _flip_with_evidence), RECORDS, None, 2),
    Damage("invalid results.json", lambda f: (f / RESULTS).write_text('{"suite": ', encoding="utf-8"), RESULTS, None, 2),
    Damage("results.json is `42`", lambda f: (f / RESULTS).write_text("42", encoding="utf-8"), RESULTS, None, 2),
    Damage("invalid run.lock.json", _bad_lock, "", None, 2),
    Damage("records.jsonl missing", lambda f: (f / RECORDS).unlink(), RECORDS, None, 0),
    Damage("results.json missing", lambda f: (f / RESULTS).unlink(), "", None, 0),
    Damage("records.jsonl is a folder", _folder_instead(RECORDS), RECORDS, None, 2),
    Damage("results.json is a folder", _folder_instead(RESULTS), RESULTS, None, 2),
    Damage("crash: torn last line inside a character", _torn_last_line, "", None, 0),
]


def reader_args(reader: str, damaged: Path, good: Path, scratch: Path, model: Path) -> list[str]:
    """The command line of `reader` given a damaged run folder (and a good one to pair it with)."""
    return {
        "compare": ["compare", str(good), str(damaged)],
        "gate": ["gate", "--baseline", str(good), "--candidate", str(damaged)],
        "leaderboard": ["leaderboard", "--results", str(damaged), "--out", str(scratch / "site")],
        "report": ["report", str(damaged), "--out", str(scratch / "report.html")],
        "baseline save": ["baseline", "save", str(damaged), "--name", "b", "--dir", str(scratch / "baselines")],
        "resume": [*RUN_ARGS, "--model", str(model), "--output", str(damaged)],
    }[reader]


READERS = ("compare", "gate", "leaderboard", "report", "baseline save", "resume")


def _main() -> None:
    """Print the table of exit codes of the checkout given by --code (run as `python -m harness.cli`)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--code", type=Path, required=True, help="a checkout of harness (its root folder)")
    parser.add_argument("--model", type=Path, required=True, help="a tiny model folder")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(args.code.resolve()), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}

    # as root, without the capabilities that let root write anywhere: file permissions apply as to a user
    drop = [shutil.which("setpriv") or "", "--bounding-set=-dac_override,-dac_read_search"]
    prefix = drop if os.geteuid() == 0 and drop[0] else []

    def harness(argv: list[str]) -> tuple[int, str]:
        proc = subprocess.run([*prefix, sys.executable, "-m", "harness.cli", *argv], capture_output=True, text=True,
                              env=env, cwd=args.code)
        return proc.returncode, proc.stderr

    root = Path(tempfile.mkdtemp(prefix="faults-"))
    good = root / "good"
    code, err = harness([*RUN_ARGS, "--model", str(args.model), "--output", str(good)])
    assert code == 0, err
    print("| damage | " + " | ".join(READERS) + " |")
    print("|---" * (len(READERS) + 1) + "|")
    for damage in DAMAGES:
        cells = []
        for reader in READERS:
            folder = root / "d"
            shutil.rmtree(folder, ignore_errors=True)
            shutil.rmtree(root / "scratch", ignore_errors=True)
            (root / "scratch").mkdir()
            shutil.copytree(good, folder)
            damage.apply(folder)
            code, err = harness(reader_args(reader, folder, good, root / "scratch", args.model))
            mark = " (traceback)" if "Traceback" in err else ""
            named = (str(folder / damage.names) if damage.names else str(folder)) in err
            cells.append(f"{code}{mark}{'' if named or code == 0 else ' (file not named)'}")
        print(f"| {damage.name} | " + " | ".join(cells) + " |")
    print()
    print("| case | exit code |")
    print("|---|---|")
    for name, prepare in OTHER_CASES:
        folder = root / "o"
        shutil.rmtree(folder, ignore_errors=True)
        argv = prepare(good, folder, args.model)
        code, err = harness(argv)
        print(f"| {name} | {code}{' (traceback)' if 'Traceback' in err else ''} |")
    shutil.rmtree(root, ignore_errors=True)


def _swap(args: list[str], old: str, new: str) -> list[str]:
    return [new if a == old else a for a in args]


def _records_only(good: Path, folder: Path, model: Path) -> list[str]:
    folder.mkdir()
    shutil.copy(good / RECORDS, folder / RECORDS)
    return [*_swap(RUN_ARGS, "0", "1"), "--model", str(model), "--output", str(folder)]  # --shots 1


def _half_done(good: Path, folder: Path, model: Path) -> list[str]:
    shutil.copytree(good, folder)
    crash_state(folder)
    lines = _lines(folder)
    (folder / RECORDS).write_bytes(b"\n".join(lines[:2]) + b"\n")
    return [*_swap(RUN_ARGS, "4", "1"), "--model", str(model), "--output", str(folder)]  # --batch-size 1


def _foreign_site(good: Path, folder: Path, model: Path) -> list[str]:
    folder.mkdir()
    (folder / "thesis.tex").write_text("mine", encoding="utf-8")
    return ["leaderboard", "--results", str(good), "--out", str(folder)]


def _unwritable(good: Path, folder: Path, model: Path) -> list[str]:
    folder.mkdir(mode=0o555)
    folder.chmod(0o555)
    return [*RUN_ARGS, "--model", str(model), "--output", str(folder)]


OTHER_CASES = [
    ("folder holding only another run's records.jsonl, run with --shots 1", _records_only),
    ("resume after a crash with --batch-size 1 instead of 4", _half_done),
    ("--batch-size 0", lambda g, f, m: [*_swap(RUN_ARGS, "4", "0"), "--model", str(m), "--output", str(f)]),
    ("--batch-size -2", lambda g, f, m: [*_swap(RUN_ARGS, "4", "-2"), "--model", str(m), "--output", str(f)]),
    ("leaderboard --out into a folder that is not a site", _foreign_site),
    ("--output an existing folder without write permission", _unwritable),
]


if __name__ == "__main__":
    _main()
