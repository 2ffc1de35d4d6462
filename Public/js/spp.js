// The Signal propagation view: GET /diagnostics/spp for a served model, POST for the paper's
// designs at initialization (several runs overlaid), shown as the server's three-panel SVG.
import { busy, svg } from "./api.js";
import { show } from "./charts.js";

const runs = [];

export function setUp() {
  const served = document.getElementById("spp-served-form");
  const design = document.getElementById("spp-design-form");
  const status = document.getElementById("spp-status");
  const chart = document.getElementById("spp-chart");

  served.addEventListener("submit", (event) => {
    event.preventDefault();
    const query = new URLSearchParams({ model: served.model.value, input: served.input.value,
                                        batch: served.batch.value, seed: served.seed.value, format: "svg" });
    busy(served.querySelector("button[type=submit]"), status, "measuring…",
         async () => show(chart, await svg(`/diagnostics/spp?${query}`)));
  });

  const family = () => design.family.value;
  const toggleFamily = () => {
    for (const el of design.querySelectorAll(".nf")) el.hidden = family() !== "nf_resnet";
    for (const el of design.querySelectorAll(".preact")) el.hidden = family() !== "preact_resnet";
  };
  design.family.addEventListener("change", toggleFamily);
  toggleFamily();

  document.getElementById("spp-add").addEventListener("click", () => {
    runs.push(currentDesign(design));
    describeRuns();
  });
  design.addEventListener("submit", (event) => {
    event.preventDefault();
    const list = [...runs.splice(0), currentDesign(design)];
    describeRuns();
    busy(design.querySelector("button[type=submit]"), status, `building and measuring ${list.length} network(s)…`,
         async () => show(chart, await svg("/diagnostics/spp", { method: "POST", body: JSON.stringify(list) })));
  });
}

function currentDesign(form) {
  const architecture = {
    family: form.family.value,
    depths: form.depths.value.split(/[ ,]+/).filter(Boolean).map(Number),
    width: Number(form.width.value),
  };
  if (architecture.family === "preact_resnet") {
    architecture.order = form.order.value;
  } else {
    architecture.alpha = Number(form.alpha.value);
    architecture.weight_standardization = form.ws.checked;
    architecture.activation = form.activation.value;
  }
  return { architecture, input: { source: "gaussian", batch: Number(form.batch.value), size: Number(form.size.value), seed: 0 } };
}

function describeRuns() {
  document.getElementById("spp-runs").textContent = runs.length
    ? `To overlay: ${runs.map((r) => r.architecture.order || `nf_resnet${r.architecture.weight_standardization ? "" : " (no WS)"}`).join(", ")}, and the form's design when you press Plot`
    : "";
}
