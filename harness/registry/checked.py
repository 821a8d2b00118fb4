"""What `harness models check` found, kept as JSON: per family, and looked up per catalogue entry.

The document (`--json FILE`, and $HARNESS_HOME/models-check.json merged family by family so that checking two
families does not forget the others):

    {"harness_version", "checked_at", "versions": {torch, transformers, peft, vllm}, "backends": [...],
     "seconds", "families": {FAMILY: {"keys", "claims", "status": "checked" | "not checkable offline",
                                      "checked_at", "prefix_cache", "seconds", "failed": [...],
                                      "paths": {PATH: {"status": ok|failed|n/a, "detail", "seconds"}}}}}

`harness models show KEY` and the site's model pages (`harness leaderboard --models-check FILE`) say from it which
paths were checked for an entry's architecture, with what result, and when.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.resources import harness_home

CHECK_FILE = "models-check.json"
NOT_OFFLINE = "not checkable offline"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _versions() -> dict[str, str | None]:
    import importlib.metadata as md

    out: dict[str, str | None] = {}
    for name in ("torch", "transformers", "peft", "vllm"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def document(results: list[Any], backends: tuple[str, ...], seconds: float) -> dict[str, Any]:
    """The JSON document of one check (results: check.FamilyCheck)."""
    import harness

    stamp = now()
    families = {}
    for r in results:
        checkable = bool(r.claims)
        families[r.family] = {
            "keys": r.keys, "claims": r.claims, "status": "checked" if checkable else NOT_OFFLINE,
            "checked_at": stamp, "prefix_cache": r.prefix_cache, "seconds": r.seconds, "failed": r.failed,
            "paths": {p: asdict(o) for p, o in r.paths.items()},
        }
    return {"harness_version": harness.__version__, "checked_at": stamp, "versions": _versions(),
            "backends": list(backends), "seconds": round(seconds, 1), "families": families}


def home_file() -> Path:
    return harness_home() / CHECK_FILE


def save(doc: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path


def remember(doc: dict[str, Any]) -> Path:
    """Merge `doc` into $HARNESS_HOME/models-check.json (its families replace the ones kept there)."""
    path = home_file()
    kept = load(path) if path.is_file() else {"families": {}}
    merged = {**doc, "families": {**kept.get("families", {}), **doc["families"]}}
    return save(merged, path)


def load(path: Path) -> dict[str, Any]:
    """A check document; one clear line when the file is not one."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"cannot read models check file {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UserError(f"{path}: not a JSON file written by `harness models check --json`") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("families"), dict):
        raise UserError(f"{path}: not a JSON file written by `harness models check --json`")
    return doc


def last_check() -> dict[str, Any] | None:
    """$HARNESS_HOME/models-check.json, or None when no check was run here."""
    path = home_file()
    return load(path) if path.is_file() else None


def for_entry(doc: dict[str, Any] | None, key: str, family: str | None = None) -> dict[str, Any] | None:
    """What the check says about catalogue entry `key` (found by key, else by its family), or None."""
    if not doc:
        return None
    families = doc.get("families", {})
    name = next((f for f, info in families.items() if key in info.get("keys", [])), None) or family
    info = families.get(name) if name else None
    if info is None:
        return None
    return {"family": name, "status": info.get("status"), "checked_at": info.get("checked_at"),
            "prefix_cache": info.get("prefix_cache"), "failed": info.get("failed", []),
            "paths": {p: {"status": v.get("status"), "detail": v.get("detail", "")}
                      for p, v in info.get("paths", {}).items()}}


def summary(info: dict[str, Any]) -> str:
    """One line: 'letter ok, choice ok, …, vllm n/a' (or why the family was not checkable)."""
    if info["status"] != "checked":
        return f"{info['status']} (family {info['family']})"
    return ", ".join(f"{p} {v['status']}" for p, v in info["paths"].items())


def show_lines(info: dict[str, Any] | None) -> list[tuple[str, str]]:
    """`harness models show` lines for an entry: when, what, and the reason of each path not ok."""
    if info is None:
        return [("checked", "— (no `harness models check` run here covers this entry)")]
    lines = [("checked", f"{info['checked_at']}: family {info['family']} (tiny random-weight model, "
                         "harness models check)")]
    if info["status"] != "checked":
        return lines + [("checked.status", info["status"])]
    for p, v in info["paths"].items():
        detail = f" — {v['detail']}" if v["detail"] and v["status"] != "ok" else ""
        lines.append((f"checked.{p}", f"{v['status']}{detail}"))
    return lines
