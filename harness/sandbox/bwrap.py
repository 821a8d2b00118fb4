"""The bubblewrap command line that contains one sample.

The sandbox proper is always the same unprivileged bubblewrap: new user, pid, network, mount, ipc and uts
namespaces (`--unshare-all --unshare-user`), no further user namespaces inside (`--disable-userns`), every
capability dropped, a new session, and `--die-with-parent`. Its file system is a fresh root holding only
read-only binds of the system directories (/usr and the /bin, /lib symlinks or folders), `ld.so.cache`,
and the running Python (prefix, base prefix, the interpreter's folder: what `sys` names), plus a fresh
/proc for its own pid namespace, a minimal /dev and a size-capped private tmpfs at /tmp (its cwd and HOME).
Nothing of the harness's files, other samples' folders, the host's processes or network is in it.

RLIMIT_NPROC counts processes per user *per user namespace* (kernel >= 5.14 charges a child namespace's
processes to its own counter and caps the parent's counter with the creator's limit), so a fork bomb in
one sample cannot take the process quota of a concurrent one, although all of them run under one host uid.

When the harness runs as root, a user namespace created by root maps the sample to root itself, and root's
processes are exempt from RLIMIT_NPROC. So root first enters a thin outer bubblewrap (mount namespace
only, all capabilities but SETUID/SETGID dropped) that shows the same read-only paths through
world-traversable folders (a venv under /root stays readable), drops there to a fresh unprivileged uid
drawn per sample (so the process limits stay separate on kernels before 5.14 too), and starts the
unprivileged sandbox above as that uid.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys

NOBODY = 65534
TMPFS_BYTES = 64 << 20
_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC = ("/etc/ld.so.cache", "/etc/localtime")
_DROP = "import os,sys; u=int(sys.argv[1]); os.setgroups([]); os.setgid(u); os.setuid(u); os.execv(sys.argv[2], sys.argv[2:])"


def find_bwrap() -> str | None:
    """The bubblewrap executable on PATH, or None."""
    return shutil.which("bwrap")


_HELP: dict[str, str] = {}


def _supports(bwrap: str, option: str) -> bool:
    """Whether this bubblewrap knows `option` (--disable-userns is 0.8+, --size 0.7+; Ubuntu 22.04 ships 0.6)."""
    if bwrap not in _HELP:
        try:
            _HELP[bwrap] = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            _HELP[bwrap] = ""
    return option in _HELP[bwrap]


def version(bwrap: str) -> str:
    try:
        out = subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.split()[-1] if out.split() else "unknown"


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def python_dirs() -> list[str]:
    """The folders the running Python needs (venv, base install, interpreter), outside the system dirs."""
    found = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.realpath(sys.executable))}
    dirs: list[str] = []
    for d in sorted(os.path.abspath(x) for x in found if x):
        if not any(_under(d, s) for s in _SYSTEM) and not any(_under(d, o) for o in dirs) and os.path.isdir(d):
            dirs.append(d)
    return dirs


def _view(extra_files: tuple[str, ...] = ()) -> list[str]:
    """Read-only binds of the system and the Python, under world-traversable (0755) parent folders."""
    args: list[str] = []
    for d in _SYSTEM:
        if os.path.islink(d):
            args += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            args += ["--ro-bind", d, d]
    made: set[str] = set()
    binds = [f for f in _ETC if os.path.exists(f)] + python_dirs()
    binds += [f for f in extra_files if not any(_under(f, s) for s in _SYSTEM)]
    for path in binds:
        parent = os.path.dirname(path)
        chain = []
        while parent not in ("/", "") and parent not in made and parent != "/tmp":
            chain.append(parent)
            parent = os.path.dirname(parent)
        for folder in reversed(chain):
            args += ["--perms", "0755", "--dir", folder]
            made.add(folder)
        args += ["--ro-bind", path, path]
    return args


_IDS: tuple[int, int] | None = None


def _id_range() -> tuple[int, int]:
    """Uids/gids root may switch to here: the upper half of what /proc/self/{uid,gid}_map maps, kept clear of
    ordinary users (a container's root often maps only 0..65535)."""
    global _IDS
    if _IDS is None:
        lo, hi = 0, 2**31
        for name in ("uid_map", "gid_map"):
            try:
                rows = [[int(x) for x in line.split()] for line in open(f"/proc/self/{name}")]
            except (OSError, ValueError):
                rows = []
            start, _, count = max(rows, key=lambda r: r[2], default=[0, 0, 65536])
            lo, hi = max(lo, start + min(count // 2, 2**30)), min(hi, start + count - 2)
        _IDS = (lo, hi) if hi - lo >= 1000 else (NOBODY, NOBODY + 1)
    return _IDS


def sample_uid() -> int:
    """As root: a fresh uid for one sample (its own RLIMIT_NPROC count on any kernel)."""
    lo, hi = _id_range()
    return random.SystemRandom().randrange(lo, hi)


def command(bwrap: str, python: str, loader: str, label: str, fds: dict[str, int]) -> list[str]:
    """argv that runs `python -c loader label cfg-fd` in the sandbox; fds: the cfg and info descriptors."""
    inner = [
        bwrap, "--unshare-all", "--unshare-user", *(["--disable-userns"] if _supports(bwrap, "--disable-userns") else []),
        "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--hostname", "sandbox", "--info-fd", str(fds["info"]),
        "--perms", "1777", *(["--size", str(TMPFS_BYTES)] if _supports(bwrap, "--size") else []), "--tmpfs", "/tmp",
        *_view(), "--proc", "/proc", "--dev", "/dev", "--chdir", "/tmp",
        "--", python, "-I", "-S", "-c", loader, label, str(fds["cfg"]),
    ]
    if os.getuid() != 0:
        return inner
    return [
        bwrap, "--die-with-parent", "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
        "--tmpfs", "/tmp", *_view((os.path.realpath(bwrap),)), "--bind", "/proc", "/proc", "--dev", "/dev",
        "--chdir", "/", "--", python, "-I", "-S", "-c", _DROP, str(sample_uid()), *inner,
    ]


def describe(bwrap: str) -> dict[str, object]:
    """What the sandbox gives, for the protocol card."""
    root = os.getuid() == 0
    nested = "no nested user namespaces" if _supports(bwrap, "--disable-userns") else "nested user namespaces allowed"
    size = f"{TMPFS_BYTES >> 20} MiB" if _supports(bwrap, "--size") else "size not capped by this bubblewrap"
    return {
        "tool": f"bubblewrap {version(bwrap)}",
        "namespaces": f"user, pid, network, mount, ipc, uts ({nested})",
        "user": "a fresh unprivileged uid per sample, in its own user namespace (harness runs as root)" if root
        else "the harness's user, in its own user namespace",
        "files": f"read-only system and Python folders; private tmpfs /tmp ({size}) as cwd; nothing else of the host",
        "network": "none (empty network namespace)",
        "processes": "own pid namespace, killed whole at the end or the timeout",
        "limits": "address space, CPU time, file size, processes (per sample)",
        "python": sys.executable,
        "unsafe": False,
    }
