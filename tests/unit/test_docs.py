"""The README and docs/ as a newcomer reads them: short, and every pointer in them leads somewhere.

The README stays a page a newcomer finishes (the reference lives in docs/); every relative
link of README.md and docs/*.md opens a file that exists, at a heading that exists; every
``tests/...`` path they name exists; and every ``raymix <command>`` they show is one of the
command line's subcommands. The README's config example is a config raymix reads.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from raymix.cli.commands import build_parser
from raymix.config import parse_config

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_LINES = 260

FENCE = re.compile(r"^```.*?^```", flags=re.DOTALL | re.MULTILINE)
INLINE_CODE = re.compile(r"`[^`\n]+`")
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
TESTS_PATH = re.compile(r"(?<![\w/.])tests/[\w./-]*\w")
COMMAND = re.compile(r"(?<![\w./-])raymix ([a-z][a-z-]*)")


def prose(text: str) -> str:
    """The text without its code: links inside code are not links."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def code(text: str) -> str:
    """The text's code only: fenced blocks and inline spans, one a line."""
    return "\n".join(FENCE.findall(text) + INLINE_CODE.findall(text))


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives a page's headings (lower case, punctuation dropped, spaces
    to hyphens, ``-1``, ``-2`` ... on repeats)."""
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *$", FENCE.sub("", page.read_text()),
                              flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        unique, repeat = slug, 0
        while unique in found:
            repeat += 1
            unique = f"{slug}-{repeat}"
        found.add(unique)
    return found


def test_the_readme_is_short():
    lines = len(README.read_text().splitlines())
    assert lines <= README_LINES, (
        f"README.md has {lines} lines (at most {README_LINES}): move reference material "
        "to docs/")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_opens_a_file_at_a_heading(page):
    broken = []
    for target in LINK.findall(prose(page.read_text())):
        if re.match(r"[a-z][a-z+.-]*:", target):  # https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        linked = (page.parent / path_part).resolve() if path_part else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {linked.name}")
    assert not broken, broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_tests_path_exists(page):
    missing = sorted({p for p in TESTS_PATH.findall(page.read_text())
                      if not (ROOT / p).exists()})
    assert not missing, missing


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_raymix_command_shown_is_a_subcommand(page):
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    unknown = sorted(set(COMMAND.findall(code(page.read_text()))) - set(subparsers.choices))
    assert not unknown, unknown


def test_the_anchors_are_githubs():
    page = ROOT / "docs" / "cli.md"
    assert {"fewer-runs-adaptive-sweeps-mixturesstrategy",
            "one-proposal-per-objective-propose---per-objective",
            "on-anyones-results-regmix--olmix-csvs"} <= anchors(page)


def test_the_readme_config_example_is_a_valid_config():
    block = re.search(r"```yaml\n(.*?)```", README.read_text(), flags=re.DOTALL).group(1)
    assert parse_config(yaml.safe_load(block)).compute.models_per_trial == "auto"
