"""The code sandbox: hostile samples score failed and leave no process and no file change behind, both as
root and as an ordinary user; exiting before the tests is a failure; good programs pass side by side with
a fork bomb; without bubblewrap the harness refuses with one line unless told --unsafe-exec; pass@k."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from math import comb
from pathlib import Path

import pytest

from harness.errors import UserError
from harness.sandbox import isolation, pass_at_k, require_isolation, run_many, run_program

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap not installed (apt-get install bubblewrap)")

MARK = "hsbx" + secrets.token_hex(4)  # this session's marker: process names, file names, the secret
SECRET = MARK + "-secret-value"
# every hostile program renames its process (and so every child it forks) to MARK, so leftovers are findable
NAME = f"import ctypes\nctypes.CDLL(None).prctl(15, b'{MARK}', 0, 0, 0)\n"
WRONG = "def add(a, b):\n    return a - b\n"
TESTS = "assert add(2, 3) == 5\n"
RIGHT = "def add(a, b):\n    return a + b\n"

# (name, program, a text the failure must show: the attack was tried and refused); @X@ filled in below
QUICK = [
    ("sys.exit before tests", WRONG + "import sys\nsys.exit(0)\n" + TESTS, "SystemExit(0)"),
    ("raise SystemExit before tests", WRONG + "raise SystemExit\n" + TESTS, "SystemExit(None)"),
    ("os._exit before tests", WRONG + "import os\nos._exit(0)\n" + TESTS, "status 0 before its end"),
    ("SIGKILL itself before tests", WRONG + "import os\nos.kill(os.getpid(), 9)\n" + TESTS, "signal 9"),
    ("kill the parent", RIGHT + "import os, time\nos.kill(os.getppid(), 9)\ntime.sleep(1)\n" + TESTS, "without a verdict"),
    ("kill the harness", RIGHT + "import os\nos.kill(@HARNESS_PID@, 9)\n" + TESTS, "ProcessLookupError"),
    ("read the environment", "import os\nprint(open(f'/proc/{os.getppid()}/environ').read())\n"
     "print(open('/proc/@HARNESS_PID@/environ').read())\n", "FileNotFoundError"),
    ("delete a file outside", "import os\nos.remove('@VICTIM@')\n", "FileNotFoundError"),
    ("overwrite a file outside", "open('@VICTIM@', 'w').write('gone')\n", "FileNotFoundError"),
    ("delete a folder outside", "import shutil\nshutil.rmtree('@VICTIM_DIR@')\n", "FileNotFoundError"),
    ("write into the Python", "import sys\nopen(sys.prefix + '/@MARK@.txt', 'w').write('x')\n", "Error"),
    ("connect to loopback", "import socket\nsocket.create_connection(('127.0.0.1', @PORT@), timeout=2).sendall(b'@MARK@')\n",
     "ConnectionRefusedError"),
    ("allocate 10 GB", "x = bytearray(10 * 1024 ** 3)\nprint(len(x))\n", "MemoryError"),
    ("setsid daemon, parent leaves", "import os, sys, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
     "        time.sleep(1)\n        open('@MARKER@', 'w').write('escaped')\n        time.sleep(60)\n    os._exit(0)\n"
     "time.sleep(0.2)\nos._exit(0)\n", "status 0 before its end"),
]
SPINNING = [  # run until the timeout
    ("infinite loop", "while True:\n    pass\n", "timed out"),
    ("fork bomb", "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n", "timed out"),
    ("setsid daemon, parent spins", "import os, sys, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
     "        time.sleep(1)\n        open('@MARKER@', 'w').write('escaped')\n"
     "        os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(60)', '@MARK@'])\n"
     "    os._exit(0)\nwhile True:\n    pass\n", "timed out"),
]

# runs the batches through the sandbox in another process (as user nobody); programs come on stdin
RUNNER = r"""
import json, os, sys
sys.path.insert(0, sys.argv[1])
from harness.sandbox import run_many
out = []
for batch in json.load(sys.stdin):
    progs = [p.replace("@HARNESS_PID@", str(os.getpid())) for p in batch["programs"]]
    out.append([r.__dict__ for r in run_many(progs, timeout=batch["timeout"], workers=len(progs), memory_mb=512)])
print(json.dumps(out))
"""


class Target:
    """What the hostile programs aim at: a victim folder anyone may write, a loopback server, a secret."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix=MARK + "-victim-", dir="/tmp")
        os.chmod(self.dir, 0o777)  # nobody may write it: only the sandbox protects it
        self.victim = os.path.join(self.dir, "precious.txt")
        Path(self.victim).write_text("keep me")
        os.chmod(self.victim, 0o666)
        self.marker = f"/tmp/{MARK}-escaped"
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self.server.settimeout(0.2)
        self.reached: list[bytes] = []
        self.stop = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stop:
            try:
                conn, _ = self.server.accept()
            except OSError:
                continue
            self.reached.append(conn.recv(100) or b"connected")
            conn.close()

    def fill(self, program: str) -> str:
        for key, value in {"@VICTIM@": self.victim, "@VICTIM_DIR@": self.dir, "@MARKER@": self.marker,
                           "@PORT@": str(self.server.getsockname()[1]), "@MARK@": MARK}.items():
            program = program.replace(key, value)
        return NAME + program

    def batches(self) -> list[dict]:
        return [{"timeout": 20, "programs": [self.fill(p) for _, p, _ in QUICK]},
                {"timeout": 3, "programs": [self.fill(p) for _, p, _ in SPINNING]}]

    def close(self) -> None:
        self.stop = True
        self.thread.join()
        self.server.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def target():
    os.environ["HARNESS_SANDBOX_TEST_SECRET"] = SECRET
    t = Target()
    yield t
    t.close()
    os.environ.pop("HARNESS_SANDBOX_TEST_SECRET", None)


def _leftovers() -> list[str]:
    """Live processes named or started with this session's marker."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            comm = Path(f"/proc/{pid}/comm").read_text()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if MARK in comm or MARK in cmd:
            found.append(f"{pid}: {comm.strip()} {cmd[:120]}")
    return found


def _check_contained(target: Target, results: list[list[dict]]) -> None:
    named = [case for batch in (QUICK, SPINNING) for case in batch]
    flat = [r for batch in results for r in batch]
    for (name, _, evidence), result in zip(named, flat, strict=True):
        assert not result["passed"], f"{name} passed: {result}"
        assert evidence in result["detail"], f"{name}: {result['detail']!r}"
        assert SECRET not in result["detail"], name
    time.sleep(1.5)  # a daemon that escaped would write its marker after 1 s
    assert _leftovers() == []
    assert not os.path.exists(target.marker)
    assert Path(target.victim).read_text() == "keep me" and os.listdir(target.dir) == ["precious.txt"]
    assert not os.path.exists(os.path.join(sys.prefix, MARK + ".txt"))
    assert target.reached == []


@needs_bwrap
def test_hostile_programs_fail_and_leave_nothing_behind(target) -> None:
    results = []
    for batch in target.batches():
        programs = [p.replace("@HARNESS_PID@", str(os.getpid())) for p in batch["programs"]]
        found = run_many(programs, timeout=batch["timeout"], workers=len(programs), memory_mb=512)
        results.append([r.__dict__ for r in found])
    _check_contained(target, results)


def _python_for_nobody(package: Path) -> str | None:
    for exe in (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3"):
        try:
            probe = subprocess.run([exe, "-I", "-c", f"import sys; sys.path.insert(0, {str(package)!r}); import harness.sandbox"],
                                   user=65534, group=65534, extra_groups=[], cwd="/", capture_output=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            continue
        if probe.returncode == 0:
            return exe
    return None


@needs_bwrap
def test_hostile_programs_fail_as_an_ordinary_user_too(target, tmp_path_factory) -> None:
    """When the tests run as root, run the same list as user nobody (the tests themselves cover a non-root run)."""
    if os.getuid() != 0:
        pytest.skip("already running as an ordinary user (the test above is that run)")
    package = Path(tempfile.mkdtemp(prefix=MARK + "-pkg-"))
    try:
        source = Path(__file__).resolve().parents[1] / "harness"
        (package / "harness").mkdir()
        for name in ("__init__.py", "errors.py"):
            shutil.copy(source / name, package / "harness" / name)
        shutil.copytree(source / "sandbox", package / "harness" / "sandbox", ignore=shutil.ignore_patterns("__pycache__"))
        for folder, dirs, files in os.walk(package):
            for entry in dirs + files:
                os.chmod(os.path.join(folder, entry), 0o755)
        os.chmod(package, 0o755)
        python = _python_for_nobody(package)
        if python is None:
            pytest.skip("no Python here that user nobody can run")
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HARNESS_SANDBOX_TEST_SECRET": SECRET}
        run = subprocess.run([python, "-I", "-c", RUNNER, str(package)], input=json.dumps(target.batches()), text=True,
                             capture_output=True, user=65534, group=65534, extra_groups=[], cwd="/", env=env, timeout=180)
        assert run.returncode == 0, run.stderr[-2000:]
        _check_contained(target, json.loads(run.stdout))
    finally:
        shutil.rmtree(package, ignore_errors=True)


@needs_bwrap
def test_good_programs_pass_next_to_a_fork_bomb() -> None:
    """Each sample has its own process quota: a fork bomb cannot starve concurrent samples."""
    bomb: list = []
    thread = threading.Thread(target=lambda: bomb.append(run_program(
        NAME + "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n", timeout=4)))
    thread.start()
    forks = ("import os, time\nkids = []\nfor _ in range(20):\n    pid = os.fork()\n    if pid == 0:\n"
             "        time.sleep(0.3)\n        os._exit(0)\n    kids.append(pid)\n"
             "assert all(os.waitpid(k, 0)[1] == 0 for k in kids)\nprint('forked', len(kids))\n")
    humaneval_like = (
        "from typing import List\n\n\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
        "    for i, a in enumerate(numbers):\n        for b in numbers[i + 1:]:\n            if abs(a - b) < threshold:\n"
        "                return True\n    return False\n\n\nMETADATA = {}\n\n\ndef check(candidate):\n"
        "    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) == True\n"
        "    assert candidate([1.0, 2.0, 5.9, 4.0, 5.0], 0.95) == True\n"
        "    assert candidate([1.0, 2.0, 3.0, 4.0, 5.0], 0.5) == False\n\n\ncheck(has_close_elements)\n")
    scratch = "import os, tempfile, json\nopen('a.txt', 'w').write('x')\nwith tempfile.NamedTemporaryFile() as f:\n    f.write(b'y')\nprint(os.listdir('.'))\n"
    results = run_many([forks, forks, humaneval_like, scratch, "print('ok')", RIGHT + TESTS], timeout=30, workers=6)
    thread.join()
    assert [r.passed for r in results] == [True] * 6, [r.detail for r in results]
    assert "forked 20" in results[0].detail
    assert bomb[0].status == "timeout"
    assert _leftovers() == []


@needs_bwrap
def test_concurrent_samples_do_not_see_each_others_files() -> None:
    """Each sample's /tmp is its own: what one writes, the next one (running at the same time) cannot find."""
    writer = f"import os, time\nopen('/tmp/{MARK}-mine', 'w').write('x')\nassert os.path.exists('/tmp/{MARK}-mine')\ntime.sleep(2)\n"
    looker = (f"import os, time\ntime.sleep(0.5)\nassert not os.path.exists('/tmp/{MARK}-mine')\n"
              f"assert not [f for f in os.listdir('/tmp') if f.startswith('{MARK}')]\n")
    results = run_many([writer, looker, looker], timeout=20, workers=3)
    assert [r.passed for r in results] == [True, True, True], [r.detail for r in results]
    assert not os.path.exists(f"/tmp/{MARK}-mine")


@needs_bwrap
def test_exit_before_the_tests_fails_and_the_same_program_without_it_passes() -> None:
    assert run_program(RIGHT + TESTS).passed
    assert not run_program(WRONG + TESTS).passed
    for exit_line in ("import sys\nsys.exit(0)\n", "raise SystemExit\n", "import os\nos._exit(0)\n",
                      "import os\nos.kill(os.getpid(), 9)\n"):
        result = run_program(RIGHT + exit_line + TESTS)
        assert result.status == "failed" and not result.passed, exit_line
    # printing what a pass looks like does not make one
    assert not run_program("print('passed')\nimport os\nos._exit(0)\n").passed
    result = run_program("assert 1 + 1 == 3")
    assert not result.passed and "AssertionError" in result.detail


@needs_bwrap
def test_isolation_is_described_for_the_protocol_card() -> None:
    card = require_isolation()
    assert card["tool"].startswith("bubblewrap") and card["unsafe"] is False
    assert card["unsafe_exec_allowed"] is False
    assert require_isolation(unsafe=True)["unsafe_exec_allowed"] is True
    assert isolation()["tool"] == card["tool"]
    json.dumps(card)  # goes into the card as it is


def test_without_bubblewrap_code_runs_are_refused_in_one_line(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on PATH
    with pytest.raises(UserError) as refused:
        require_isolation()
    message = str(refused.value)
    assert "apt-get install bubblewrap" in message and "--unsafe-exec" in message and "\n" not in message
    with pytest.raises(UserError):
        run_program("print(1)")
    with pytest.raises(UserError):
        run_many(["print(1)"])
    assert isolation()["tool"] == "none"


def test_a_broken_bubblewrap_is_refused_with_its_reason(monkeypatch, tmp_path) -> None:
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UserError, match="No permissions to create new namespace"):
        require_isolation()


def test_unsafe_fallback_runs_but_says_so(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    card = require_isolation(unsafe=True)
    assert card["unsafe"] is True and "UNSAFE" in card["tool"]
    assert run_program(RIGHT + TESTS, unsafe=True).passed
    assert not run_program(RIGHT + "import sys\nsys.exit(0)\n" + TESTS, unsafe=True).passed
    assert not run_program(RIGHT + "import os\nos._exit(0)\n" + TESTS, unsafe=True).passed
    assert run_many([RIGHT + TESTS, WRONG + TESTS], timeout=20, unsafe=True)[1].passed is False


@pytest.mark.parametrize(("n", "c", "k"), [(10, 3, 1), (10, 3, 5), (20, 0, 5), (5, 5, 2), (200, 17, 10)])
def test_pass_at_k_matches_the_combinatorial_formula(n: int, c: int, k: int) -> None:
    assert pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k))


def test_pass_at_1_is_the_fraction_passed() -> None:
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 5)
