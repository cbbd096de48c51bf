"""Every string of every catalog is drawn with real glyphs of the kiosk's font: no boxes.

The kiosk draws all text with one font (kiosk/fonts.py picks it; SDL_ttf has no fallback), and
a character that font lacks is drawn as its "missing glyph", a box. So each character is
rendered with that font, the way the screens render it, and compared with the missing glyph's
own rendering."""

from __future__ import annotations

from pathlib import Path

import pytest

from peakend.kiosk.catalog import KNOWN_LANGUAGES, strings
from peakend.kiosk.fonts import find_cjk_font
from peakend.kiosk.settings import load_kiosk_config

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "kiosk.toml"
# Characters no text font has (a private-use code point, an Egyptian hieroglyph): what they
# draw is the font's missing glyph.
SURELY_MISSING = ("\ue000", "\U00013000")


@pytest.fixture(scope="module")
def missing_glyphs(window):  # type: ignore[no-untyped-def]
    from kivy.core.text import Label as CoreLabel

    font = find_cjk_font(None)
    assert font is not None, "no CJK font installed: apt install fonts-wqy-microhei"

    def draw(char: str) -> tuple[tuple[int, int], bytes]:
        label = CoreLabel(text=char, font_name=str(font), font_size=32)
        label.refresh()
        return tuple(label.texture.size), bytes(label.texture.pixels)  # type: ignore[return-value]

    boxes = {draw(char) for char in SURELY_MISSING}
    assert len(boxes) == 1, "both unknown characters draw the same missing glyph"

    def missing(text: str) -> list[str]:
        return sorted({c for c in text if not c.isspace() and draw(c) in boxes})

    return missing


def test_the_check_finds_a_deliberately_missing_glyph(missing_glyphs) -> None:
    assert missing_glyphs("Danke 😀 谢谢") == ["😀"]
    assert missing_glyphs("Grüße, 谢谢！ 4:05") == []


@pytest.mark.parametrize("language", KNOWN_LANGUAGES)
def test_every_string_of_every_catalog_has_its_glyphs(missing_glyphs, language) -> None:
    found = {key: missing_glyphs(value) for key, value in strings(language).items()}
    assert {k: v for k, v in found.items() if v} == {}, language


def test_the_documented_questions_and_reasons_have_their_glyphs(missing_glyphs) -> None:
    config = load_kiosk_config(EXAMPLE)
    texts = [*config.kiosk.question.values()]
    for reason in [*config.followup.unhappy, *config.followup.happy]:
        texts += reason.labels.values()
    assert missing_glyphs("".join(texts)) == []
