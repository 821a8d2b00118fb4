"""The documentation says what the code does: every `harness …` command in a code block of README.md and
docs/*.md is accepted by the CLI's parser as written, and every relative link points at a file (and
heading) that exists. A renamed option or a moved page fails here instead of in a user's terminal."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from harness.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# code blocks whose lines are commands (a `text` block is output, e.g. a benchmark's table, and is skipped)
COMMAND_BLOCKS = {"", "bash", "sh", "shell", "console", "yaml"}
# Commands the parser cannot take as written, each with the reason. Keep it small: a command that can be
# written so that it parses should be.
ALLOWED: dict[str, str] = {}
FENCE = re.compile(r"^(?P<indent> *)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```", re.S | re.M)
SEPARATORS = {"|", "||", "&&", ";", ">", ">>", "&"}


def _blocks(page: Path) -> list[tuple[str, str]]:
    return [(m["info"].strip().lower(), m["body"]) for m in FENCE.finditer(page.read_text(encoding="utf-8"))]


def _commands(page: Path) -> list[str]:
    """Each `harness …` command of the page's command blocks, continuation lines joined, as written."""
    found = []
    for info, body in _blocks(page):
        if info not in COMMAND_BLOCKS:
            continue
        for line in body.replace("\\\n", " ").splitlines():
            line = line.strip()
            if line.startswith("$ "):
                line = line[2:]
            if line.startswith("run: "):  # a GitHub Actions step given on one line
                line = line[5:]
            for part in re.split(r"\s(?:&&|\|\||;)\s", line):
                words = part.split()
                while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):  # VAR=value before the command
                    words.pop(0)
                if words and words[0] == "harness":
                    found.append(" ".join(words))
    return found


def _argv(command: str) -> list[str]:
    words = shlex.split(command, comments=True)[1:]
    cut = next((i for i, w in enumerate(words) if w in SEPARATORS), len(words))
    return words[:cut]


ALL_COMMANDS = [(page.relative_to(ROOT).as_posix(), cmd) for page in PAGES for cmd in _commands(page)]


def test_the_docs_show_commands_of_every_kind():
    """The extraction finds the commands (a broken pattern would make the parse test pass on nothing)."""
    names = {_argv(cmd)[0] for _, cmd in ALL_COMMANDS if _argv(cmd)}
    from harness.cli import COMMANDS

    missing = set(COMMANDS) - names
    assert not missing, f"no documented example of: {sorted(missing)}"
    assert len(ALL_COMMANDS) >= 60


@pytest.mark.parametrize(("page", "command"), ALL_COMMANDS, ids=[f"{p}: {c[:60]}" for p, c in ALL_COMMANDS])
def test_documented_command_parses(page, command, capsys):
    if command in ALLOWED:
        pytest.skip(ALLOWED[command])
    try:
        args = build_parser().parse_args(_argv(command))
    except SystemExit as exc:
        err = capsys.readouterr().err.strip().splitlines()
        pytest.fail(f"{page}: `{command}` does not parse (exit {exc.code}): {err[-1] if err else ''}")
    assert args.command and callable(args.handler)


def test_the_allow_list_names_only_documented_commands():
    documented = {cmd for _, cmd in ALL_COMMANDS}
    assert not set(ALLOWED) - documented, "remove allow-list entries the docs no longer show"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return {_slug(m) for m in re.findall(r"^#{1,6} (.+)$", text, re.M)}


def _links(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    text = re.sub(r"`[^`\n]*`", "", text)  # inline code is not a link
    return re.findall(r"\]\(([^)\s]+)\)", text)


LINKS = [(page, link) for page in PAGES for link in _links(page) if not re.match(r"^[a-z]+:", link)]


def test_the_docs_link_to_each_other():
    pages = {page.relative_to(ROOT).as_posix() for page, _ in LINKS}
    assert "README.md" in pages and len(LINKS) >= 20


@pytest.mark.parametrize(("page", "link"), LINKS, ids=[f"{p.relative_to(ROOT)}: {x}" for p, x in LINKS])
def test_relative_link_points_at_a_file_and_heading(page, link):
    path, _, anchor = link.partition("#")
    target = (page.parent / path).resolve() if path else page
    assert target.exists(), f"{page.relative_to(ROOT)}: link to {link}: no such file"
    if anchor and target.suffix == ".md":
        assert anchor in _anchors(target), f"{page.relative_to(ROOT)}: link to {link}: no such heading"


def test_the_sweep_file_in_the_docs_is_a_valid_sweep_file(tmp_path):
    from harness.sweep.config import load_sweep_file

    (body,) = [b for info, b in _blocks(ROOT / "docs" / "sweep.md") if info == "yaml"]
    (tmp_path / "nightly.yaml").write_text(body, encoding="utf-8")
    loaded = load_sweep_file(tmp_path / "nightly.yaml")
    assert [s.name for s in loaded["suites"]] == ["ceval", "mmlu", "cmmlu"] and loaded["launcher"] == "ray"
