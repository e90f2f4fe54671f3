# SPDX-License-Identifier: GPL-2.0-or-later
"""A translated help page says everything the English one says: same sections, items and names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

HELP = Path(__file__).resolve().parents[2] / "processing_provider" / "help"
TRANSLATED = sorted(HELP.glob("*/*.html"))


def _outline(page: Path) -> tuple[int, int, list[str]]:
    """(sections, list items, the sorted <code> names: parameters, outputs and fields)."""
    text = page.read_text(encoding="utf-8")
    return text.count("<h3>"), text.count("<li>"), sorted(re.findall(r"<code>(.*?)</code>", text, re.S))


def test_there_are_translated_pages() -> None:
    assert TRANSLATED, f"no help/<language>/*.html under {HELP}"


@pytest.mark.parametrize("page", TRANSLATED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_translated_help_matches_the_english_page(page: Path) -> None:
    english = HELP / page.name
    assert english.exists(), f"{page} translates a page that does not exist"
    sections, items, names = _outline(page)
    en_sections, en_items, en_names = _outline(english)
    assert (sections, items) == (en_sections, en_items), (
        f"{page.relative_to(HELP)} has {sections} sections and {items} items, the English page "
        f"{en_sections} and {en_items}: translate the new paragraphs"
    )
    assert names == en_names, f"names missing or extra in {page.relative_to(HELP)}"
