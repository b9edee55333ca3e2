"""Every relative link in the README, docs/ and the project's guides leads to a file and heading."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
CODE = re.compile(r"`[^`\n]*`")


def documents() -> list[Path]:
    named = ["README.md", "CONTRIBUTING.md", "CHANGELOG.md", "bench/README.md"]
    return [ROOT / name for name in named] + sorted((ROOT / "docs").rglob("*.md"))


def anchors(path: Path) -> set[str]:
    """The heading anchors GitHub makes: lower case, punctuation dropped, spaces to hyphens,
    a repeated heading numbered -1, -2."""
    seen: dict[str, int] = {}
    result = set()
    for line in FENCE.sub("", path.read_text(encoding="utf-8")).splitlines():
        if not line.startswith("#"):
            continue
        slug = re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result


def broken_links(path: Path) -> list[str]:
    text = CODE.sub("", FENCE.sub("", path.read_text(encoding="utf-8")))
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # https:, mailto: are not ours to check
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {linked.name}")
    return broken


def test_every_relative_link_resolves() -> None:
    problems = {
        str(path.relative_to(ROOT)): broken
        for path in documents()
        if path.exists() and (broken := broken_links(path))
    }
    assert problems == {}


def test_the_documents_are_there_and_link_each_other() -> None:
    missing = [str(path.relative_to(ROOT)) for path in documents() if not path.exists()]
    assert missing == []
    links = sum(len(LINK.findall(path.read_text(encoding="utf-8"))) for path in documents())
    assert links > 40


def test_a_missing_file_or_heading_is_reported(tmp_path: Path) -> None:
    (tmp_path / "target.md").write_text("# Title\n\n## The `x` key, once\n", encoding="utf-8")
    doc = tmp_path / "doc.md"
    doc.write_text(
        "[ok](target.md#the-x-key-once) [gone](nowhere.md) [bad](target.md#nope)\n"
        "`[in code](nowhere.md)` [web](https://example.com/x.md) [self](#title)\n",
        encoding="utf-8",
    )
    assert broken_links(doc) == [
        "nowhere.md: no such file",
        "target.md#nope: no heading #nope in target.md",
        "#title: no heading #title in doc.md",
    ]
