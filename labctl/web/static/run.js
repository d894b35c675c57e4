// labctl serve: one run's page (live curves, network view, event log, controls, figures).
"use strict";

const RUN = decodeURIComponent(location.pathname.split("/").pop());
const API = "/api/run/" + encodeURIComponent(RUN);
const ROWS_MS = 50;         // live rows: the server holds each request until rows arrive
const META_MS = 1000;       // status / tasks poll while the run is live
const EVENTS_MS = 1000;
const MAX_SHOWN = 8000;     // points per curve before the task is re-read thinned (to half)
// no mode bar (it hides the titles): drag to zoom, double-click to reset
const PLOT_CONFIG = { displaylogo: false, responsive: true, displayModeBar: false };

const state = { meta: null, task: null, next: 0, points: 0, loading: false, netTime: undefined,
  eventsNext: 0, live: true, figuresDone: false };
// what the page shows, for tests and benchmarks: [wall time ms, rows shown, task] per update
window.labctlStats = { task: null, rowsShown: 0, points: 0, updates: [], renderMs: [] };

// ---------------------------------------------------------------- plots
const PLOTS = [
  { id: "plot-error", title: "Error L", unit: "V²", log: true,
    traces: [["error", "error L", "#1f5fa8", "solid"]] },
  { id: "plot-norm", title: "Normalised error L/L0", unit: "", log: true,
    traces: [["error_normalized", "L/L0", "#6a3d9a", "solid"]] },
  { id: "plot-power", title: "Power", unit: "W", log: false,
    traces: [["power_free", "free (model)", "#e65100", "solid"],
             ["power_supply", "supply, measured (SMU)", "#2e7d32", "solid"],
             ["power_supply_model", "supply, model", "#2e7d32", "dot"]] },
  { id: "plot-lambda", title: "Learning gain λ (applied)", unit: "", log: false, fromZero: true,
    traces: [["lambda", "λ", "#00838f", "solid"]] },
  { id: "plot-energy", title: "Energy dissipated, free network", unit: "J", log: false,
    traces: [["energy", "energy", "#ad1457", "solid"]] },
];

function yAxis(p) {
  // the unit goes on the ticks (SI prefix + unit) where it can, else into the title
  const onTicks = !p.log && p.unit && !/[²³]/.test(p.unit);
  const name = p.title.split(",")[0];
  const axis = { title: { text: p.unit && !onTicks ? `${name} (${p.unit})` : name },
    automargin: true, gridcolor: "#e6ebf0", zeroline: false };
  if (p.log) { axis.type = "log"; axis.exponentformat = "power"; axis.dtick = "D2"; }
  else if (onTicks) { axis.tickformat = "~s"; axis.ticksuffix = p.unit; }
  else { axis.exponentformat = "power"; }
  return axis;
}

function hover(p, label) {
  const unit = p.unit && !/[²³]/.test(p.unit) ? p.unit : "";
  const y = unit ? `%{y:.3s}${unit}` : `%{y:.4g}${p.unit ? " " + p.unit : ""}`;
  return `${y} at %{x:.3f} s<extra>${label}</extra>`;
}

function initPlots() {
  for (const p of PLOTS) {
    const traces = p.traces.map(([, label, color, dash]) => ({
      x: [], y: [], name: label, mode: "lines", type: "scatter",
      line: { color, dash, width: 2 }, hovertemplate: hover(p, label) }));
    const layout = {
      title: { text: p.title, font: { size: 13 }, x: 0.03, xanchor: "left" },
      margin: { l: 58, r: 12, t: 34, b: 40 },
      xaxis: { title: { text: "time in task" }, gridcolor: "#e6ebf0", zeroline: false,
               ticksuffix: " s" },
      yaxis: yAxis(p), showlegend: p.traces.length > 1,
      legend: { orientation: "h", x: 0, y: -0.25, font: { size: 11 } },
      paper_bgcolor: "#fff", plot_bgcolor: "#fff", font: { size: 11 },
    };
    if (p.traces.length > 1) layout.margin.b = 64;
    Plotly.newPlot(p.id, traces, layout, PLOT_CONFIG);
  }
}

function clearPlots() {
  for (const p of PLOTS) {
    const div = document.getElementById(p.id);
    Plotly.restyle(div, { x: p.traces.map(() => []), y: p.traces.map(() => []) });
    Plotly.relayout(div, { "xaxis.autorange": true, "yaxis.autorange": true });
    p.max = 0; p.ranged = false; p.lo = undefined; p.hi = undefined; p.perDecade = undefined;
  }
  state.points = 0;
}

function appendRows(data) {
  const t = data.columns.time;
  if (!t.length) return;
  for (const p of PLOTS) {
    const xs = [], ys = [];
    for (const [name] of p.traces) {
      const col = data.columns[name], x = [], y = [];
      for (let i = 0; i < t.length; i++) {
        const v = col[i];
        if (v === null || (p.log && v <= 0)) continue;
        x.push(t[i]); y.push(v);
      }
      xs.push(x); ys.push(y);
    }
    Plotly.extendTraces(p.id, { x: xs, y: ys }, p.traces.map((_, i) => i));
    if (p.log) {  // labels at 1, 2, 5 ×10ⁿ; over more than two decades at 10ⁿ only
      for (const y of ys) for (const v of y) {
        p.lo = Math.min(p.lo ?? v, v); p.hi = Math.max(p.hi ?? v, v);
      }
      const perDecade = p.hi / p.lo > 300;
      if (perDecade !== p.perDecade) {
        p.perDecade = perDecade;
        Plotly.relayout(p.id, { "yaxis.dtick": perDecade ? 1 : "D2" });
      }
    }
    if (p.fromZero) {  // a constant λ: from 0 to a little above it, not plotly's ±1
      const before = p.max || 0;
      for (const y of ys) for (const v of y) p.max = Math.max(p.max || 0, v);
      if (p.max !== before || !p.ranged) {
        p.ranged = true;
        Plotly.relayout(p.id, { "yaxis.range": [0, p.max > 0 ? 1.15 * p.max : 1] });
      }
    }
  }
  state.points += t.length;
}

// ---------------------------------------------------------------- network view
const VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89",
  "#35b779", "#6ece58", "#b5de2b", "#fde725"];
const NODE_MAP = ["#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6",
  "#2171b5", "#08519c", "#08306b"];

function colorAt(map, f) {
  if (!Number.isFinite(f)) return "#bbb";
  const x = Math.max(0, Math.min(1, f)) * (map.length - 1);
  return map[Math.round(x)];
}

function svg(tag, attrs, text = null) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
}

function range(values) {
  const finite = values.filter((v) => v !== null && Number.isFinite(v));
  if (!finite.length) return [0, 1];
  let lo = Math.min(...finite), hi = Math.max(...finite);
  if (hi - lo < 1e-6) { lo -= 0.05; hi += 0.05; }
  return [lo, hi];
}

function drawNetwork(gates, nodes) {
  const box = document.getElementById("network");
  box.replaceChildren();
  const meta = state.meta;
  if (!meta) return;
  const task = meta.tasks[state.task] || {};
  const net = meta.network, pos = net.positions;
  const xs = pos.map((p) => p[0]), ys = pos.map((p) => p[1]);
  const minX = Math.min(...xs), maxX = Math.max(...xs), minY = Math.min(...ys), maxY = Math.max(...ys);
  const area = { x0: 115, y0: 30, w: 230, h: 230 };
  const scale = Math.min(area.w / Math.max(maxX - minX, 1e-9), area.h / Math.max(maxY - minY, 1e-9));
  const X = (x) => area.x0 + (x - minX) * scale;
  const Y = (y) => area.y0 + (maxY - y) * scale;
  let spacing = Infinity;
  for (const [a, b] of net.edges) {
    const d = Math.hypot(xs[a] - xs[b], ys[a] - ys[b]);
    if (d > 0) spacing = Math.min(spacing, d);
  }
  const [glo, ghi] = range(gates || []);
  const [vlo, vhi] = range(nodes || []);
  net.edges.forEach(([a, b], i) => {
    const g = gates ? gates[i] : null;
    const color = g === null || g === undefined ? "#ccc" : colorAt(VIRIDIS, (g - glo) / (ghi - glo));
    const title = svg("title", {}, `edge ${i} (${a}–${b}): gate ${formatSI(g, "V")}`);
    const dx = xs[b] - xs[a], dy = ys[b] - ys[a];
    if (Math.hypot(dx, dy) > 1.5 * spacing) {       // wraps around the periodic box
      const stub = 0.42 * spacing;
      for (const [n, s] of [[a, -1], [b, 1]]) {
        const ux = Math.abs(dx) > 1.5 * spacing ? Math.sign(dx) * s : 0;
        const uy = Math.abs(dy) > 1.5 * spacing ? Math.sign(dy) * s : 0;
        const line = svg("line", { x1: X(xs[n]), y1: Y(ys[n]), x2: X(xs[n] + ux * stub),
          y2: Y(ys[n] + uy * stub), stroke: color, "stroke-width": 7, "stroke-linecap": "round",
          "stroke-dasharray": "5 3" });
        line.appendChild(title.cloneNode(true));
        box.appendChild(line);
      }
    } else {
      const line = svg("line", { x1: X(xs[a]), y1: Y(ys[a]), x2: X(xs[b]), y2: Y(ys[b]),
        stroke: color, "stroke-width": 8, "stroke-linecap": "round" });
      line.appendChild(title);
      box.appendChild(line);
    }
  });
  const sources = new Set(task.sources || []), targets = new Set(task.targets || []);
  for (let n = 0; n < net.n_nodes; n++) {
    const v = nodes ? nodes[n] : null;
    const fill = v === null || v === undefined ? "#eee" : colorAt(NODE_MAP, (v - vlo) / (vhi - vlo));
    const dark = v !== null && v !== undefined && (v - vlo) / (vhi - vlo) > 0.55;
    const stroke = sources.has(n) ? "#c62828" : targets.has(n) ? "#2e7d32" : "#37474f";
    const shape = sources.has(n)
      ? svg("rect", { x: X(xs[n]) - 14, y: Y(ys[n]) - 14, width: 28, height: 28, rx: 4, fill,
          stroke, "stroke-width": 3 })
      : svg("circle", { cx: X(xs[n]), cy: Y(ys[n]), r: 14, fill, stroke,
          "stroke-width": targets.has(n) ? 3.5 : 1.5 });
    shape.appendChild(svg("title", {}, `node ${n}: ${formatSI(v, "V")} (free)`));
    box.appendChild(shape);
    box.appendChild(svg("text", { x: X(xs[n]), y: Y(ys[n]) + 4, "text-anchor": "middle",
      class: dark ? "node-label on-dark" : "node-label" },
      v === null || v === undefined ? String(n) : Math.round(v * 1000)));
  }
  // legends: gate colour bar, node colour bar, symbols
  const defs = svg("defs", {});
  const grad = (id, map) => {
    const g = svg("linearGradient", { id, x1: 0, y1: 0, x2: 1, y2: 0 });
    map.forEach((c, i) => g.appendChild(svg("stop", { offset: i / (map.length - 1), "stop-color": c })));
    defs.appendChild(g);
  };
  grad("gate-grad", VIRIDIS); grad("node-grad", NODE_MAP);
  box.appendChild(defs);
  const bar = (x, id, lo, hi, label) => {
    const y = 318, w = 170;
    box.appendChild(svg("rect", { x, y, width: w, height: 12, fill: `url(#${id})`,
      stroke: "#999", "stroke-width": 0.5 }));
    box.appendChild(svg("text", { x: x + w / 2, y: y - 6, "text-anchor": "middle",
      class: "legend-text" }, label));
    box.appendChild(svg("text", { x, y: y + 26, class: "legend-text" }, formatSI(lo, "V")));
    box.appendChild(svg("text", { x: x + w, y: y + 26, "text-anchor": "end",
      class: "legend-text" }, formatSI(hi, "V")));
  };
  bar(40, "gate-grad", glo, ghi, "edge colour: gate voltage");
  bar(250, "node-grad", vlo, vhi, "node colour: free voltage (number: mV)");
  const ly = 378;
  box.appendChild(svg("rect", { x: 40, y: ly - 9, width: 12, height: 12, fill: "none", stroke: "#c62828", "stroke-width": 2.5 }));
  box.appendChild(svg("text", { x: 57, y: ly + 1, class: "legend-text" }, "source"));
  box.appendChild(svg("circle", { cx: 120, cy: ly - 3, r: 6, fill: "none", stroke: "#2e7d32", "stroke-width": 3 }));
  box.appendChild(svg("text", { x: 130, y: ly + 1, class: "legend-text" }, "target"));
  box.appendChild(svg("line", { x1: 190, y1: ly - 3, x2: 215, y2: ly - 3, stroke: "#555", "stroke-width": 5, "stroke-dasharray": "5 3" }));
  box.appendChild(svg("text", { x: 222, y: ly + 1, class: "legend-text" }, "edge wrapping around (periodic)"));
}

// ---------------------------------------------------------------- tasks, facts, controls
function fact(k, v) {
  const d = el("div", { class: "fact" });
  d.appendChild(el("span", { class: "k" }, k));
  d.appendChild(el("span", { class: "v" }, v));
  return d;
}

function renderMeta(meta) {
  document.title = `labctl: ${meta.name}`;
  document.getElementById("run-name").textContent = meta.name;
  const status = document.getElementById("status");
  status.className = "badge " + meta.status;
  status.textContent = meta.status === "running" ? "live" : meta.status;
  const done = meta.tasks.filter((t) => t.status === "completed").length;
  const facts = document.getElementById("facts");
  facts.replaceChildren(
    fact("protocol", meta.protocol || "–"),
    fact("started (UTC)", formatStart(meta.created)),
    fact("last write (UTC)", formatStart(meta.last_write)),
    fact("tasks completed", `${done} of ${meta.tasks.length}`),
    fact("bench", meta.backend === "sim" ? `simulated (${meta.clock || "?"} clock)` : meta.backend),
    fact("seed", meta.seed === null ? "–" : String(meta.seed)),
    fact("labctl", meta.labctl_version || "–"),
    ...Object.entries(meta.metadata || {}).map(([k, v]) => fact(k, v)));
  const reason = document.getElementById("reason");
  reason.hidden = !meta.reason;
  reason.textContent = meta.reason ? `reason: ${meta.reason}` : "";
  renderControls(meta.control);
  const body = document.querySelector("#tasks tbody");
  body.replaceChildren();
  for (const t of meta.tasks) {
    const tr = el("tr", { "data-task": t.index });
    if (t.index === state.task) tr.classList.add("selected");
    cell(tr, String(t.index), "num");
    cell(tr, t.name);
    const st = el("td"); st.appendChild(badge(t.status === "running" ? "running" : t.status));
    tr.appendChild(st);
    cell(tr, String(t.n_rows), "num");
    cell(tr, formatSI(t.lambda), "num");
    cell(tr, formatSI(t.eta), "num");
    cell(tr, formatSI(t.final.error, "V²"), "num");
    cell(tr, formatSI(t.final.error_normalized), "num");
    cell(tr, formatSI(t.final.power_free, "W"), "num");
    cell(tr, formatSI(t.final.energy, "J"), "num");
    tr.addEventListener("click", () => {
      document.getElementById("follow").checked = false;
      selectTask(t.index);
    });
    body.appendChild(tr);
  }
}

function renderControls(control) {
  const box = document.getElementById("controls");
  box.hidden = !(control && control.owned && control.control);
  if (box.hidden) return;
  for (const b of box.querySelectorAll("button")) {
    b.disabled = !control.actions.includes(b.dataset.action);
  }
  document.getElementById("control-note").textContent = control.finished
    ? "run ended" : `engine: ${control.state}`;
}

async function sendControl(action) {
  if (action === "abort" && !window.confirm("Abort this run? The bench is driven safe and the file closed as aborted.")) return;
  const note = document.getElementById("control-note");
  try {
    const answer = await fetch(`${API}/control/${action}`, { method: "POST",
      credentials: "same-origin", headers: { "X-Labctl-Control": "1" } });
    const body = await answer.json();
    if (!answer.ok) throw new Error(body.error || answer.statusText);
    note.textContent = `sent: ${body.done}`;
    renderControls(body.control);
  } catch (e) {
    note.textContent = `refused: ${e.message}`;
  }
}

function runningTask(meta) {
  const running = meta.tasks.find((t) => t.status === "running");
  if (running) return running.index;
  const started = meta.tasks.filter((t) => t.status !== "pending");
  return started.length ? started[started.length - 1].index : 0;
}

function selectTask(index) {
  if (index === state.task) return;
  state.task = index;
  state.next = 0;
  state.netTime = undefined;
  clearPlots();
  for (const tr of document.querySelectorAll("#tasks tbody tr")) {
    tr.classList.toggle("selected", Number(tr.dataset.task) === index);
  }
  const t = state.meta.tasks[index];
  document.getElementById("task-title").textContent =
    `Task ${index} of 0–${state.meta.tasks.length - 1}: ${t.name}`;
  window.labctlStats.task = index;
  loadRows();
}

// ---------------------------------------------------------------- polling
async function loadMeta() {
  const meta = await getJSON(`${API}/meta`);
  state.meta = meta;
  state.live = meta.recorded_status === "running";
  document.getElementById("run-error").hidden = true;
  const key = JSON.stringify(meta);
  if (key !== state.metaKey) {  // a finished run's page stays as it is
    state.metaKey = key;
    renderMeta(meta);
  }
  if (state.task === null || (document.getElementById("follow").checked && state.live)) {
    selectTask(runningTask(meta));
  }
  if (!state.live) loadFigures();
}

async function loadRows() {
  if (state.loading || state.task === null) return;
  state.loading = true;
  try {
    const task = state.task;
    let url = `${API}/rows?task=${task}&start=${state.next}` + (state.live ? "&wait=1" : "");
    if (state.points > MAX_SHOWN) {
      clearPlots();
      state.next = 0;
      url = `${API}/rows?task=${task}&start=0&max_points=${MAX_SHOWN / 2}`;
    }
    const data = await getJSON(url);
    if (task !== state.task) return;
    const began = performance.now();
    appendRows(data);
    state.next = data.next;
    window.labctlStats.rowsShown = data.next;
    window.labctlStats.points = document.getElementById("plot-error").data[0].x.length;
    const stats = window.labctlStats.updates;
    stats.push([Date.now(), data.next, task]);
    if (stats.length > 20000) stats.splice(0, stats.length - 20000);
    document.getElementById("task-rows").textContent =
      `${data.n_rows} rows` + (data.last_time !== undefined ? `, ${formatSI(data.last_time, "s")} of learning` : "");
    if (data.gate_voltage && data.last_time !== state.netTime) {
      state.netTime = data.last_time;
      document.getElementById("net-time").textContent = formatSI(data.last_time, "s");
      drawNetwork(data.gate_voltage, data.v_free);
    } else if (!data.gate_voltage && state.netTime !== null) {
      state.netTime = null;
      document.getElementById("net-time").textContent = "–";
      drawNetwork(null, null);
    }
    const render = window.labctlStats.renderMs;
    render.push(performance.now() - began);
    if (render.length > 20000) render.splice(0, render.length - 20000);
  } finally {
    state.loading = false;
  }
}

async function loadEvents() {
  const data = await getJSON(`${API}/events?start=${state.eventsNext}`);
  const body = document.querySelector("#events tbody");
  for (const e of data.events) {
    const tr = el("tr", { class: "event " + e.kind });
    cell(tr, e.t.toFixed(2), "num");
    cell(tr, e.task < 0 ? "–" : String(e.task), "num");
    cell(tr, e.kind);
    cell(tr, e.message, "msg");
    body.insertBefore(tr, body.firstChild);
  }
  while (body.children.length > 2000) body.removeChild(body.lastChild);
  state.eventsNext = data.next;
  document.getElementById("event-count").textContent = `${state.eventsNext} events, newest first`;
}

async function loadFigures() {
  if (state.figuresDone) return;
  const data = await getJSON(`${API}/figures`);
  const note = document.getElementById("figures-note");
  const box = document.getElementById("figures");
  if (data.state === "working") { note.textContent = "labctl analyze is making the figures…"; return; }
  state.figuresDone = true;
  if (data.state !== "ready") { note.textContent = data.message; return; }
  note.textContent = data.figures.length ? "from labctl analyze" : "no figure applies to this run";
  box.replaceChildren();
  for (const f of data.figures) {
    const fig = el("figure");
    fig.appendChild(el("img", { src: `${API}/figure/${encodeURIComponent(f)}`, alt: f }));
    fig.appendChild(el("figcaption", {}, f.replace(/\.png$/, "").replace(/_/g, " ")));
    box.appendChild(fig);
  }
}

function showError(e) {
  const box = document.getElementById("run-error");
  box.textContent = `cannot read this run: ${e.message}`;
  box.hidden = false;
}

document.addEventListener("DOMContentLoaded", () => {
  initPlots();
  document.getElementById("figures-note").textContent = "made once the run has ended";
  for (const b of document.querySelectorAll("#controls button")) {
    b.addEventListener("click", () => sendControl(b.dataset.action));
  }
  const loop = (ms, fn, liveOnly) => {
    const tick = async () => {
      let wait = liveOnly && !state.live ? Math.max(ms, 5000) : ms;
      try { await fn(); } catch (e) { showError(e); wait = Math.max(wait, 2000); }
      setTimeout(tick, wait);
    };
    tick();
  };
  loop(META_MS, loadMeta, true);
  loop(ROWS_MS, loadRows, true);
  loop(EVENTS_MS, loadEvents, true);
});
