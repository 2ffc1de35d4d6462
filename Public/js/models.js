// The Models view, and the model and dataset lists the other views choose from.
import { json } from "./api.js";

const number = new Intl.NumberFormat("en");

export async function loadModels() {
  const { models } = await json("/models");
  const body = document.querySelector("#model-table tbody");
  body.replaceChildren(...models.map(row));
  const ready = models.filter((m) => m.status === "ready");
  fill(document.querySelectorAll(".model-select"), ready.map((m) => m.name));
  fill(document.querySelectorAll(".bn-select"), ready.filter((m) => m.batchnorm_statistics).map((m) => m.name));
  return models;
}

function row(model) {
  const tr = document.createElement("tr");
  const cell = (text, className) => {
    const td = document.createElement("td");
    td.textContent = text ?? "";
    if (className) td.className = className;
    tr.append(td);
    return td;
  };
  cell(model.name);
  cell(model.status, `status-${model.status}`);
  if (model.error) {
    const td = cell(model.error, "failed");
    td.colSpan = 10;
    return tr;
  }
  cell(model.architecture);
  cell(model.normalization);
  cell(model.input_size ? model.input_size.join("×") : "");
  cell(model.parameters != null ? number.format(model.parameters) : "");
  cell(model.flops != null ? (model.flops / 1e9).toFixed(3) : "");
  cell(model.batchnorm_statistics ?? (model.status === "ready" ? "—" : ""));
  const serving = model.serving;
  cell(serving ? `${serving.priority} · ${serving.latency_target_ms} ms` : "", "number");
  const times = (t) => (t ? `${t.p50.toFixed(1)} / ${t.p99.toFixed(1)}` : model.status === "ready" ? "—" : "");
  cell(times(model.timing?.queue_ms), "number queue-time");
  cell(times(model.timing?.pass_ms), "number pass-time");
  cell(serving?.precision ?? "", "precision");
  return tr;
}

export async function loadDatasets() {
  const { datasets } = await json("/datasets");
  fill(document.querySelectorAll(".dataset-select"), datasets.map((d) => d.name));
  for (const select of document.querySelectorAll(".input-select")) {
    select.replaceChildren(new Option("Gaussian noise", "gaussian"),
      ...datasets.map((d) => new Option(`${d.name} (${d.images} images)`, `dataset:${d.name}`)));
  }
}

/// Fills each select with `names`, keeping its choice (and its "(none)" first option if optional).
function fill(selects, names) {
  for (const select of selects) {
    const chosen = select.value;
    const keep = select.classList.contains("optional") ? [new Option("(none)", "")] : [];
    select.replaceChildren(...keep, ...names.map((name) => new Option(name, name)));
    if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
  }
}
