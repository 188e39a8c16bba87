// Progressive enhancement: every table marked data-chart stays in the page (it is the
// accessible, no-JavaScript form of the data); a bar chart is drawn above it.
(function () {
  "use strict";
  if (typeof Chart === "undefined") { return; }
  document.querySelectorAll("table[data-chart]").forEach(function (table) {
    var labels = [], values = [];
    table.querySelectorAll("tbody tr").forEach(function (row) {
      var cells = row.querySelectorAll("th, td");
      if (cells.length < 2) { return; }
      labels.push(cells[0].textContent.trim());
      values.push(Number(cells[1].textContent.trim()));
    });
    if (labels.length === 0) { return; }
    var box = document.createElement("div");
    box.className = "chart";
    var canvas = document.createElement("canvas");
    var caption = table.querySelector("caption");
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", (caption ? caption.textContent : "chart") + " (the table below holds the same figures)");
    box.appendChild(canvas);
    table.parentNode.insertBefore(box, table);
    new Chart(canvas, {
      type: "bar",
      data: { labels: labels, datasets: [{ label: caption ? caption.textContent : "", data: values, backgroundColor: "#0b4f9c" }] },
      options: { maintainAspectRatio: false, plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
    });
  });
})();
