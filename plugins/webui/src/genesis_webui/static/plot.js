// Genesis UI: line plots drawn as SVG by hand (no library).
(() => {
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";

function svgEl(tag, attrs, parent) {
  const node = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

// About `count` round tick values covering [lo, hi].
function niceTicks(lo, hi, count) {
  if (!(hi > lo)) { const d = Math.abs(lo) * 0.1 || 1; lo -= d; hi += d; }
  const raw = (hi - lo) / count;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map(m => m * mag).find(s => s >= raw) || raw;
  const ticks = [];
  const first = Math.floor(lo / step + 1e-9) * step, last = Math.ceil(hi / step - 1e-9) * step;
  for (let t = first; t <= last + step * 1e-9; t += step) ticks.push(+t.toPrecision(12));
  return { lo: first, hi: last, ticks };
}

function fmtTick(v) {
  const a = Math.abs(v);
  if (a === 0) return "0";
  if (a >= 1e4 || a < 1e-3) return v.toExponential(1);
  return String(+v.toPrecision(4));
}

// series: [{name, color, points: [[x, y], ...], step: bool, cls}]; dots: [{x, y, valid, title}]
function linePlot(svg, { series, dots = [], xLabel = "", yLabel = "", height = 240 }) {
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const W = 640, H = height, m = { l: 58, r: 14, t: 10, b: 36 };
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.classList.add("plot");
  const xs = [], ys = [];
  for (const s of series) for (const [x, y] of s.points) { if (y !== null) { xs.push(x); ys.push(y); } }
  for (const d of dots) if (d.y !== null) { xs.push(d.x); ys.push(d.y); }
  if (!xs.length) {
    svgEl("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, svg).textContent = "no evaluations yet";
    return;
  }
  const xt = niceTicks(Math.min(...xs, 0), Math.max(...xs, 1), 6);
  const yt = niceTicks(Math.min(...ys), Math.max(...ys), 5);
  const X = v => m.l + (v - xt.lo) / (xt.hi - xt.lo) * (W - m.l - m.r);
  const Y = v => H - m.b - (v - yt.lo) / (yt.hi - yt.lo) * (H - m.t - m.b);
  const axis = svgEl("g", { class: "axis" }, svg);
  for (const t of yt.ticks) {
    svgEl("line", { class: "gridline", x1: m.l, x2: W - m.r, y1: Y(t), y2: Y(t) }, axis);
    svgEl("text", { x: m.l - 6, y: Y(t) + 4, "text-anchor": "end" }, axis).textContent = fmtTick(t);
  }
  for (const t of xt.ticks) {
    svgEl("line", { x1: X(t), x2: X(t), y1: H - m.b, y2: H - m.b + 4 }, axis);
    svgEl("text", { x: X(t), y: H - m.b + 16, "text-anchor": "middle" }, axis).textContent = fmtTick(t);
  }
  svgEl("line", { x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b }, axis);
  svgEl("line", { x1: m.l, x2: m.l, y1: m.t, y2: H - m.b }, axis);
  svgEl("text", { x: (W + m.l) / 2, y: H - 4, "text-anchor": "middle" }, axis).textContent = xLabel;
  svgEl("text", { x: 12, y: (H - m.b) / 2, transform: `rotate(-90 12 ${(H - m.b) / 2})`, "text-anchor": "middle" }, axis).textContent = yLabel;
  const dotLayer = svgEl("g", { class: "dots" }, svg);
  for (const d of dots) {
    if (d.y === null) continue;
    const c = svgEl("circle", { class: "dot" + (d.valid ? "" : " invalid"), cx: X(d.x), cy: Y(d.y), r: 2.5, fill: d.color || "#888" }, dotLayer);
    if (d.title) svgEl("title", {}, c).textContent = d.title;
  }
  for (const s of series) {
    let path = "", last = null;
    for (const [x, y] of s.points) {
      if (y === null) continue;
      if (last === null) path += `M${X(x).toFixed(1)},${Y(y).toFixed(1)}`;
      else if (s.step) path += `H${X(x).toFixed(1)}V${Y(y).toFixed(1)}`;
      else path += `L${X(x).toFixed(1)},${Y(y).toFixed(1)}`;
      last = y;
    }
    const p = svgEl("path", { class: "line " + (s.cls || ""), d: path, stroke: s.color || "#3b6fd8",
                              "data-points": s.points.filter(q => q[1] !== null).length }, svg);
    if (s.name) svgEl("title", {}, p).textContent = s.name;
  }
}

window.GenesisPlot = { linePlot, svgEl, niceTicks };
})();
