"""What a run records about the model it scored: its name, weights, adapter and a content fingerprint,
so that two runs of "the same" folder with different weights are told apart."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from harness.registry.resolve import ResolvedModel


def model_identity(model: ResolvedModel) -> dict[str, Any]:
    """Name, weights and a fingerprint of a local folder's files (hub models carry their commit)."""
    ident: dict[str, Any] = {"name": model.name, "path": model.path, "adapter": model.adapter}
    if model.entry is not None:
        ident["key"] = model.entry.key
        ident["base"] = model.entry.base
    for label, ref in (("fingerprint", model.path), ("adapter_fingerprint", model.adapter)):
        if ref and Path(ref).is_dir():
            ident[label] = folder_fingerprint(Path(ref))
        elif ref and Path(ref).is_file():  # `harness score`: the predictions file stands for the model
            ident[label] = hashlib.sha256(Path(ref).read_bytes()).hexdigest()[:16]
    return ident


def folder_fingerprint(folder: Path) -> str:
    """A cheap content fingerprint: config files in full, weight files by size and their first and last MiB."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        h.update(path.name.encode())
        size = path.stat().st_size
        h.update(str(size).encode())
        with open(path, "rb") as fh:
            if size <= 4 << 20:
                h.update(fh.read())
            else:
                h.update(fh.read(1 << 20))
                fh.seek(-(1 << 20), 2)
                h.update(fh.read(1 << 20))
    return h.hexdigest()[:16]
