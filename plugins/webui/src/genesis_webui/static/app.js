// Genesis UI: the pages (runs, one run, comparison), plain DOM and fetch, no framework.
(() => {
"use strict";

const { linePlot } = window.GenesisPlot;
const { drawTree, islandColor, rampColor, scoreScale } = window.GenesisTree;
const main = document.getElementById("main");
const crumbs = document.getElementById("crumbs");
const liveBadge = document.getElementById("live");
const RUN_COLORS = ["#3b6fd8", "#e4572e", "#17a398", "#9c51b6", "#f2a541", "#33658a", "#c9184a", "#6a994e", "#8d6e63", "#5c677d", "#ff7f0e", "#1b998b"];

// -- helpers -------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "html") node.innerHTML = v;  // only for HTML the server escaped (highlighted code, diffs)
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}

function svg(attrs) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}

function num(v, digits = 4) {
  if (v === null || v === undefined) return "–";
  if (typeof v !== "number") return String(v);
  if (Number.isInteger(v)) return v.toLocaleString("en-US");
  return String(+v.toPrecision(digits));
}
const usd = v => (v === null || v === undefined) ? "–" : "$" + (v < 0.01 && v > 0 ? v.toPrecision(2) : v.toFixed(v < 1 ? 4 : 2));
const when = t => t ? new Date(t * 1000).toLocaleString() : "–";

async function getJSON(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`${url}: ${response.status} ${(await response.json().catch(() => ({}))).error || ""}`);
  return response.json();
}

function stat(label, value, id) {
  return h("div", { class: "stat" }, h("div", { class: "v", id }, value), h("div", { class: "k" }, label));
}

function statusBadge(status) {
  return h("span", { class: "badge " + status, "data-status": status }, status);
}

function showError(err) {
  main.replaceChildren(h("div", { class: "card" }, h("h2", {}, "Something went wrong"), h("pre", { class: "wrap" }, String(err))));
}

// -- runs page ------------------------------------------------------------------------

async function renderRuns() {
  crumbs.textContent = "runs";
  const data = await getJSON("/api/runs");
  const chosen = new Set();
  const compare = h("button", { id: "compare-btn", disabled: true, onclick: () => {
    location.href = "/compare?runs=" + [...chosen].join(",");
  } }, "Compare selected");
  const rows = data.runs.map(r => h("tr", { "data-key": r.key },
    h("td", {}, h("input", { type: "checkbox", "aria-label": "compare " + r.run_id, onchange: e => {
      e.target.checked ? chosen.add(r.key) : chosen.delete(r.key);
      compare.disabled = chosen.size < 2;
    } })),
    h("td", {}, h("a", { href: "/runs/" + r.key, class: "run-link" }, r.run_id)),
    h("td", {}, r.task), h("td", {}, statusBadge(r.status)),
    h("td", { class: "num" }, num(r.programs)), h("td", { class: "num" }, num(r.evaluations)),
    h("td", { class: "num" }, r.best ? num(r.best.score, 6) : "–"), h("td", { class: "num" }, usd(r.cost_usd)),
    h("td", {}, r.strategy), h("td", {}, when(r.created_at)), h("td", { class: "muted" }, r.folder)));
  const problems = Object.entries(data.problems || {});
  const comparisons = (data.comparisons || []).map(c => {
    const d = c.comparison;
    const rows = (d.strategies || []).map(r => h("tr", { "data-strategy": r.strategy }, h("td", {}, r.strategy),
      h("td", { class: "num" }, num(r.best_score_mean, 6) + (r.best_score_std ? ` ± ${num(r.best_score_std, 3)}` : "")),
      h("td", { class: "num" }, num(d.objective === "minimize" ? r.best_score_min : r.best_score_max, 6)),
      h("td", { class: "num" }, num(r.evaluations_to_best_mean, 4)), h("td", { class: "num" }, num(r.evaluations_mean, 4)),
      h("td", { class: "num" }, usd(r.cost_usd_mean)), h("td", { class: "num" }, num(r.wall_seconds_mean, 3) + " s")));
    return h("div", { class: "card comparison" },
      h("h2", {}, `${d.task || "comparison"}: ${(d.strategies || []).map(r => r.strategy).join(" vs ")}`),
      h("p", { class: "muted" }, `genesis compare · seeds ${(d.seeds || []).join(", ")} · ${d.budget} evaluations each · ${c.folder}`),
      h("table", {}, h("thead", {}, h("tr", {}, ["strategy", "best (mean over seeds)", "best of all", "evaluations to best", "evaluations", "cost", "wall time"]
        .map((t, i) => h("th", { class: i ? "num" : null }, t)))), h("tbody", {}, rows)),
      c.run_keys.length > 1 ? h("p", {}, h("a", { href: "/compare?runs=" + c.run_keys.join(","), class: "compare-link" }, `Open its ${c.run_keys.length} runs side by side`)) : null);
  });
  main.replaceChildren(...[
    h("h1", {}, "Runs"),
    h("div", { class: "card" },
      data.runs.length ? h("table", { id: "runs" },
        h("thead", {}, h("tr", {}, ["", "run", "task", "status", "programs", "evaluations", "best", "cost", "strategy", "started", "folder"]
          .map((t, i) => h("th", { class: i >= 4 && i <= 7 ? "num" : null }, t)))),
        h("tbody", {}, rows)) : h("p", { class: "muted" }, "No runs in these folders yet."),
      h("p", {}, compare)),
    ...comparisons,
    problems.length ? h("div", { class: "card" }, h("h2", {}, "Folders skipped"),
      h("ul", {}, problems.map(([f, why]) => h("li", {}, h("b", {}, f), ": ", why)))) : null].filter(Boolean));
}

// -- run page --------------------------------------------------------------------------

const run = { key: null, summary: null, progress: [], nodes: new Map(), selected: null, source: null, since: null };

function plotsFor(progress, summary) {
  const best = progress.map(p => [p.n, p.best]);
  const dots = progress.map(p => ({ x: p.n, y: p.score, valid: p.valid, color: "#3b6fd8",
                                     title: `evaluation ${p.n}: program ${p.program_id}, score ${p.score}` }));
  document.getElementById("plot-best").setAttribute("data-evaluations", progress.length);
  linePlot(document.getElementById("plot-best"), {
    series: [{ name: "best score", points: best, step: true, color: "#3b6fd8", cls: "best" }],
    dots, xLabel: "evaluations", yLabel: summary.objective === "minimize" ? "score (lower is better)" : "score",
  });
  linePlot(document.getElementById("plot-cost"), {
    series: [{ name: "cost (USD)", points: progress.map(p => [p.n, p.cost_usd]), color: "#e4572e", cls: "cost" }],
    xLabel: "evaluations", yLabel: "USD spent", height: 180,
  });
}

function renderSummary(s) {
  const box = document.getElementById("summary");
  box.replaceChildren(
    h("h1", {}, s.task || s.run_id, " ", statusBadge(s.status), s.stop_reason ? h("span", { class: "muted" }, " " + s.stop_reason) : null),
    h("p", { class: "muted" }, `run ${s.run_id} · ${s.strategy} · ${s.language} · ${s.objective} · started ${when(s.created_at)} · ${s.folder}`),
    h("div", { class: "stats" },
      stat("programs", num(s.programs), "stat-programs"), stat("evaluations", num(s.evaluations), "stat-evaluations"),
      stat("valid", num(s.valid)), stat("in flight", num(s.pending)),
      stat("best score", s.best ? num(s.best.score, 6) : "–", "stat-best"),
      stat("LLM calls", num(s.llm_calls)), stat("tokens in / out", `${num(s.tokens_in)} / ${num(s.tokens_out)}`),
      stat("cost", usd(s.cost_usd), "stat-cost")));
  if (s.best) {
    const b = h("p", {}, h("a", { href: "#", id: "best-link", onclick: e => { e.preventDefault(); selectProgram(s.best.id); } },
      `Show the best program (#${s.best.id})`));
    box.append(b);
  }
  liveBadge.hidden = !(s.status === "running" && run.source);
}

function redrawTree() {
  const nodes = [...run.nodes.values()].sort((a, b) => a.seq - b.seq);
  drawTree(document.getElementById("tree"), nodes, {
    objective: run.summary.objective, selected: run.selected, onSelect: selectProgram,
  });
  document.getElementById("tree-count").textContent = `${nodes.length} programs`;
  const islands = [...new Set(nodes.map(n => n.island))].sort((a, b) => a - b);
  document.getElementById("tree-legend").replaceChildren(
    ...islands.map(i => h("span", {}, h("span", { class: "swatch", style: `border-color:${islandColor(i)}` }), `island ${i}`)),
    h("span", {}, run.summary.objective === "minimize" ? "score: high" : "score: low", h("span", { class: "ramp" }),
      run.summary.objective === "minimize" ? "low (best)" : "high (best)"),
    h("span", {}, h("span", { class: "swatch", style: "border-color:#999;background:#fff" }), "failed"));
}

function renderFailures(f) {
  const total = f.finished || 0;
  const table = (rows, what) => rows.length ? h("table", {},
    h("thead", {}, h("tr", {}, h("th", {}, "reason"), h("th", { class: "num" }, what), h("th", { class: "num" }, "share"))),
    h("tbody", {}, rows.map(r => h("tr", { "data-reason": r.reason }, h("td", {}, r.reason), h("td", { class: "num" }, num(r.count)),
      h("td", { class: "num" }, total ? (100 * r.count / total).toFixed(1) + "%" : "–"))))) : h("p", { class: "muted" }, "none");
  document.getElementById("failures").replaceChildren(
    h("h2", {}, "Failures by reason"), table(f.programs, "programs"),
    h("h3", {}, "Failed LLM calls"), table(f.llm_calls, "calls"));
}

function renderModels(m) {
  const box = document.getElementById("models");
  box.replaceChildren(h("h2", {}, "Models"),
    m.usage.length ? h("table", { id: "model-usage" },
      h("thead", {}, h("tr", {}, ["model", "calls", "tokens in", "tokens out", "cost", "mean latency", "failed", "programs", "valid"]
        .map((t, i) => h("th", { class: i ? "num" : null }, t)))),
      h("tbody", {}, m.usage.map(u => h("tr", {}, h("td", {}, u.model), h("td", { class: "num" }, num(u.calls)),
        h("td", { class: "num" }, num(u.tokens_in)), h("td", { class: "num" }, num(u.tokens_out)),
        h("td", { class: "num" }, usd(u.cost_usd)), h("td", { class: "num" }, num(u.mean_latency_s, 3) + " s"),
        h("td", { class: "num" }, num(u.failed_calls)), h("td", { class: "num" }, num(u.programs)),
        h("td", { class: "num" }, num(u.valid_programs)))))) : h("p", { class: "muted" }, "No LLM calls yet."));
  const sel = m.selector;
  if (sel) {
    box.append(h("h3", {}, `Model selection (${sel.kind})`),
      h("table", { id: "preferences" },
        h("thead", {}, h("tr", {}, h("th", {}, "model"), h("th", {}, "preference"), h("th", { class: "num" }, "outcomes"),
          h("th", { class: "num" }, "improved"), h("th", { class: "num" }, "rate"))),
        h("tbody", {}, sel.models.map(x => h("tr", {}, h("td", {}, x.model),
          h("td", {}, h("div", { class: "bartrack" }, h("div", { class: "bar", style: `width:${(100 * x.preference).toFixed(1)}%` })),
            h("span", { class: "muted" }, (100 * x.preference).toFixed(1) + "%")),
          h("td", { class: "num" }, num(x.pulls)), h("td", { class: "num" }, num(x.improvements)),
          h("td", { class: "num" }, x.pulls ? (100 * x.improvement_rate).toFixed(1) + "%" : "–"))))),
      h("p", { class: "muted" }, sel.kind === "fixed" ? "Fixed weights from the configuration."
        : "Estimated improvement rate per relative cost, the quantity the bandit ranks models by, normalised."));
  }
}

function renderGrid(g) {
  const box = document.getElementById("grid-card");
  if (!g) { box.hidden = true; return; }
  box.hidden = false;
  const [fx, fy] = [g.features[0], g.features[1]];
  const bx = g.bins[0] || Math.max(1, ...g.cells.map(c => c.cell[0] + 1));
  const by = g.features.length > 1 ? (g.bins[1] || Math.max(1, ...g.cells.map(c => c.cell[1] + 1))) : 1;
  const size = Math.max(8, Math.min(36, Math.floor(560 / Math.max(bx, by))));
  const area = svg({ id: "grid", viewBox: `0 0 ${bx * size + 60} ${by * size + 40}`, width: bx * size + 60, height: by * size + 40 });
  const best = new Map();  // with more than two features, each (x, y) shows its best elite
  for (const c of g.cells) {
    const k = `${c.cell[0]},${c.cell[1] || 0}`;
    const cur = best.get(k);
    if (!cur || (run.summary.objective === "minimize" ? c.score < cur.score : c.score > cur.score)) best.set(k, c);
  }
  const scale = scoreScale([...best.values()].map(c => ({ valid: true, score: c.score })), run.summary.objective);
  const { svgEl } = window.GenesisPlot;
  for (let i = 0; i < bx; i++) for (let j = 0; j < by; j++) {
    const c = best.get(`${i},${j}`);
    const r = svgEl("rect", { x: 50 + i * size, y: (by - 1 - j) * size + 4, width: size, height: size,
      class: c ? "cell" : "empty", fill: c ? rampColor(scale(c.score)) : "#f1f3f7" }, area);
    if (c) {
      r.setAttribute("data-program", c.program_id);
      svgEl("title", {}, r).textContent = `cell ${c.cell.join(",")} · program ${c.program_id} · score ${c.score}`;
      r.addEventListener("click", () => selectProgram(c.program_id));
    }
  }
  svgEl("text", { x: 50, y: by * size + 22 }, area).textContent = `${fx} →`;
  if (fy) svgEl("text", { x: 0, y: 14 }, area).textContent = `${fy} ↑`;
  box.replaceChildren(h("h2", {}, `MAP-Elites archive: ${g.cells.length} of ${g.bins.reduce((a, b) => a * b, 1)} cells filled`), area);
  if (g.features.length > 2) box.append(h("p", { class: "muted" }, `Showing ${fx} × ${fy}; each square holds the best elite over ${g.features.slice(2).join(", ")}.`));
}

function applyUpdate(data, full) {
  run.summary = data.summary;
  run.progress = data.progress;
  if (full) run.nodes = new Map();
  for (const n of (full ? data.tree : data.new_programs)) {
    run.nodes.set(n.id, n);
    if (n.finished_at !== null && (run.since === null || n.finished_at > run.since)) run.since = n.finished_at;
  }
  renderSummary(data.summary);
  plotsFor(data.progress, data.summary);
  redrawTree();
  renderFailures(data.failures);
  renderModels(data.models);
  renderGrid(data.grid);
}

async function selectProgram(id) {
  run.selected = id;
  document.querySelectorAll("#tree .node.selected").forEach(n => n.classList.remove("selected"));
  const circle = document.querySelector(`#tree .node[data-id="${id}"]`);
  if (circle) circle.classList.add("selected");
  const box = document.getElementById("program");
  box.replaceChildren(h("p", { class: "muted" }, `Loading program ${id}…`));
  let p;
  try { p = await getJSON(`/api/runs/${run.key}/programs/${id}`); }
  catch (err) { box.replaceChildren(h("pre", { class: "wrap" }, String(err))); return; }
  const link = pid => h("a", { href: "#", onclick: e => { e.preventDefault(); selectProgram(pid); } }, `#${pid}`);
  const kv = (rows) => h("table", { class: "kv" }, h("tbody", {}, rows.filter(Boolean).map(([k, v]) => h("tr", {}, h("td", {}, k), h("td", {}, v)))));
  const parts = [
    h("h2", {}, `Program #${p.id}`, " ",
      p.valid ? h("span", { class: "badge good" }, "valid") : h("span", { class: "badge bad" }, p.failure || "invalid")),
    kv([
      ["score", num(p.score, 8)],
      p.parent_id !== null ? ["parent", h("span", {}, link(p.parent_id), p.parent_score !== null ? ` (score ${num(p.parent_score, 8)})` : "")] : ["parent", "none (initial program)"],
      p.second_parent_id !== null ? ["second parent", link(p.second_parent_id)] : null,
      p.children.length ? ["children", h("span", {}, p.children.slice(0, 30).flatMap((c, i) => i ? [", ", link(c)] : [link(c)]), p.children.length > 30 ? ` … ${p.children.length} in all` : "")] : null,
      ["island · generation", `${p.island} · ${p.generation}`],
      ["change", p.patch_kind], ["model", p.model || "–"],
      p.evaluation ? ["evaluation", `${p.evaluation.backend} · build ${num(p.evaluation.build_seconds, 3)} s · run ${num(p.evaluation.eval_seconds, 3)} s`] : null,
    ]),
  ];
  if (Object.keys(p.metrics || {}).length) {
    parts.push(h("h3", {}, "Metrics"), kv(Object.entries(p.metrics).map(([k, v]) => [k, num(v, 8)])));
  }
  if (p.feedback) parts.push(h("h3", {}, "Evaluator feedback"), h("pre", { class: "wrap", id: "feedback" }, p.feedback));
  if (p.error) parts.push(h("h3", {}, "Error"), h("pre", { class: "wrap", id: "error" }, p.error));
  for (const [name, text] of Object.entries(p.artifacts || {})) {
    parts.push(h("details", { open: p.failure === "build_error" }, h("summary", {}, `artifact: ${name}`), h("pre", { class: "wrap" }, text)));
  }
  parts.push(h("h3", {}, p.parent_id !== null ? `Diff against parent #${p.parent_id}` : "Diff"),
    p.diff ? h("pre", { class: "diff", id: "diff", html: p.diff_html }) : h("p", { class: "muted", id: "diff" }, p.parent_id !== null ? "identical to its parent" : "the initial program has no parent"));
  parts.push(h("details", { open: p.parent_id === null }, h("summary", {}, `Code (${p.language})`), h("pre", { class: "hl", id: "code", html: p.code_html })));
  if (p.llm_calls.length) {
    parts.push(h("h3", {}, "LLM calls"));
    for (const c of p.llm_calls) {
      parts.push(h("div", { class: "call" },
        h("div", {}, h("b", {}, c.model), ` · ${c.purpose} · ${num(c.tokens_in)} in / ${num(c.tokens_out)} out · ${usd(c.cost_usd)} · ${num(c.latency_s, 3)} s`,
          c.attempts > 1 ? ` · ${c.attempts} attempts` : "", c.failure ? h("span", { class: "badge bad" }, c.failure) : null),
        h("details", {}, h("summary", {}, "Prompt"), c.prompt.map(m => [h("div", { class: "role" }, m.role), h("pre", { class: "wrap" }, m.content)])),
        c.reasoning ? h("details", {}, h("summary", {}, "Reasoning"), h("pre", { class: "wrap reasoning" }, c.reasoning)) : null,
        h("details", {}, h("summary", {}, "Answer"), h("pre", { class: "wrap" }, c.response || "(none)")),
        c.error ? h("pre", { class: "wrap" }, c.error) : null));
    }
  }
  box.replaceChildren(...parts);
}

function follow() {
  if (run.source) run.source.close();
  const url = `/api/runs/${run.key}/stream` + (run.since !== null ? `?since=${run.since}` : "");
  const source = new EventSource(url);
  run.source = source;
  source.addEventListener("update", e => applyUpdate(JSON.parse(e.data), false));
  source.addEventListener("open", () => { liveBadge.hidden = !(run.summary && run.summary.status === "running"); });
  source.addEventListener("error", () => { liveBadge.hidden = true; });
}

async function renderRun(key) {
  run.key = key;
  const data = await getJSON(`/api/runs/${key}`);
  crumbs.replaceChildren(h("a", { href: "/" }, "runs"), " / ", data.summary.run_id);
  document.title = `${data.summary.task || data.summary.run_id} · Genesis`;
  main.replaceChildren(
    h("div", { class: "card", id: "summary" }),
    h("div", { class: "grid2" },
      h("div", { class: "card" }, h("h2", {}, "Best score over evaluations"), svg({ id: "plot-best" })),
      h("div", { class: "card" }, h("h2", {}, "Cost over evaluations"), svg({ id: "plot-cost" }))),
    h("div", { class: "layout" },
      h("div", {},
        h("div", { class: "card" }, h("h2", {}, "Genealogy ", h("span", { class: "muted", id: "tree-count" })),
          h("div", { class: "treebox" }, svg({ id: "tree" })), h("div", { class: "legend", id: "tree-legend" })),
        h("div", { class: "card", id: "grid-card", hidden: true }),
        h("div", { class: "card", id: "models" }), h("div", { class: "card", id: "failures" })),
      h("div", { class: "card", id: "program" }, h("h2", {}, "Program"), h("p", { class: "muted" }, "Click a program in the tree."))));
  applyUpdate(data, true);
  follow();
}

// -- comparison page ---------------------------------------------------------------------

async function renderCompare(keys) {
  crumbs.replaceChildren(h("a", { href: "/" }, "runs"), " / compare");
  const data = await getJSON("/api/compare?runs=" + encodeURIComponent(keys.join(",")));
  const plot = svg({ id: "plot-compare" });
  main.replaceChildren(h("h1", {}, `Comparing ${data.runs.length} runs`),
    h("div", { class: "card" }, h("h2", {}, "Best score over evaluations"), plot, h("div", { class: "legend", id: "compare-legend" })),
    h("div", { class: "card" }, h("table", { id: "compare-table" },
      h("thead", {}, h("tr", {}, ["", "run", "task", "status", "best score", "evaluations", "valid", "programs", "LLM calls", "cost", "wall time"]
        .map((t, i) => h("th", { class: i >= 4 ? "num" : null }, t)))),
      h("tbody", {}, data.runs.map((r, i) => {
        const s = r.summary;
        return h("tr", { "data-key": s.key }, h("td", {}, h("span", { class: "swatch", style: `border-color:${RUN_COLORS[i % RUN_COLORS.length]}` })),
          h("td", {}, h("a", { href: "/runs/" + s.key }, s.run_id)), h("td", {}, s.task), h("td", {}, statusBadge(s.status)),
          h("td", { class: "num best" }, s.best ? num(s.best.score, 6) : "–"), h("td", { class: "num" }, num(s.evaluations)),
          h("td", { class: "num" }, num(s.valid)), h("td", { class: "num" }, num(s.programs)), h("td", { class: "num" }, num(s.llm_calls)),
          h("td", { class: "num" }, usd(s.cost_usd)), h("td", { class: "num" }, num(s.wall_seconds, 3) + " s"));
      })))));
  linePlot(plot, {
    series: data.runs.map((r, i) => ({ name: r.summary.run_id, step: true, color: RUN_COLORS[i % RUN_COLORS.length], cls: "run",
                                       points: r.progress.map(p => [p.n, p.best]) })),
    xLabel: "evaluations", yLabel: "best score",
  });
  document.getElementById("compare-legend").replaceChildren(...data.runs.map((r, i) =>
    h("span", {}, h("span", { class: "swatch", style: `border-color:${RUN_COLORS[i % RUN_COLORS.length]}` }), `${r.summary.run_id} (${r.summary.folder})`)));
}

// -- routing -----------------------------------------------------------------------------

async function route() {
  const path = location.pathname;
  try {
    if (path.startsWith("/runs/")) await renderRun(decodeURIComponent(path.slice("/runs/".length)));
    else if (path === "/compare") await renderCompare((new URLSearchParams(location.search).get("runs") || "").split(",").filter(Boolean));
    else await renderRuns();
  } catch (err) {
    showError(err);
  }
}

route();
})();
