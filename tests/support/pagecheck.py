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


# Every chart on the page: a Chart.js chart with a titled axis for each scale and a legend, or
# an SVG heat map with its colour legend; each with the table behind it.
_CHARTS_JS = """
() => {
  const bad = [];
  for (const fig of document.querySelectorAll('figure.chartjs')) {
    const id = fig.id || '(chart)';
    const chart = window.Chart && window.Chart.getChart(fig.querySelector('canvas'));
    if (!chart) { bad.push(`${id}: not drawn`); continue; }
    for (const [key, scale] of Object.entries(chart.scales)) {
      const t = scale.options.title;
      if (!t || !t.display || !t.text) bad.push(`${id}: axis ${key} has no title`);
      if (!scale.ticks.length) bad.push(`${id}: axis ${key} has no ticks`);
    }
    const legend = chart.legend;
    if (!legend || !legend.options.display || !legend.legendItems.length) {
      bad.push(`${id}: no legend`);
    }
    if (chart.options.plugins.tooltip.enabled === false) bad.push(`${id}: no values on hover`);
    if (!chart.width || !chart.height) bad.push(`${id}: drawn with no size`);
    // its own table, or the one its canvas names (two charts sharing an hour-by-hour table)
    const ref = fig.querySelector('canvas').getAttribute('aria-describedby');
    const table = ref ? document.getElementById(ref) : fig.querySelector('table.behind');
    if (!table || !table.querySelector('tbody tr')) bad.push(`${id}: no table behind it`);
  }
  for (const svg of document.querySelectorAll('svg.heat')) {
    const name = svg.getAttribute('aria-label');
    if (!svg.querySelector('.legend text')) bad.push(`${name}: no legend`);
  }
  for (const fig of document.querySelectorAll('figure.heatmap')) {
    if (!fig.querySelector('table.behind')) bad.push(`${fig.id}: no table behind it`);
  }
  return bad;
}
"""


def chart_problems(page: Any) -> list[str]:
    """Every chart without its axes' titles, its legend, hover values or the table behind it
    (empty when every chart is right)."""
    return page.evaluate(_CHARTS_JS)


def hover_tooltip(page: Any, figure_id: str, series: int = 0) -> list[str]:
    """Moves the pointer onto the first point of a series that has a value, as a finger or a
    mouse would, and returns the tooltip's lines."""
    page.locator(f"#{figure_id} canvas").scroll_into_view_if_needed()
    point = page.evaluate("""([id, series]) => {
        const canvas = document.querySelector(`#${id} canvas`);
        const chart = window.Chart.getChart(canvas);
        const meta = chart.getDatasetMeta(series);
        const i = chart.data.datasets[series].data.findIndex(v => v !== null);
        const box = canvas.getBoundingClientRect();
        const el = meta.data[i];
        return {x: box.left + el.x, y: box.top + (el.y + (el.base ?? el.y)) / 2};
    }""", [figure_id, series])
    page.mouse.move(point["x"], point["y"])
    return page.evaluate("""(id) => {
        const chart = window.Chart.getChart(document.querySelector(`#${id} canvas`));
        if (!chart.tooltip || !chart.tooltip.opacity) return [];
        return chart.tooltip.body.flatMap(b => b.lines);
    }""", figure_id)
