"""Where a fine-tune writes: a temporary folder beside --output, moved into place only when complete.

Training writes checkpoints for minutes or hours; a kill -9 meanwhile must not leave new weights
beside an old manifest.json (scored as the old adapter) or weights with no manifest at --output.
So training goes to `.<name>.partial/` (marked unfinished, see harness/registry/adapter.py), the
manifest is written there last with the sha256 of each adapter file, and the folder is then renamed
to --output. An existing adapter at --output is replaced only with --overwrite; a folder that is not
an adapter is never replaced.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.registry.adapter import MANIFEST, PARTIAL, adapter_files

ADAPTER_MARKS = ("adapter_config.json", MANIFEST, PARTIAL)


def check_output(output: Path, overwrite: bool) -> None:
    """Refuse an --output that must not be replaced (called before the model loads, and again before training)."""
    if output.exists():
        if not output.is_dir():
            raise UserError(f"--output {output} is a file; give a folder for the adapter")
        if any(output.iterdir()):
            if not any((output / m).exists() for m in ADAPTER_MARKS):
                raise UserError(f"--output {output} exists and is not an adapter folder; refusing to replace it "
                                "(choose another --output)")
            if not overwrite:
                raise UserError(f"--output {output} already holds an adapter; use --overwrite to replace it, "
                                "or another --output")


def staging_folder(output: Path, overwrite: bool) -> Path:
    """Check --output and return an empty folder beside it to train into."""
    check_output(output, overwrite)
    tmp = output.parent / f".{output.name}.partial"
    try:
        if tmp.exists():
            shutil.rmtree(tmp)  # left by an interrupted fine-tune into the same --output
        tmp.mkdir(parents=True)
        (tmp / PARTIAL).write_text("an unfinished fine-tune: `harness run` refuses this folder\n", encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write the adapter beside {output}: {exc.strerror or exc}") from None
    return tmp


def commit(tmp: Path, output: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Write the manifest (with the adapter files' digests) into `tmp` and move `tmp` to `output`,
    replacing what `staging_folder` allowed to be replaced. Returns the manifest written."""
    manifest = {**manifest, "adapter_files": adapter_files(tmp)}
    try:
        (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        (tmp / PARTIAL).unlink()
        old = output.parent / f".{output.name}.old"
        if output.exists():
            shutil.rmtree(old, ignore_errors=True)
            output.rename(old)
        tmp.rename(output)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        raise UserError(f"cannot move the adapter into {output}: {exc.strerror or exc}") from None
    return manifest
