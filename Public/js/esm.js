// The Estimation shift view: per-layer esm_mean and esm_var of one or two models on a dataset,
// a live view that follows the traffic, and (with the admin token) AdaBN recalibration and restore.
import { busy, json, svg } from "./api.js";
import { show } from "./charts.js";
import { loadModels } from "./models.js";

let liveTimer = null;

export function setUp() {
  const form = document.getElementById("esm-form");
  const admin = document.getElementById("esm-admin");
  const status = document.getElementById("esm-status");
  const chart = document.getElementById("esm-chart");
  const models = () => [form.model.value, form.other.value].filter(Boolean);

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    for (const model of models()) query.append("model", model);
    query.set("dataset", form.dataset.value);
    if (form.limit.value) query.set("limit", form.limit.value);
    query.set("format", "svg");
    busy(form.querySelector("button"), status, `measuring over ${form.limit.value || "all"} images…`,
         async () => show(chart, await svg(`/diagnostics/esm?${query}`)));
  });

  form.live.addEventListener("change", () => {
    clearInterval(liveTimer);
    liveTimer = null;
    if (!form.live.checked) { status.textContent = ""; return; }
    const refresh = async () => {
      try {
        const query = new URLSearchParams();
        for (const model of models()) query.append("model", model);
        query.set("source", "live");
        const report = await json(`/diagnostics/esm?${query}`);
        const reports = report.runs || [report];
        status.textContent = `live: ${reports.map((r) => `${r.model} ${r.images} images`).join(", ")} (refreshed every 3 s)`;
        query.set("format", "svg");
        show(chart, await svg(`/diagnostics/esm?${query}`));
      } catch (error) {
        status.textContent = `live: ${error.message}`;
      }
    };
    refresh();
    liveTimer = setInterval(refresh, 3000);
  });

  const auth = () => ({ Authorization: `Bearer ${admin.token.value}` });
  admin.addEventListener("submit", (event) => {
    event.preventDefault();
    const query = new URLSearchParams({ dataset: form.dataset.value });
    if (form.limit.value) query.set("limit", form.limit.value);
    busy(admin.querySelector("button[type=submit]"), status, "recalibrating layer by layer…", async () => {
      const result = await json(`/models/${encodeURIComponent(form.model.value)}/recalibrate?${query}`, { method: "POST", headers: auth() });
      showRecalibration(result);
      await loadModels();
    });
  });
  document.getElementById("esm-restore").addEventListener("click", (event) => {
    busy(event.currentTarget, status, "restoring…", async () => {
      const result = await json(`/models/${encodeURIComponent(form.model.value)}/restore`, { method: "POST", headers: auth() });
      document.getElementById("esm-recalibration").textContent = `${result.model}: statistics in use: ${result.statistics}`;
      await loadModels();
    });
  });
}

function showRecalibration(result) {
  const max = (key) => Math.max(...result.layers.map((l) => l[key] ?? 0));
  const table = document.createElement("table");
  const rows = [
    ["", "before", "after"],
    ["top-1", fmt(result.top1_before), fmt(result.top1_after)],
    ["largest esm_mean", fmt(max("esm_mean_before")), fmt(max("esm_mean_after"))],
    ["largest esm_var", fmt(max("esm_var_before")), fmt(max("esm_var_after"))],
  ];
  for (const [i, cells] of rows.entries()) {
    const tr = table.insertRow();
    for (const text of cells) {
      const cell = document.createElement(i === 0 ? "th" : "td");
      cell.textContent = text;
      tr.append(cell);
    }
  }
  const caption = table.createCaption();
  caption.textContent = `${result.model}: ${result.statistics}`;
  document.getElementById("esm-recalibration").replaceChildren(table);
}

function fmt(value) {
  if (value == null) return "—";
  return Math.abs(value) < 1e-3 && value !== 0 ? value.toExponential(2) : value.toFixed(4);
}
