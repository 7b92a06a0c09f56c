// genjin board: draws every chart the page declares, without inline script (the CSP allows none).
// A chart is <div class="chart" data-chart="ID"> plus <script type="application/json" id="ID">
// holding an ECharts option (bot/templates/board/charts.html). ECharts (vendored next to this
// file) is loaded only on pages that have a chart.
(function () {
  "use strict";
  var me = document.currentScript;
  var library = me && me.getAttribute("data-echarts");

  function specOf(div) {
    var holder = document.getElementById(div.getAttribute("data-chart"));
    if (!holder) { return null; }
    try { return JSON.parse(holder.textContent); } catch (e) { return null; }
  }

  function draw(divs) {
    var drawn = [];
    divs.forEach(function (div) {
      var spec = specOf(div);
      if (!spec) { div.textContent = "图表数据有误"; return; }
      if (spec.animation === undefined) { spec.animation = false; }  // drawn at once, still
      var chart = window.echarts.init(div, null, { renderer: "canvas" });
      chart.setOption(spec);
      div.setAttribute("data-drawn", "1");
      drawn.push(chart);
    });
    var pending = null;
    window.addEventListener("resize", function () {
      if (pending) { window.clearTimeout(pending); }
      pending = window.setTimeout(function () {
        drawn.forEach(function (chart) { chart.resize(); });
      }, 150);
    });
    document.documentElement.setAttribute("data-charts", String(drawn.length));
  }

  function start() {
    var divs = Array.prototype.slice.call(document.querySelectorAll("div.chart[data-chart]"));
    if (!divs.length || !library) { return; }
    if (window.echarts) { draw(divs); return; }
    var script = document.createElement("script");
    script.src = library;
    script.onload = function () { draw(divs); };
    script.onerror = function () {
      divs.forEach(function (div) { div.textContent = "图表加载失败，请刷新页面"; });
    };
    document.head.appendChild(script);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
