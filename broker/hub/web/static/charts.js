// Draws each chart of a page with the vendored Chart.js, from the data the hub sent with the
// page (a JSON script next to each canvas, see broker/hub/web/chartspec.py): axes with titles,
// waits in minutes on their own axis, a legend, and exact values on hover or tap.
(function () {
  "use strict";

  function mmss(minutes) {
    var s = Math.round(minutes * 60);
    var h = Math.floor(s / 3600);
    var m = Math.floor((s % 3600) / 60);
    var sec = String(s % 60).padStart(2, "0");
    return h ? h + ":" + String(m).padStart(2, "0") + ":" + sec : m + ":" + sec;
  }

  function draw(figure) {
    var spec = JSON.parse(figure.querySelector("script[type='application/json']").textContent);
    var phone = window.matchMedia("(max-width: 760px)").matches;
    var scales = {
      x: {
        title: { display: true, text: spec.x },
        // labels never overlap: Chart.js leaves out those that would not fit
        ticks: { autoSkip: true, autoSkipPadding: 8, maxRotation: 0 },
        grid: { display: false }
      }
    };
    Object.keys(spec.axes).forEach(function (id) {
      var a = spec.axes[id];
      scales[id] = {
        type: "linear", position: id === "y2" ? "right" : "left", min: a.min, max: a.max,
        title: { display: true, text: a.title },
        ticks: { callback: function (v) { return a.unit === "minutes" ? mmss(v) : v; } },
        grid: { drawOnChartArea: id === "y" }
      };
    });
    var datasets = spec.series.map(function (s) {
      return {
        label: s.label, data: s.data, type: s.type, yAxisID: s.axis,
        borderColor: s.colour, backgroundColor: s.colours || s.colour,
        borderWidth: s.type === "bar" ? 0 : 2, borderDash: s.dashed ? [6, 4] : [],
        showLine: !s.pointsOnly, pointRadius: s.pointsOnly ? 5 : 3, spanGaps: false,
        order: s.type === "bar" ? 2 : 1, notes: s.notes, text: s.text
      };
    });
    new window.Chart(figure.querySelector("canvas"), {
      type: spec.kind,
      data: { labels: spec.labels, datasets: datasets },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: { display: true, position: "bottom", labels: { boxWidth: phone ? 12 : 30 } },
          tooltip: {
            callbacks: {
              label: function (ctx) {
                var d = ctx.dataset;
                var note = d.notes && ctx.parsed.y !== null ? " (" + d.notes[ctx.dataIndex] + ")" : "";
                // the hub wrote each value as the page writes it; the plotted one is rounded
                return d.label + ": " + d.text[ctx.dataIndex] + note;
              }
            }
          }
        },
        scales: scales
      }
    });
  }

  document.querySelectorAll("figure.chartjs").forEach(draw);
})();
