/* The device page's chart: hourly values of one factor, invalid hours shaded. Same-origin file (the
   Content-Security-Policy forbids inline scripts); the data come from the page's JSON block. */
(function () {
  "use strict";
  function draw() {
    var holder = document.getElementById("chart");
    var block = document.getElementById("chart-data");
    if (!holder || !block || typeof echarts === "undefined") { return; }
    var data = JSON.parse(block.textContent);
    var chart = echarts.init(holder, null, { renderer: "canvas" });
    chart.setOption({
      animation: false,
      grid: { left: 48, right: 16, top: 32, bottom: 48 },
      tooltip: { trigger: "axis" },
      legend: { data: [data.labels.value + " " + data.factor] },
      xAxis: { type: "category", data: data.times },
      yAxis: { type: "value", scale: true },
      series: [{
        name: data.labels.value + " " + data.factor,
        type: "line",
        // invalid hours also get red points: visible even where the shaded band is thin
        data: data.values.map(function (v, i) {
          return data.outcomes[i] === "invalid" ? { value: v, itemStyle: { color: "#b42318" } } : v;
        }),
        connectNulls: false,
        showSymbol: true,
        symbolSize: 5,
        itemStyle: { color: "#0b5cad" },
        markArea: {
          silent: true,
          itemStyle: { color: "rgba(180, 35, 24, 0.15)" },
          label: { show: false },
          data: data.invalid.map(function (pair) {
            return [{ name: data.labels.invalid, xAxis: pair[0] }, { xAxis: pair[1] }];
          })
        }
      }]
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
