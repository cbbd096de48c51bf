"""Find a font that draws both Latin and CJK text.

Kivy's bundled Roboto has no Chinese glyphs (they would show as boxes), so the kiosk loads a
CJK font by path: the config's, else the first of the Debian packages below that is installed.
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)

# (Debian package, file) in order of preference: WenQuanYi Micro Hei is small (5 MB) and made
# for Simplified Chinese; Noto Sans CJK is the fallback a Raspberry Pi OS desktop often has.
CANDIDATES = (
    ("fonts-wqy-microhei", "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    ("fonts-noto-cjk", "/usr/share/opentype/noto/NotoSansCJK-Regular.ttc"),
    ("fonts-noto-cjk", "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    ("fonts-wqy-zenhei", "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    ("fonts-droid-fallback", "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"),
)
RECOMMENDED_PACKAGE = CANDIDATES[0][0]


def find_cjk_font(configured: str | None = None) -> Path | None:
    """The font file to use, or None when no CJK font is installed (Latin still renders)."""
    if configured:
        path = Path(configured).expanduser()
        if path.is_file():
            return path
        log.warning("screen.font %s does not exist; searching installed fonts", path)
    for _, candidate in CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    found = _fontconfig_match()
    if found:
        return found
    log.warning(
        "no CJK font found: Chinese text will not render. Install it: apt install %s",
        RECOMMENDED_PACKAGE,
    )
    return None


def _fontconfig_match() -> Path | None:
    """Ask fontconfig for any font covering Chinese, when fc-list is there."""
    try:
        out = subprocess.run(
            ["fc-list", ":lang=zh-cn", "file"], capture_output=True, text=True, timeout=5
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in sorted(out.splitlines()):
        path = Path(line.split(":")[0].strip())
        if path.suffix.lower() in (".ttf", ".ttc", ".otf") and path.is_file():
            return path
    return None
