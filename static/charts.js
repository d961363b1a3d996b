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

  // Below this width (px) a chart is laid out for a phone: its title and the model names are cut
  // into lines or set upright, its legend goes under the plot (beside it, it would squeeze the
  // plot), a heatmap has no colour bar (its cells print their values), and the mode bar is left
  // out (it would cover the title; its tools need a mouse).
  var NARROW = 640;

  // `text` cut into lines of at most about `width` characters, at spaces.
  function lines(text, width) {
    var out = [];
    var line = "";
    String(text).split(" ").forEach(function (word) {
      if (line && (line + " " + word).length > width) {
        out.push(line);
        line = word;
      } else {
        line = line ? line + " " + word : word;
      }
    });
    if (line) {
      out.push(line);
    }
    return out;
  }

  // Rows a horizontal legend of these names takes in `width` px (plotly.js: ~40 px per entry
  // for its symbol and gaps, ~7 px per character).
  function legendRows(names, width) {
    var rows = 1;
    var used = 0;
    names.forEach(function (name) {
      var entry = 40 + 7 * String(name).length;
      if (used && used + entry > width) {
        rows += 1;
        used = 0;
      }
      used += entry;
    });
    return rows;
  }

  function forPhone(figure, width) {
    var data = JSON.parse(JSON.stringify(figure.data));
    var layout = JSON.parse(JSON.stringify(figure.layout || {}));
    var height = layout.height || 450;
    var title = layout.title || {};
    var titleLines = lines(title.text || "", Math.max(16, Math.floor((width - 20) / 9)));
    layout.title = Object.assign({}, title, { text: titleLines.join("<br>") });
    // The axes' automargin (charts.py) widens these as far as their labels need.
    layout.margin = Object.assign({}, layout.margin, { l: 10, r: 10, t: 24 + 22 * titleLines.length, b: 10 });
    // Category labels (model names) in a smaller font: under the plot one per line, upright
    // (room for each whatever the number of models); beside it cut into short lines.
    ["xaxis", "yaxis"].forEach(function (name) {
      var axis = layout[name] || {};
      var values = [];
      data.forEach(function (trace) {
        (Array.isArray(trace[name[0]]) ? trace[name[0]] : []).forEach(function (value) {
          if (typeof value === "string" && values.indexOf(value) < 0) {
            values.push(value);
          }
        });
      });
      if (axis.type === "date" || !values.length) {
        return;
      }
      // The names say what the axis shows; its title would only take room.
      var changes = { tickfont: Object.assign({}, axis.tickfont, { size: 10 }), title: { text: "" } };
      if (name === "xaxis") {
        changes.tickangle = -90;
        height += 6 * Math.max.apply(null, values.map(function (value) { return value.length; }));
      } else {
        changes.tickmode = "array";
        changes.tickvals = values;
        changes.ticktext = values.map(function (value) {
          return lines(value, 16).join("<br>");
        });
      }
      layout[name] = Object.assign({}, axis, changes);
    });
    var named = data.filter(function (trace) {
      return trace.showlegend !== false && trace.type !== "heatmap";
    });
    if (named.length > 1 && layout.showlegend !== false) {
      var rows = legendRows(named.map(function (trace) { return trace.name || ""; }), width);
      layout.legend = Object.assign({}, layout.legend, {
        orientation: "h", x: 0, xanchor: "left", y: 0, yanchor: "bottom", yref: "container",
      });
      height += 22 * rows;
    }
    data.forEach(function (trace) {
      if (trace.type === "heatmap") {
        // Every cell prints its value: the colour bar beside it would only squeeze the plot.
        trace.showscale = false;
        trace.textfont = Object.assign({}, trace.textfont, { size: 9 });
      }
    });
    layout.height = height;
    return { data: data, layout: layout, config: { displayModeBar: false } };
  }

  function fitted(figure, width) {
    if (width < NARROW) {
      return forPhone(figure, width);
    }
    return { data: figure.data, layout: figure.layout || {}, config: {} };
  }

  // A chart's data-drawn says how it was last drawn once plotly.js is done ("phone" or "wide";
  // absent while drawing): what the browser tests wait for.
  function drawAll(onlyChanged) {
    if (typeof Plotly === "undefined") {
      return;
    }
    var colours = themeColours();
    document.querySelectorAll("[data-figure]").forEach(function (target) {
      var source = document.getElementById(target.getAttribute("data-figure"));
      if (!source) {
        return;
      }
      var width = target.clientWidth;
      var narrow = width < NARROW;
      var drawn = narrow ? "phone" : "wide";
      if (onlyChanged === true && target.getAttribute("data-drawn") === drawn) {
        return;
      }
      target.removeAttribute("data-drawn");
      var figure = fitted(JSON.parse(source.textContent), width);
      Plotly.react(target, figure.data, themed(figure.layout, colours), Object.assign({
        responsive: true,
        displaylogo: false,
      }, figure.config)).then(function () {
        target.setAttribute("data-drawn", drawn);
      });
    });
  }

  var resizing = null;
  window.addEventListener("resize", function () {
    window.clearTimeout(resizing);
    resizing = window.setTimeout(function () {
      drawAll(true);
    }, 200);
  });

  document.addEventListener("DOMContentLoaded", function () {
    drawAll(false);
  });
  if (window.matchMedia) {
    var scheme = window.matchMedia("(prefers-color-scheme: dark)");
    if (scheme.addEventListener) {
      scheme.addEventListener("change", function () {
        drawAll(false);
      });
    }
  }
})();
