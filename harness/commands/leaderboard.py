"""`harness leaderboard`: build the static site (index, suite and model pages, JSON, CSV) from run folders.

The site is built whole into a temporary folder beside --out, then copied over --out file by file,
and the pages an earlier build wrote that this one does not (a model no longer among the runs) are
removed: a rebuild never serves stale pages. The files a build wrote are listed in `SITE_LIST`;
other files in --out (a CNAME, a .git folder) are left alone. A folder that is not a previous site
is written into only with --overwrite.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from harness.errors import UserError

SITE_LIST = ".harness-site.json"
OWN_FOLDERS = ("models", "suites", "assets")  # what a site built before SITE_LIST existed wrote


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "leaderboard",
        help="build the static leaderboard site from run folders",
        description="Build a static site (no server, no network) ranking the runs found under each --results folder.",
    )
    p.add_argument("--results", type=Path, nargs="+", required=True, metavar="DIR",
                   help="run folders, or folders searched recursively for run folders (results.json)")
    p.add_argument("--out", type=Path, default=Path("site"), help="site folder to write (default: site)")
    p.add_argument("--models-check", type=Path, metavar="FILE",
                   help="JSON of `harness models check --json FILE`: model pages say which paths were checked, when")
    p.add_argument("--overwrite", action="store_true",
                   help="write into --out even when it holds other files and is not a site built by harness")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from harness.registry.checked import load
    from harness.render.site_pages import build_site

    check = load(args.models_check) if args.models_check else None
    out: Path = args.out
    previous = _previous_files(out, args.overwrite)
    tmp = out.parent / f".{out.name}.building"
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        index = build_site(args.results, tmp, warn=lambda msg: print(msg, file=sys.stderr), check=check)
        _install(tmp, out, previous)
    except OSError as exc:
        raise UserError(f"cannot write the site to {out}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"site: {(out / index.name).resolve()}")
    return 0


def _previous_files(out: Path, overwrite: bool) -> set[str]:
    """The files an earlier build wrote in `out` (relative paths); refuse a folder that is not a site."""
    if not out.exists():
        return set()
    if not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder for the site")
    listing = out / SITE_LIST
    if listing.is_file():
        try:
            files = json.loads(listing.read_text(encoding="utf-8"))["files"]
            return {str(f) for f in files if ".." not in Path(str(f)).parts}
        except (OSError, ValueError, KeyError, TypeError):
            raise UserError(f"{listing}: damaged; remove it (and the site's old pages) and build again") from None
    if _is_legacy_site(out):
        return {p.relative_to(out).as_posix() for d in OWN_FOLDERS if (out / d).is_dir()
                for p in (out / d).rglob("*") if p.is_file()}
    if any(out.iterdir()) and not overwrite:
        raise UserError(f"--out {out} holds other files and is not a site built by harness; "
                        "give another --out, or --overwrite to write the site into it")
    return set()


def _is_legacy_site(out: Path) -> bool:
    """A site built by an earlier harness: its leaderboard.json names harness as generator."""
    try:
        data = json.loads((out / "leaderboard.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and str(data.get("generator", "")).startswith("harness")


def _install(tmp: Path, out: Path, previous: set[str]) -> None:
    """Copy the new build over `out` and remove the pages of the previous build that it no longer has."""
    files = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
    out.mkdir(parents=True, exist_ok=True)
    for name in files:
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tmp / name, target.with_name(target.name + ".tmp"))
        target.with_name(target.name + ".tmp").replace(target)
    for name in sorted(previous - set(files)):
        (out / name).unlink(missing_ok=True)
    for folder in OWN_FOLDERS:
        if (out / folder).is_dir() and not any((out / folder).iterdir()):
            (out / folder).rmdir()
    (out / SITE_LIST).write_text(json.dumps({"files": files}, indent=1) + "\n", encoding="utf-8")
