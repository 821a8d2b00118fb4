"""The code sandbox contains hostile samples and scores them as failures; pass@k is unbiased."""

from __future__ import annotations

import os
import socket
import threading
import time
from math import comb

import pytest

from harness.sandbox import pass_at_k, run_program


def test_a_good_program_passes_and_a_failing_assert_fails() -> None:
    assert run_program("assert sum(range(4)) == 6\nprint('ok')").passed
    result = run_program("assert 1 + 1 == 3")
    assert not result.passed and "AssertionError" in result.detail


def test_infinite_loop_is_killed_at_the_timeout() -> None:
    start = time.monotonic()
    result = run_program("while True:\n    pass", timeout=2)
    assert result.status == "timeout" and not result.passed
    assert time.monotonic() - start < 6


def test_fork_bomb_is_contained() -> None:
    start = time.monotonic()
    result = run_program("import os\nwhile True:\n    os.fork()", timeout=3)
    assert not result.passed
    assert time.monotonic() - start < 10
    time.sleep(0.5)
    assert run_program("print('still able to run')").passed  # the machine is still usable


def test_huge_allocation_fails_without_taking_the_memory() -> None:
    result = run_program("x = bytearray(64 * 1024 ** 3)\nprint(len(x))", timeout=10, memory_mb=512)
    assert not result.passed and "MemoryError" in result.detail


def test_deleting_and_overwriting_files_outside_is_refused(tmp_path) -> None:
    folder = tmp_path / "harness_files"
    folder.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(folder, 0o755)
    victim = folder / "precious.txt"
    victim.write_text("keep me")
    os.chmod(victim, 0o644)
    for attack in (
        f"import os\nos.remove({str(victim)!r})",
        f"import shutil\nshutil.rmtree({str(folder)!r})",
        f"open({str(victim)!r}, 'w').write('gone')",
    ):
        assert not run_program(attack).passed
    assert victim.read_text() == "keep me"
    # the sample's own temporary folder is writable and removed afterwards
    assert run_program("open('scratch.txt', 'w').write('x')\nimport os\nos.listdir('.')").passed


def test_opening_a_socket_fails_and_reaches_nothing() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(5)
    port = server.getsockname()[1]
    reached = []
    threading.Thread(target=lambda: reached.append(_accept(server)), daemon=True).start()
    result = run_program(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'hi')", timeout=5)
    assert not result.passed
    time.sleep(0.2)
    server.close()
    assert reached in ([], [False])


def _accept(server: socket.socket) -> bool:
    try:
        server.accept()
        return True
    except OSError:
        return False


@pytest.mark.parametrize(("n", "c", "k"), [(10, 3, 1), (10, 3, 5), (20, 0, 5), (5, 5, 2), (200, 17, 10)])
def test_pass_at_k_matches_the_combinatorial_formula(n: int, c: int, k: int) -> None:
    assert pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k))


def test_pass_at_1_is_the_fraction_passed() -> None:
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 5)
