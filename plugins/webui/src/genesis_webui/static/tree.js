// Genesis UI: the genealogy tree of a run's programs, laid out and drawn as SVG by hand.
(() => {
"use strict";

const ISLAND_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"];
const RAMP = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];

function islandColor(island) { return ISLAND_COLORS[((island % ISLAND_COLORS.length) + ISLAND_COLORS.length) % ISLAND_COLORS.length]; }

// t in [0, 1] -> a viridis-like colour (1 = best).
function rampColor(t) {
  t = Math.max(0, Math.min(1, isFinite(t) ? t : 0.5)) * (RAMP.length - 1);
  const i = Math.min(Math.floor(t), RAMP.length - 2), f = t - i;
  const c = RAMP[i].map((v, k) => Math.round(v + (RAMP[i + 1][k] - v) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

// Scores of valid programs -> a function from a score to [0, 1], 1 the best.
function scoreScale(nodes, objective) {
  const s = nodes.filter(n => n.valid && n.score !== null).map(n => n.score);
  if (!s.length) return () => 0.5;
  const lo = Math.min(...s), hi = Math.max(...s);
  return v => {
    const t = hi > lo ? (v - lo) / (hi - lo) : 1;
    return objective === "minimize" ? 1 - t : t;
  };
}

// Tidy-ish layout: leaves get consecutive columns in depth-first order, a parent sits over
// its children, depth is the row. Iterative, so a chain of thousands of programs is fine.
function layout(nodes) {
  const byId = new Map(nodes.map(n => [n.id, n]));
  const kids = new Map(nodes.map(n => [n.id, []]));
  const roots = [];
  for (const n of nodes) {
    if (n.parent !== null && byId.has(n.parent)) kids.get(n.parent).push(n);
    else roots.push(n);
  }
  const order = (a, b) => (a.island - b.island) || (a.seq - b.seq);
  for (const list of kids.values()) list.sort(order);
  roots.sort(order);
  const pos = new Map();
  let column = 0, maxDepth = 0;
  for (const root of roots) {
    const stack = [[root, 0, false]];
    while (stack.length) {
      const [n, depth, done] = stack.pop();
      const children = kids.get(n.id);
      if (done || !children.length) {
        let x;
        if (!children.length) x = column++;
        else x = (pos.get(children[0].id).x + pos.get(children[children.length - 1].id).x) / 2;
        pos.set(n.id, { x, depth });
        maxDepth = Math.max(maxDepth, depth);
        continue;
      }
      stack.push([n, depth, true]);
      for (let i = children.length - 1; i >= 0; i--) stack.push([children[i], depth + 1, false]);
    }
  }
  return { pos, columns: column, maxDepth, byId };
}

// Draw `nodes` into `svg`; onSelect(id) on click. Returns nothing; the DOM is the state.
function drawTree(svg, nodes, { objective = "maximize", selected = null, onSelect = () => {} } = {}) {
  const { svgEl } = window.GenesisPlot;
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const { pos, columns, maxDepth, byId } = layout(nodes);
  const dx = 14, dy = 34, pad = 14;
  const W = Math.max(320, columns * dx + 2 * pad), H = Math.max(80, maxDepth * dy + 2 * pad);
  svg.setAttribute("width", W);
  svg.setAttribute("height", H);
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("data-programs", nodes.length);
  const px = id => pad + pos.get(id).x * dx, py = id => pad + pos.get(id).depth * dy;
  const edges = svgEl("g", { class: "edges" }, svg);
  for (const n of nodes) {
    for (const [other, cls] of [[n.parent, "edge"], [n.second_parent, "edge cross"]]) {
      if (other === null || !byId.has(other)) continue;
      const x1 = px(other), y1 = py(other), x2 = px(n.id), y2 = py(n.id);
      const my = (y1 + y2) / 2;
      svgEl("path", { class: cls, d: `M${x1},${y1}C${x1},${my} ${x2},${my} ${x2},${y2}` }, edges);
    }
  }
  const scale = scoreScale(nodes, objective);
  const layer = svgEl("g", { class: "nodes" }, svg);
  for (const n of nodes) {
    const c = svgEl("circle", {
      class: "node" + (n.valid ? "" : " failed") + (n.id === selected ? " selected" : ""),
      cx: px(n.id), cy: py(n.id), r: 5,
      fill: n.valid ? rampColor(scale(n.score)) : "#fff",
      stroke: islandColor(n.island),
      "data-id": n.id, "data-island": n.island,
    }, layer);
    const what = n.valid ? `score ${n.score}` : `failed: ${n.failure || "no valid score"}`;
    svgEl("title", {}, c).textContent = `program ${n.id} · ${what} · island ${n.island} · gen ${n.generation}` + (n.model ? ` · ${n.model}` : "");
    c.addEventListener("click", () => onSelect(n.id));
  }
}

window.GenesisTree = { drawTree, islandColor, rampColor, scoreScale };
})();
