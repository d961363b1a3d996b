// Draw every figure of the charts page with the locally served plotly.js cartesian bundle
// (static/vendor/plotly-cartesian.min.js: scatter, bar, heatmap and a few more trace types; a
// type it lacks would be drawn as a scatter without a word, see static/vendor/README.md).
// Figures are JSON data blocks (<script type="application/json" id="...">) built by
// arena/leaderboard/charts.py; this file holds the only code, so a strict CSP needs no
// 'unsafe-inline'.
(function () {
  "use strict";

  function themeColours() {
    var style = getComputedStyle(document.documentElement);
    var read = function (name, fallback) {
      var value = style.getPropertyValue(name).trim();
      return value || fallback;
    };
    return { text: read("--text", "#1c1c1e"), grid: read("--border", "#d8d8dc") };
  }

  function themed(layout, colours) {
    var axis = { color: colours.text, gridcolor: colours.grid, linecolor: colours.grid, zerolinecolor: colours.grid };
    var out = Object.assign({}, layout, { font: Object.assign({}, layout.font, { color: colours.text }) });
    Object.keys(layout).forEach(function (key) {
      if (/^[xy]axis\d*$/.test(key)) {
        out[key] = Object.assign({}, axis, layout[key]);
      }
    });
    return out;
  }

  function drawAll() {
    if (typeof Plotly === "undefined") {
      return;
    }
    var colours = themeColours();
    document.querySelectorAll("[data-figure]").forEach(function (target) {
      var source = document.getElementById(target.getAttribute("data-figure"));
      if (!source) {
        return;
      }
      var figure = JSON.parse(source.textContent);
      Plotly.react(target, figure.data, themed(figure.layout || {}, colours), {
        responsive: true,
        displaylogo: false,
      });
    });
  }

  document.addEventListener("DOMContentLoaded", drawAll);
  if (window.matchMedia) {
    var scheme = window.matchMedia("(prefers-color-scheme: dark)");
    if (scheme.addEventListener) {
      scheme.addEventListener("change", drawAll);
    }
  }
})();
