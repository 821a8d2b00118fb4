"""Is an adapter folder what its manifest says it is?

`harness finetune` trains into a temporary folder holding a `PARTIAL` marker, writes `manifest.json`
(with the sha256 of every adapter file) last, and only then moves the folder into place. So an
adapter folder is one of:
- complete: the manifest lists its files and they match — accepted;
- unfinished (the marker is there: training was interrupted) — refused;
- weights that are not the manifest's (changed or half-replaced after training) — refused;
- made elsewhere (peft's adapter_config.json, no manifest.json) — accepted with a warning that
  nothing is known of its training;
- made by an older harness (a manifest without a file list) — accepted with a warning that its
  weights cannot be checked.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.results.evidence import file_sha256
from harness.results.jsonl import read_json

MANIFEST = "manifest.json"
PARTIAL = ".harness-partial"  # inside a fine-tune's folder while it trains


def adapter_files(folder: Path) -> dict[str, str]:
    """sha256 of each file of an adapter folder (what the manifest records), the manifest itself excepted."""
    return {p.name: file_sha256(p) for p in sorted(folder.iterdir())
            if p.is_file() and p.name not in (MANIFEST, PARTIAL)}


def check_adapter(folder: Path) -> str | None:
    """Refuse (UserError) an unfinished adapter folder or one whose files are not its manifest's;
    return a warning for one that cannot be checked (no manifest, or an older one), else None."""
    if (folder / PARTIAL).exists():
        raise UserError(f"{folder}: an unfinished fine-tune (training was interrupted); run `harness finetune` again")
    manifest_path = folder / MANIFEST
    if not manifest_path.exists():
        return (f"{folder} has no {MANIFEST} (not made by `harness finetune`): scoring it as it is, "
                "but nothing is known of how it was trained")
    manifest: Any = read_json(manifest_path)
    if not isinstance(manifest, dict):
        raise UserError(f"{manifest_path}: not a harness fine-tune manifest")
    files = manifest.get("adapter_files")
    if files is None:
        return f"{manifest_path} lists no adapter files (made by an older harness?): its weights cannot be checked"
    if not isinstance(files, dict):
        raise UserError(f"{manifest_path}: 'adapter_files' must map file names to sha256 digests")
    for name, digest in files.items():
        path = folder / name
        if not path.is_file():
            raise UserError(f"{folder}: {name} is missing, but {MANIFEST} lists it; the adapter is incomplete")
        if file_sha256(path) != digest:
            raise UserError(f"{path} is not the file {MANIFEST} describes (changed after training, or a fine-tune "
                            "into this folder was interrupted); train again or restore it")
    return None


def checked_adapter(folder: Path) -> None:
    """`check_adapter`, with its warning (if any) printed on stderr."""
    warning = check_adapter(folder)
    if warning:
        print(f"harness: warning: {warning}", file=sys.stderr)
