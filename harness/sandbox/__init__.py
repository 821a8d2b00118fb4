"""Run model-written Python in a real sandbox (bubblewrap), one fresh sandbox per sample.

What a sample can do (see `bwrap.py` for how): run the harness's own Python and its read-only stdlib and
site-packages, read the read-only system folders, use a private 64 MiB /tmp, start up to
`max_processes` processes within `memory_mb` of address space each. What it cannot do: see or change the
harness's files or another sample's folder, reach any network (loopback included), see or signal any
process outside its own pid namespace (the harness's /proc/<pid>/environ is not there), create user
namespaces, or outlive its run: when the program ends or the wall-clock timeout hits, the namespace's init
is killed and the kernel kills every process left in it, daemons that called `setsid()` included.

Scoring follows HumanEval's reference: a sample passes only when the whole program (completion + tests) ran
to its end with nothing raised. A trusted supervisor (`_supervisor.py`) forks the sample, which `exec`s the
program and, only when `exec` returns normally, sends a per-run random token that the supervisor relays to
the harness. `sys.exit(0)`, `raise SystemExit`, `os._exit(0)`, a signal, killing the supervisor or a crash
before the end all leave the token unsent: failed. Nothing the sample prints can count as a pass.
What a *deliberately adversarial* sample can still forge: the token sits in its own process's memory and the
pipe is one of its descriptors, so code written to cheat (find them, write the token, `os._exit(0)`) could
fake a pass, just as it could monkey-patch the tests; it still cannot escape the sandbox. The token
guards against accidents (early exits, stray output), not against a model trained to game this harness.

Without bubblewrap (or where it cannot create namespaces) nothing runs unless the caller passes
`unsafe=True` (the CLI's --unsafe-exec); then the old best-effort containment in `unsafe.py` is used and
the protocol card says `"unsafe": true`.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from harness.errors import UserError
from harness.sandbox import bwrap as _bw
from harness.sandbox import unsafe as _unsafe

__all__ = ["ExecResult", "isolation", "pass_at_k", "require_isolation", "run_many", "run_program"]

LABEL = "harness-sandbox-supervisor"  # in every sandboxed process's command line (tests look for leftovers)
_SUPERVISOR = Path(__file__).with_name("_supervisor.py").read_text(encoding="utf-8")
# `python -c` gets only this loader (short, readable in `ps`); the supervisor's code travels in the cfg file
_LOADER = ("import json,os,sys;c=json.load(os.fdopen(int(sys.argv[2]),'rb'));"
           "exec(compile(c.pop('supervisor'),'harness-sandbox-supervisor','exec'),{'__name__':'__main__','CFG':c})")
_PROBE = "import json, math, re, collections\nopen('probe.txt', 'w').write('ok')\nassert math.gcd(12, 18) == 6\n"
MISSING = ("running model-written code needs the bubblewrap sandbox: install it (apt-get install bubblewrap; "
           "dnf install bubblewrap) or pass --unsafe-exec to run the code without isolation")
BROKEN = ("bubblewrap cannot create its sandbox here ({why}): allow user namespaces (e.g. sysctl "
          "kernel.unprivileged_userns_clone=1, or a container run with a seccomp profile that permits them) "
          "or pass --unsafe-exec to run the code without isolation")


@dataclass
class ExecResult:
    passed: bool
    status: str  # passed | failed | timeout
    detail: str = ""


_lock = threading.Lock()
_probed: dict[str, str] = {}  # bwrap path -> "" when the sandbox works, else why not


def _ready() -> tuple[str | None, str]:
    """(bwrap path, "") when the sandbox works on this machine, else (None, the one-line reason)."""
    path = _bw.find_bwrap()
    if path is None:
        return None, MISSING
    with _lock:
        if path not in _probed:
            result = _execute(_PROBE, 30.0, 512, 16, path)
            lines = [x for x in result.detail.splitlines() if x.strip()]
            why = next((x for x in lines if x.startswith("bwrap:")), lines[-1] if lines else result.status)
            _probed[path] = "" if result.passed else why.strip()
    why = _probed[path]
    return (path, "") if not why else (None, BROKEN.format(why=why))


def isolation() -> dict[str, object]:
    """What containment this machine gives to code runs (recorded in the protocol card)."""
    path, why = _ready()
    if path:
        return _bw.describe(path)
    return {"tool": "none", "unsafe": True, "reason": why, "fallback": _unsafe.describe()}


def require_isolation(unsafe: bool = False) -> dict[str, object]:
    """The isolation that code runs will get; UserError (one line, naming the install step) when there is
    none and the user did not pass --unsafe-exec. `unsafe` in the result says whether code runs unisolated;
    `unsafe_exec_allowed` records the user's flag."""
    path, why = _ready()
    if path:
        return {**_bw.describe(path), "unsafe_exec_allowed": unsafe}
    if not unsafe:
        raise UserError(why)
    return {**_unsafe.describe(), "unsafe_exec_allowed": True}


def run_program(program: str, timeout: float = 10.0, memory_mb: int = 1024, max_processes: int = 32,
                unsafe: bool = False) -> ExecResult:
    """Run `program` (a whole Python file: completion + tests) in a fresh sandbox.

    passed: it ran to its end with nothing raised, within `timeout` seconds of wall-clock time.
    Raises UserError when no isolation is available, unless `unsafe` allows the best-effort fallback.
    """
    path, why = _ready()
    if path is None and not unsafe:
        raise UserError(why)
    return _execute(program, timeout, memory_mb, max_processes, path)


def run_many(programs: Sequence[str], timeout: float = 10.0, workers: int | None = None, **limits) -> list[ExecResult]:
    """Run several programs, each in its own sandbox, a few at a time (results in input order)."""
    path, why = _ready()
    if path is None and not limits.get("unsafe"):
        raise UserError(why)
    workers = workers or max(1, min(8, os.cpu_count() or 2))
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda p: run_program(p, timeout, **limits), programs))


def _execute(program: str, timeout: float, memory_mb: int, max_processes: int, bwrap: str | None) -> ExecResult:
    """One run: bubblewrap when `bwrap` is given, else the unsafe fallback."""
    token = secrets.token_hex(16)
    limits = {"RLIMIT_AS": memory_mb << 20, "RLIMIT_CPU": max(1, math.ceil(timeout)) + 1,
              "RLIMIT_FSIZE": 16 << 20, "RLIMIT_CORE": 0, "RLIMIT_NPROC": max_processes}
    res_r, res_w = os.pipe()
    info_r, info_w = os.pipe() if bwrap else (-1, -1)
    to_close = [fd for fd in (res_r, res_w, info_r, info_w) if fd >= 0]
    cfg_file, log = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    work = None if bwrap else tempfile.mkdtemp(prefix="harness-sandbox-")
    try:
        cfg: dict[str, object] = {"supervisor": _SUPERVISOR, "program": program, "token": token, "limits": limits,
                                  "result_fd": res_w, "site": True}
        if bwrap:
            argv = _bw.command(bwrap, sys.executable, _LOADER, LABEL, {"cfg": cfg_file.fileno(), "info": info_w})
        else:
            argv = [*_unsafe.prepare(work, cfg), "-I", "-S", "-c", _LOADER, LABEL, str(cfg_file.fileno())]
        cfg_file.write(json.dumps(cfg).encode())
        cfg_file.seek(0)
        home = work or "/tmp"
        env = {"PATH": "/usr/bin:/bin", "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
        start = time.monotonic()
        try:
            proc = subprocess.Popen(argv, cwd=work or "/", env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    pass_fds=[fd for fd in (cfg_file.fileno(), res_w, info_w) if fd >= 0],
                                    start_new_session=True)
        except OSError as exc:
            return ExecResult(False, "failed", f"could not start the sandbox: {exc}")
        for fd in (res_w, info_w):  # the child holds them now: EOF once it is gone
            if fd >= 0:
                os.close(fd)
                to_close.remove(fd)
        inner = _child_pid(info_r, start + timeout) if bwrap else None
        timed_out = False
        try:
            proc.wait(timeout=max(0.0, start + timeout - time.monotonic()))
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            _stop(proc, inner, whole_group=bwrap is None)
        verdict = _read_all(res_r)
        log.seek(0, os.SEEK_END)
        log.seek(max(0, log.tell() - 2000))
        tail = log.read().decode("utf-8", "replace").strip()
    finally:
        for fd in to_close:
            os.close(fd)
        cfg_file.close()
        log.close()
        if work:
            shutil.rmtree(work, ignore_errors=True)
    if timed_out:
        return ExecResult(False, "timeout", f"timed out after {timeout:g}s")
    if verdict == token.encode():
        return ExecResult(True, "passed", tail[-1000:])
    reason = verdict.decode("utf-8", "replace") or (
        f"the sandbox ended without a verdict (exit status {proc.returncode}): its supervisor was killed or failed")
    return ExecResult(False, "failed", f"{tail}\n{reason}".strip()[-1000:])


def _child_pid(fd: int, deadline: float) -> int | None:
    """The host pid of the sandbox's init, from bubblewrap's --info-fd JSON (killing it empties the namespace)."""
    data = b""
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
        found = re.search(rb'"child-pid"\s*:\s*(\d+)\s*[,}]', data)
        if found:
            return int(found.group(1))
    return None


def _stop(proc: subprocess.Popen, inner: int | None, whole_group: bool) -> None:
    """Kill whatever is left and reap it; with bubblewrap, killing the namespace's init kills everything in it
    and bubblewrap exits only after the kernel has done so."""
    if proc.poll() is None:
        target = inner if inner else proc.pid
        try:
            os.kill(target, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    if whole_group:  # unsafe mode: the sample's process group (a setsid() escapes this)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    proc.wait()


def _read_all(fd: int) -> bytes:
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 4096)
    except BlockingIOError:
        return b""


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): 1 - C(n-c, k) / C(n, k), computed stably."""
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod
