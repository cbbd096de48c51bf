// Keeps a zone or store page live: polls the JSON named by #live's data-src every few seconds
// and draws the open alerts and the last hour's figures into #live. Text only (textContent),
// never HTML from the server; a failed poll keeps what is shown and says so.
(function () {
  "use strict";
  var box = document.getElementById("live");
  if (!box || !box.dataset.src) { return; }
  var every = 5000;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }

  function draw(data) {
    // every word comes with the figures, in the reader's language (see live.py)
    var t = data.text;
    var head = el("h2", null, t.heading);
    head.appendChild(el("span", "muted small", " " + t.note));
    var alerts = el("ul", "alerts live-alerts");
    data.alerts.forEach(function (a) {
      // not the pages' alert-item: those carry the acknowledge form, these only show
      var li = el("li", "live-alert");
      li.dataset.liveAlert = a.alert_id;  // not data-alert: the pages' own alerts carry that
      li.appendChild(el("span", "badge alert", t.open));
      li.appendChild(el("strong", null, " " + a.zone_id + " "));
      li.appendChild(el("span", "cause", a.cause));
      li.appendChild(el("div", "muted small", a.state_line));
      alerts.appendChild(li);
    });
    if (!data.alerts.length) { alerts.appendChild(el("li", "muted", t.none)); }
    var table = el("table", "live-figures");
    var row = el("tr");
    t.columns.forEach(function (h) {
      row.appendChild(el("th", null, h));
    });
    table.appendChild(row);
    data.zones.forEach(function (z) {
      var tr = el("tr");
      tr.dataset.liveZone = z.zone_id;  // not data-zone: the pages' zone rows carry that
      // the figures as the pages write them: the hub formats them, not this script
      [z.zone_id, z.ratings, z.unhappy, z.happy_text,
       z.wait_text].forEach(function (v) { tr.appendChild(el("td", null, v)); });
      table.appendChild(tr);
    });
    var wrap = el("div", "scroll");  // a phone scrolls the table, not the page
    wrap.appendChild(table);
    box.replaceChildren(head, alerts, wrap);
    box.dataset.updated = data.updated;
  }

  function poll() {
    fetch(box.dataset.src, {credentials: "same-origin", cache: "no-store"})
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (data) { box.classList.remove("stale"); draw(data); })
      .catch(function () { box.classList.add("stale"); })
      .then(function () { window.setTimeout(poll, every); });
  }
  poll();
}());
