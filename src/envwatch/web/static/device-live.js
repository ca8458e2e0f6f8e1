/* The device page's live chart: the chosen factor's real-time values of the last two hours, redrawn each
   time htmx swaps in the refreshed latest-values block (every 30 s). Same-origin file (the CSP forbids
   inline scripts); the data come from the block's JSON (#live-data). */
(function () {
  "use strict";
  var chart = null;
  function draw() {
    var holder = document.getElementById("live-chart");
    var block = document.getElementById("live-data");
    if (chart) { chart.dispose(); chart = null; }
    if (!holder || !block || typeof echarts === "undefined") { return; }
    var data = JSON.parse(block.textContent);
    chart = echarts.init(holder, null, { renderer: "canvas" });
    chart.setOption({
      animation: false,
      grid: { left: 48, right: 16, top: 32, bottom: 40 },
      tooltip: { trigger: "axis" },
      legend: { data: [data.label + " " + data.factor] },
      xAxis: { type: "category", data: data.times },
      yAxis: { type: "value", scale: true },
      series: [{
        name: data.label + " " + data.factor,
        type: "line",
        // a value flagged other than N is drawn red: the flag says the analyser was not measuring normally
        data: data.values.map(function (v, i) {
          return data.flags[i] && data.flags[i] !== "N" ? { value: v, itemStyle: { color: "#b42318" } } : v;
        }),
        showSymbol: false,
        itemStyle: { color: "#0b5cad" }
      }]
    });
  }
  // the only swap on the page is the latest-values block's (outerHTML: the old element is gone, so the
  // event's target is not a reliable test); draw() finds the new block itself
  document.addEventListener("htmx:afterSwap", draw);
  window.addEventListener("resize", function () { if (chart) { chart.resize(); } });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
