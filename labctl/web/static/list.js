// labctl serve: the run catalog page.
"use strict";

let lastRuns = null;  // the runs last shown (null: none yet)

function renderRuns() {
  const wanted = document.getElementById("status-filter").value;
  const body = document.querySelector("#runs tbody");
  body.replaceChildren();
  const runs = lastRuns || [];
  const shown = runs.filter((r) => !wanted || r.status === wanted).slice().reverse();
  for (const r of shown) {
    const tr = el("tr", { "data-name": r.name, "data-status": r.status });
    const first = el("td");
    if (r.status === "damaged") {
      first.textContent = r.name;
    } else {
      const a = el("a", { class: "run-link", href: "/run/" + encodeURIComponent(r.name) }, r.name);
      first.appendChild(a);
    }
    if (r.owned) first.appendChild(el("span", { class: "badge owned" }, "this server"));
    tr.appendChild(first);
    const st = el("td");
    st.appendChild(badge(r.status));
    if (r.reason) st.title = r.reason;
    tr.appendChild(st);
    cell(tr, r.protocol || "–");
    cell(tr, formatStart(r.start));
    cell(tr, formatDuration(r.duration_s), "num");
    cell(tr, r.tasks_total ? `${r.tasks_done}/${r.tasks_total}` : "–", "num");
    cell(tr, formatSI(r.error, "V²"), "num");
    cell(tr, formatSI(r.error_normalized), "num");
    cell(tr, formatSI(r.power_free, "W"), "num");
    body.appendChild(tr);
  }
  document.getElementById("empty").hidden = runs.length > 0;
  const counts = {};
  for (const r of runs) counts[r.status] = (counts[r.status] || 0) + 1;
  document.getElementById("counts").textContent = `${runs.length} runs` +
    (runs.length ? " — " + Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(", ") : "");
}

async function refresh() {
  const errorBox = document.getElementById("list-error");
  try {
    const data = await getJSON("/api/runs");
    document.getElementById("folder").textContent = data.runs_dir;
    errorBox.hidden = true;
    if (JSON.stringify(data.runs) !== JSON.stringify(lastRuns)) {
      lastRuns = data.runs;
      renderRuns();
    }
  } catch (e) {
    errorBox.textContent = "cannot read the run list: " + e.message;
    errorBox.hidden = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("status-filter").addEventListener("change", renderRuns);
  every(3000, refresh);
});
