"""What every manager page must hold in a real browser, whatever its content: no text outside
its box, nothing wider than the screen but inside a scroll box, no request to anything but
the hub."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# Each visible text run against the box (nearest non-inline ancestor) that holds it; a run
# inside a sideways-scrolling box may run past the screen but not past its own box.
_OVERFLOW_JS = """
() => {
  const bad = [];
  const boxOf = el => {
    let b = el;
    while (b.parentElement && getComputedStyle(b).display.startsWith('inline')) b = b.parentElement;
    return b;
  };
  const inScroll = el => {
    for (let a = el; a && a !== document.body; a = a.parentElement) {
      const o = getComputedStyle(a).overflowX;
      if (o === 'auto' || o === 'scroll') return true;
    }
    return false;
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const t = walker.currentNode;
    if (!t.textContent.trim()) continue;
    const el = t.parentElement;
    if (el.closest('script, style, title, option, svg')) continue;
    const st = getComputedStyle(el);
    if (st.visibility === 'hidden' || st.display === 'none') continue;
    const range = document.createRange();
    range.selectNodeContents(t);
    const tr = range.getBoundingClientRect();
    if (!tr.width || !tr.height) continue;
    const box = boxOf(el).getBoundingClientRect();
    const text = t.textContent.trim().slice(0, 40);
    if (tr.left < box.left - 1 || tr.right > box.right + 1 || tr.top < box.top - 1 ||
        tr.bottom > box.bottom + 1) {
      bad.push(`"${text}" runs out of its <${boxOf(el).tagName.toLowerCase()}>`);
    } else if (!inScroll(el) && (tr.left < -1 || tr.right > innerWidth + 1)) {
      bad.push(`"${text}" runs off the screen`);
    }
  }
  if (document.documentElement.scrollWidth > innerWidth + 1) {
    bad.push(`the page is ${document.documentElement.scrollWidth} px wide on ${innerWidth}`);
  }
  return bad;
}
"""


def overflowing_text(page: Any) -> list[str]:
    """Every text that runs out of its box or off the screen (empty when the page is right)."""
    return page.evaluate(_OVERFLOW_JS)


@contextmanager
def only_hub_requests(page: Any, hub_url: str) -> Iterator[list[str]]:
    """Records every request the page makes; fails if any goes anywhere but the hub."""
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url))
    yield seen
    foreign = [u for u in seen if not (u.startswith(hub_url + "/") or u == hub_url
                                       or u.startswith(("data:", "about:", "blob:")))]
    assert not foreign, f"requests beyond the hub: {foreign}"
