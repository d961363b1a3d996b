// Layout defects a reader would see on the page as it is drawn now; evaluated in the page by
// tests/browser/test_layout.py with { phone: true|false }. Returns one sentence per defect:
// - the document wider than the window (the page scrolls sideways);
// - an element whose content is wider than it, unless it is a scroll container (overflow-x
//   auto or scroll, like a table's wrapper or a code block);
// - text cut off: a line outside a box that clips it (overflow hidden or clip), wrapping text
//   (prose) wider than the scroll container it is seen through (every line needs a sideways
//   scroll: a caption as wide as its table), text outside the window;
// - two texts drawn over one another (but under a sticky or fixed bar, which covers text on
//   purpose while the page scrolls);
// - a Plotly chart whose plot area is under 60% of the chart's width (squeezed by its legend or
//   margins), any of its texts outside its SVG (tick labels cut at the left edge), an axis title
//   among its tick labels, two of its texts overlapping (turned tick labels included), or its
//   mode bar over a text (the title);
// - a heading, label, legend or caption with the same text as another one shown;
// - on a phone, a keyboard hint shown (there is no keyboard to press it on).
({ phone }) => {
  const problems = [];
  const SLACK = 1; // px: sub-pixel rounding
  const hidden = (el) => el.closest(".visually-hidden, .skip-link") !== null;
  const shown = (el) => {
    if (hidden(el) || !el.checkVisibility({ opacityProperty: false, visibilityProperty: true })) {
      return false;
    }
    const rect = el.getBoundingClientRect();
    return rect.width > 0 && rect.height > 0;
  };
  const name = (el) => {
    let out = el.tagName.toLowerCase();
    if (el.id) out += "#" + el.id;
    const classes = typeof el.className === "string" ? el.className.trim() : "";
    if (classes) out += "." + classes.split(/\s+/).join(".");
    const text = (el.textContent || "").trim().replace(/\s+/g, " ");
    return text ? `${out} "${text.slice(0, 40)}"` : out;
  };
  const px = (value) => Math.round(value);
  const inSvg = (el) => el instanceof SVGElement || el.closest("svg") !== null;

  // The document no wider than the window.
  const root = document.scrollingElement;
  if (root.scrollWidth > root.clientWidth + SLACK) {
    problems.push(`the page is ${root.scrollWidth} px wide in a ${root.clientWidth} px window`);
  }

  // Elements whose content overflows them sideways, unless they are meant to scroll.
  for (const el of document.body.querySelectorAll("*")) {
    if (inSvg(el) || !shown(el)) continue;
    const style = getComputedStyle(el);
    if (style.display.startsWith("inline") && style.display !== "inline-block") continue;
    if (el.scrollWidth <= el.clientWidth + SLACK) continue;
    if (style.overflowX === "auto" || style.overflowX === "scroll") continue;
    problems.push(
      `${name(el)}: its content is ${el.scrollWidth} px wide in a ${el.clientWidth} px box` +
        ` (overflow-x: ${style.overflowX})`
    );
  }

  // Text cut off.
  const vw = root.clientWidth;
  const clippers = (el) => {
    const found = [];
    for (let e = el; e && e !== document.documentElement; e = e.parentElement) {
      const style = getComputedStyle(e);
      if (style.overflowX !== "visible" || style.overflowY !== "visible") found.push([e, style]);
    }
    return found;
  };
  // Boxes pinned to the window (a sticky vote bar) may cover text on purpose while scrolling.
  const pinned = (el) => {
    for (let e = el; e && e !== document.body; e = e.parentElement) {
      if (/fixed|sticky/.test(getComputedStyle(e).position)) return true;
    }
    return false;
  };
  const texts = []; // [line box, element, text node] of every text shown
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const el = node.parentElement;
    if (!node.textContent.trim() || !el || inSvg(el) || !shown(el)) continue;
    range.selectNodeContents(node);
    const lines = [...range.getClientRects()].filter((r) => r.width > 0 && r.height > 0);
    if (!lines.length) continue;
    if (!pinned(el)) lines.forEach((line) => texts.push([line, el, node]));
    const wraps = !/^(pre|nowrap)$/.test(getComputedStyle(el).whiteSpace);
    const what = `"${node.textContent.trim().replace(/\s+/g, " ").slice(0, 50)}"`;
    const report = (text) => {
      if (!seen.has(text)) problems.push(text);
      seen.add(text);
    };
    let scrolled = false;
    for (const [box, style] of clippers(el)) {
      const outer = box.getBoundingClientRect();
      const left = outer.left + box.clientLeft;
      const top = outer.top + box.clientTop;
      const right = left + box.clientWidth;
      const bottom = top + box.clientHeight;
      const scrolls = /auto|scroll/.test(style.overflowX);
      scrolled = scrolled || scrolls;
      for (const line of lines) {
        if (!scrolls) {
          const outside =
            line.left < left - SLACK ||
            line.right > right + SLACK ||
            (!/auto|scroll/.test(style.overflowY) &&
              (line.top < top - SLACK || line.bottom > bottom + SLACK));
          if (outside) report(`${what} in ${name(el)} is cut off by ${name(box)}`);
        } else if (wraps && line.width > box.clientWidth + SLACK) {
          report(
            `${what} in ${name(el)}: wrapping text with ${px(line.width)} px lines, wider than` +
              ` the ${box.clientWidth} px it is seen through in ${name(box)} (read by scrolling` +
              " sideways on every line)"
          );
        }
      }
    }
    if (!scrolled) {
      for (const line of lines) {
        if (line.left < -SLACK || line.right > vw + SLACK) {
          report(`${what} in ${name(el)} runs out of the ${vw} px window`);
        }
      }
    }
  }

  // Texts drawn over one another (an absolutely placed label over a paragraph, lines of a
  // heading whose line height is too small): line boxes of different text nodes overlapping.
  texts.sort((a, b) => a[0].top - b[0].top);
  for (let i = 0; i < texts.length; i++) {
    const [a, elA, nodeA] = texts[i];
    for (let j = i + 1; j < texts.length && texts[j][0].top < a.bottom - 2; j++) {
      const [b, elB, nodeB] = texts[j];
      if (nodeA === nodeB) continue;
      const across = Math.min(a.right, b.right) - Math.max(a.left, b.left);
      const down = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
      if (across > 2 && down > 2) {
        const snippet = (node) => `"${node.textContent.trim().replace(/\s+/g, " ").slice(0, 30)}"`;
        problems.push(`${snippet(nodeA)} in ${name(elA)} and ${snippet(nodeB)} in ${name(elB)} overlap`);
      }
    }
  }

  // Plotly charts.
  const rectOf = (el) => el.getBoundingClientRect();
  for (const plot of document.querySelectorAll(".js-plotly-plot")) {
    const layout = plot._fullLayout;
    const title = plot.querySelector(".gtitle");
    const chart = `chart "${title ? title.textContent : plot.dataset.figure || "?"}"`;
    if (!layout) continue;
    if (layout._size.w < 0.6 * layout.width) {
      problems.push(
        `${chart}: the plot area is ${px(layout._size.w)} px of the chart's ${px(layout.width)} px`
      );
    }
    const svg = rectOf(plot.querySelector(".main-svg"));
    for (const text of plot.querySelectorAll(".main-svg text")) {
      const box = rectOf(text);
      if (!text.textContent.trim() || !box.width) continue;
      if (
        box.left < svg.left - SLACK ||
        box.right > svg.right + SLACK ||
        box.top < svg.top - SLACK ||
        box.bottom > svg.bottom + SLACK
      ) {
        const side = box.left < svg.left - SLACK ? "left" : box.right > svg.right + SLACK ? "right" : "top or bottom";
        problems.push(`${chart}: "${text.textContent}" is cut off at the chart's ${side} edge`);
      }
    }
    // Each axis title beyond its tick labels, not among them (where a longer label would run
    // into it).
    const rects = (selector) =>
      [...plot.querySelectorAll(selector)].filter((e) => e.textContent.trim()).map(rectOf);
    for (const [titles, ticks, side] of [
      [".g-ytitle text", ".ytick text", "left"],
      [".g-y2title text", ".y2tick text", "right"],
      [".g-xtitle text", ".xtick text", "bottom"],
    ]) {
      const labels = rects(ticks);
      for (const title of rects(titles)) {
        if (!labels.length || !title.width) continue;
        const among =
          side === "left"
            ? title.right > Math.min(...labels.map((r) => r.left)) + SLACK
            : side === "right"
              ? title.left < Math.max(...labels.map((r) => r.right)) - SLACK
              : title.top < Math.max(...labels.map((r) => r.bottom)) - SLACK;
        if (among) problems.push(`${chart}: the ${side} axis title stands among its tick labels`);
      }
    }
    // No two of its texts overlap (tick labels, titles, legend entries, cell texts), nor does
    // the mode bar cover any: each text is the rectangle of its box, turned as it is drawn.
    const quads = [];
    for (const text of plot.querySelectorAll(".main-svg text")) {
      if (!text.textContent.trim() || !rectOf(text).width) continue;
      const box = text.getBBox();
      const m = text.getScreenCTM();
      const inset = 1; // px: glyph boxes of neighbours may touch
      const corners = [
        [box.x + inset, box.y + inset],
        [box.x + box.width - inset, box.y + inset],
        [box.x + box.width - inset, box.y + box.height - inset],
        [box.x + inset, box.y + box.height - inset],
      ].map(([x, y]) => [m.a * x + m.c * y + m.e, m.b * x + m.d * y + m.f]);
      quads.push([`"${text.textContent.slice(0, 30)}"`, corners]);
    }
    const modebar = plot.querySelector(".modebar");
    if (modebar && rectOf(modebar).width) {
      const r = rectOf(modebar);
      quads.push(["the mode bar", [[r.left, r.top], [r.right, r.top], [r.right, r.bottom], [r.left, r.bottom]]]);
    }
    // Separating axis theorem: two convex quadrilaterals overlap unless some edge's normal
    // separates their projections.
    const apart = (p, q) =>
      [p, q].some((shape) =>
        shape.some((corner, i) => {
          const next = shape[(i + 1) % 4];
          const normal = [next[1] - corner[1], corner[0] - next[0]];
          const project = (points) => points.map(([x, y]) => x * normal[0] + y * normal[1]);
          const a = project(p);
          const b = project(q);
          return Math.max(...a) <= Math.min(...b) || Math.max(...b) <= Math.min(...a);
        })
      );
    for (let i = 0; i < quads.length; i++) {
      for (let j = i + 1; j < quads.length; j++) {
        if (!apart(quads[i][1], quads[j][1])) {
          problems.push(`${chart}: ${quads[i][0]} and ${quads[j][0]} overlap`);
        }
      }
    }
  }

  // Headings, labels, legends and captions said twice.
  const said = new Map();
  for (const el of document.querySelectorAll("h1, h2, h3, h4, h5, h6, label, legend, caption, figcaption, summary")) {
    if (!shown(el)) continue;
    const own = [...el.childNodes]
      .filter((n) => n.nodeType === Node.TEXT_NODE)
      .map((n) => n.textContent)
      .join(" ")
      .replace(/\s+/g, " ")
      .trim()
      .toLowerCase();
    if (!own) continue;
    if (said.has(own)) {
      problems.push(`"${own}" is said twice: ${name(said.get(own))} and ${name(el)}`);
    } else {
      said.set(own, el);
    }
  }

  // Keyboard hints on a phone.
  if (phone) {
    for (const kbd of document.querySelectorAll("kbd")) {
      if (shown(kbd)) problems.push(`a keyboard hint is shown on a phone: ${name(kbd.parentElement)}`);
    }
  }
  return problems;
};
