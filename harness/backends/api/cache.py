"""The response cache: one JSON line per finished response, keyed by a hash of the request.

Why a cache and not only the run's records: requests run concurrently, so several responses can have
arrived while the run loop is still writing an earlier record; a letter question whose letters were
missing from the top list needs a second (generation) request before its record exists; and the
tokenisation probe is not a question at all. Each response is written and fsynced here the moment it
is parsed, before anything is built from it, so a run killed at any point repeats only the requests
that had not finished. A torn last line (kill -9 mid-write) is dropped, as for records.

Only the request body and the endpoint URL make the key: the API key is a header and is never part of
what is hashed or stored.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from harness.errors import UserError


def request_key(url: str, body: dict[str, Any]) -> str:
    """The cache key of a request: sha256 of the URL and the canonical JSON body."""
    text = json.dumps([url, body], sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ResponseCache:
    """Finished responses by request key; in memory only when `path` is None."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._data: dict[str, Any] = {}
        self._fh = None
        if path is None:
            return
        if path.is_file():
            self._load(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open while the run works
        except OSError as exc:
            raise UserError(f"cannot write the response cache {path}: {exc.strerror}") from None

    def _load(self, path: Path) -> None:
        raw = path.read_bytes()
        text = raw.decode("utf-8", errors="replace")
        rows = text.split("\n")
        for number, line in enumerate(rows, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                self._data[item["key"]] = item["response"]
            except (json.JSONDecodeError, KeyError, TypeError):
                if number == len(rows) and not text.endswith("\n"):
                    break  # torn last line: its request is simply sent again
                raise UserError(f"{path}:{number}: damaged response cache; delete the file to start over") from None
        if text and not text.endswith("\n"):  # drop the torn tail so that appends start on a fresh line
            keep = text[: text.rfind("\n") + 1]
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(keep)
                fh.flush()
                os.fsync(fh.fileno())

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: str) -> Any:
        with self._lock:
            return self._data.get(key)

    def put(self, key: str, response: Any) -> None:
        """Keep `response` and, with a file, append and fsync it before returning."""
        line = json.dumps({"key": key, "response": response}, ensure_ascii=True, separators=(",", ":")) + "\n"
        with self._lock:
            self._data[key] = response
            if self._fh is not None:
                self._fh.write(line)
                self._fh.flush()
                os.fsync(self._fh.fileno())

    def close(self) -> None:
        with self._lock:
            if self._fh is not None and not self._fh.closed:
                self._fh.close()
